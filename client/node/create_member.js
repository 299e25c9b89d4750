#!/usr/bin/env node
// Creates an MX member through mxgate, from Node: one CreateMember call with
// @grpc/grpc-js, the stubs loaded at run time from proto/ by
// @grpc/proto-loader. Prints the response as JSON on stdout; on an error,
// the gRPC code and message and the decoded google.rpc details on stderr
// (see rich_errors.js).
//
//   node client/node/create_member.js --target=127.0.0.1:50051 \
//       --user=demo-user --institution=mxbank \
//       --credential=CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d=mxuser \
//       --credential=CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e=any-password \
//       --product=transactions
//
// Exit status: 0 on success, 1 on an RPC error, 2 on a usage error.
// Needs the repository's dev dependencies (npm ci at its root).
'use strict';

const path = require('path');
const { parseArgs } = require('util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { formatError, GOOGLEAPIS_PROTO_DIR } = require('./rich_errors');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');

function usage(message) {
  process.stderr.write(`create_member.js: ${message}\n` +
    'usage: create_member.js [--target=HOST:PORT] --user=USER --institution=CODE\n' +
    '         [--credential=GUID=VALUE]... [--product=PRODUCT]... [--timeout=SECONDS]\n');
  process.exit(2);
}

function parseFlags() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        target: { type: 'string', default: '127.0.0.1:50051' },
        user: { type: 'string' },
        institution: { type: 'string' },
        credential: { type: 'string', multiple: true, default: [] },
        product: { type: 'string', multiple: true, default: [] },
        timeout: { type: 'string', default: '30' },
      },
    }));
  } catch (error) {
    usage(error.message);
  }
  if (!values.user) usage('--user is required');
  if (!values.institution) usage('--institution is required');
  return values;
}

function main() {
  const flags = parseFlags();
  const definition = protoLoader.loadSync('mx/platform/v1/member_service.proto', {
    includeDirs: [PROTO_DIR, GOOGLEAPIS_PROTO_DIR],
    keepCase: true, // MX's JSON names, as in the .proto
    enums: String,
    longs: String,
  });
  const { mx } = grpc.loadPackageDefinition(definition);
  const products = definition['mx.platform.v1.Product'].type.value.map((v) => v.name);

  const request = {
    user_identifier: flags.user,
    member: {
      institution_code: flags.institution,
      credentials: flags.credential.map((credential) => {
        const at = credential.indexOf('=');
        if (at < 0) usage(`--credential wants GUID=VALUE, got '${credential}'`);
        return { guid: credential.slice(0, at), value: credential.slice(at + 1) };
      }),
    },
  };
  if (flags.product.length) {
    request.data_request = {
      products: flags.product.map((product) => {
        const name = `PRODUCT_${product.toUpperCase()}`; // transactions -> PRODUCT_TRANSACTIONS
        if (!products.includes(name)) usage(`--product: no product '${product}'`);
        return name;
      }),
    };
  }

  const client = new mx.platform.v1.MemberService(flags.target,
    grpc.credentials.createInsecure());
  const deadline = new Date(Date.now() + Number(flags.timeout) * 1000);
  client.CreateMember(request, { deadline }, (error, response) => {
    client.close();
    if (error) {
      process.stderr.write(formatError(error).join('\n') + '\n');
      process.exitCode = 1;
      return;
    }
    process.stdout.write(JSON.stringify(response, null, 1) + '\n');
  });
}

main();
