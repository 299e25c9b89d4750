// Decodes the google.rpc details mxgate attaches to every error: the
// `grpc-status-details-bin` trailer is a serialized google.rpc.Status whose
// `details` are Any messages (ErrorInfo always, BadRequest for bad input,
// RetryInfo when MX asks to wait). Prints the same lines as
// client/python/create_member.py.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protobuf = require('protobufjs');

// Debian's golang-github-gogo-googleapis-dev ships google/rpc/*.proto here.
const GOOGLEAPIS_PROTO_DIR =
  process.env.GOOGLEAPIS_PROTO_DIR || '/usr/share/gocode/src/github.com/gogo/googleapis';

const rpcRoot = new protobuf.Root().loadSync(
  ['status.proto', 'error_details.proto'].map(
    (file) => path.join(GOOGLEAPIS_PROTO_DIR, 'google', 'rpc', file)),
  { keepCase: true });
const Status = rpcRoot.lookupType('google.rpc.Status');

function codeName(code) {
  return Object.keys(grpc.status).find((name) => grpc.status[name] === code) || String(code);
}

// The lines describing a failed call: code, message, then each detail.
function formatError(error) {
  const lines = [`${codeName(error.code)}: ${error.details}`];
  const packed = error.metadata ? error.metadata.get('grpc-status-details-bin') : [];
  if (packed.length === 0) return lines;
  const status = Status.decode(packed[0]);
  for (const any of status.details) {
    const typeName = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const type = rpcRoot.lookup(typeName);
    if (!(type instanceof protobuf.Type)) {
      lines.push(`  ${any.type_url}`);
      continue;
    }
    const detail = type.toObject(type.decode(any.value), { longs: Number, defaults: true });
    if (typeName === 'google.rpc.ErrorInfo') {
      lines.push(`  ErrorInfo: reason=${detail.reason} domain=${detail.domain}`);
      for (const key of Object.keys(detail.metadata).sort()) {
        lines.push(`    ${key}: ${detail.metadata[key]}`);
      }
    } else if (typeName === 'google.rpc.BadRequest') {
      lines.push('  BadRequest:');
      for (const violation of detail.field_violations) {
        lines.push(`    ${violation.field}: ${violation.description}`);
      }
    } else if (typeName === 'google.rpc.RetryInfo') {
      const delay = detail.retry_delay || { seconds: 0, nanos: 0 };
      lines.push(`  RetryInfo: retry in ${delay.seconds + delay.nanos / 1e9}s`);
    } else {
      lines.push(`  ${any.type_url}`);
    }
  }
  return lines;
}

module.exports = { formatError, codeName, GOOGLEAPIS_PROTO_DIR };
