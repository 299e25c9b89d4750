#!/usr/bin/env node
// Calls mxgate knowing nothing but its address: the service, its methods and
// their message types come from gRPC server reflection (mxgate serves
// grpc.reflection.v1alpha, grpc-js-reflection-client's default), no .proto
// file is read. The request is JSON with the .proto field names; the response
// prints as JSON on stdout, the methods found on stderr.
//
//   node client/node/reflect_call.js --target=127.0.0.1:50051 \
//       ListInstitutionCredentials '{"institution_code":"mxbank"}'
//
// Exit status: 0 on success, 1 on an RPC or reflection error, 2 on a usage
// error.
'use strict';

const { parseArgs } = require('util');
const grpc = require('@grpc/grpc-js');
const { GrpcReflection } = require('grpc-js-reflection-client');

const SERVICE = 'mx.platform.v1.MemberService';

function usage(message) {
  process.stderr.write(`reflect_call.js: ${message}\n` +
    'usage: reflect_call.js [--target=HOST:PORT] METHOD [REQUEST_JSON]\n');
  process.exit(2);
}

function codeName(code) {
  return Object.keys(grpc.status).find((name) => grpc.status[name] === code) || String(code);
}

async function main() {
  let parsed;
  try {
    parsed = parseArgs({
      options: { target: { type: 'string', default: '127.0.0.1:50051' } },
      allowPositionals: true,
    });
  } catch (error) {
    usage(error.message);
  }
  const [method, json = '{}'] = parsed.positionals;
  if (!method || parsed.positionals.length > 2) usage('wants METHOD and at most one REQUEST_JSON');
  let request;
  try {
    request = JSON.parse(json);
  } catch (error) {
    usage(`REQUEST_JSON: ${error.message}`);
  }
  const target = parsed.values.target;
  const credentials = grpc.credentials.createInsecure();

  // 1. Reflection: is the service there, and what does it look like?
  const reflection = new GrpcReflection(target, credentials);
  const services = await reflection.listServices();
  if (!services.includes(SERVICE)) {
    throw new Error(`${target} does not serve ${SERVICE} (it serves ${services.join(', ')})`);
  }
  const descriptor = await reflection.getDescriptorBySymbol(SERVICE);
  const packageObject = descriptor.getPackageObject({ keepCase: true, enums: String, longs: String });
  const Service = SERVICE.split('.').reduce((object, name) => object[name], packageObject);
  const methods = Object.keys(Service.service);
  process.stderr.write(`${SERVICE} (from reflection): ${methods.join(', ')}\n`);
  if (!methods.includes(method)) usage(`${SERVICE} has no method ${method}`);
  if (Service.service[method].responseStream) usage(`${method} streams; this example makes unary calls`);

  // 2. The call, with the client reflection built.
  const client = new Service(target, credentials);
  const deadline = new Date(Date.now() + 30 * 1000);
  try {
    const response = await new Promise((resolve, reject) => {
      client[method](request, { deadline }, (error, reply) => (error ? reject(error) : resolve(reply)));
    });
    process.stdout.write(JSON.stringify(response, null, 1) + '\n');
  } catch (error) {
    process.stderr.write(`${codeName(error.code)}: ${error.details}\n`);
    process.exitCode = 1;
  } finally {
    client.close();
  }
}

main().catch((error) => {
  process.stderr.write(`reflect_call.js: ${error.message}\n`);
  process.exit(1);
});
