// Runs client/node/create_member.js and reflect_call.js against a live
// mxgate + mx-sandbox (real binaries, loopback ports chosen at run time) and
// checks their exact output: a created member, a NOT_FOUND with its
// ErrorInfo, an INVALID_ARGUMENT with its BadRequest, and calls built from
// server reflection alone (reflect_call.js run from a folder with no .proto).
//
// Usage: node tests/client/node_client_test.js SOURCE_DIR BIN_DIR
// (node:test: runs with plain `node`; exits non-zero when a test fails.)
'use strict';

const assert = require('node:assert/strict');
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { test, before, after } = require('node:test');

const [SOURCE_DIR, BIN_DIR] = process.argv.slice(2);
const CREATE_MEMBER = path.join(SOURCE_DIR, 'client', 'node', 'create_member.js');
const REFLECT_CALL = path.join(SOURCE_DIR, 'client', 'node', 'reflect_call.js');
const LOGIN = 'CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d';
const PASSWORD = 'CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e';
const MEMBER_GUID = /^MBR-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const started = [];
function stopAll() {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
// Whatever happens (a failed test, an exception, Ctrl-C), no process is left.
process.on('exit', stopAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => { stopAll(); process.exit(1); });
}

// Starts a binary that prints 'listening on HOST:PORT'; resolves its address.
function start(argv, env) {
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'ignore'] });
  started.push(child);
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      if (line.startsWith('listening on ')) resolve(line.slice('listening on '.length).trim());
      else reject(new Error(`${argv[0]} did not start: ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`${argv[0]} exited with ${code}`)));
    child.once('error', reject);
  });
}

function run(script, args, options = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { timeout: 60000, ...options },
      (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }));
  });
}

let address;
before(async () => {
  const sandbox = await start([path.join(BIN_DIR, 'mx-sandbox'), '--listen=127.0.0.1:0']);
  address = await start(
    [path.join(BIN_DIR, 'mxgate'), '--listen=127.0.0.1:0', `--mx_base_url=http://${sandbox}`],
    { ...process.env, MX_CLIENT_ID: 'sandbox-client-id', MX_API_KEY: 'sandbox-api-key' });
});
after(stopAll);

test('create_member.js prints the created member', async () => {
  const result = await run(CREATE_MEMBER, [`--target=${address}`, '--user=demo-user',
    '--institution=mxbank', `--credential=${LOGIN}=mxuser`,
    `--credential=${PASSWORD}=any-password`, '--product=transactions']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
  const response = JSON.parse(result.stdout);
  assert.equal(response.http_status, 202);
  assert.equal(response.outcome, 'CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED');
  assert.match(response.member.guid, MEMBER_GUID);
  assert.equal(response.member.user_id, 'demo-user');
  assert.equal(response.member.connection_status, 'CONNECTION_STATUS_CREATED');
});

test('create_member.js decodes NOT_FOUND and its ErrorInfo', async () => {
  const result = await run(CREATE_MEMBER, [`--target=${address}`, '--user=nobody',
    '--institution=mxbank', `--credential=${LOGIN}=mxuser`,
    `--credential=${PASSWORD}=any-password`]);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr,
    'NOT_FOUND: MX answered HTTP 404: User not found.\n' +
    '  ErrorInfo: reason=UPSTREAM_NOT_FOUND domain=mxgate\n' +
    '    http_status: 404\n' +
    '    mx_error_message: User not found.\n');
});

test('create_member.js decodes INVALID_ARGUMENT and its BadRequest', async () => {
  const result = await run(CREATE_MEMBER,
    [`--target=${address}`, '--user=demo-user', '--institution=mxbank']);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr,
    'INVALID_ARGUMENT: invalid CreateMemberRequest: member.credentials: ' +
    'at least one credential required for a non-OAuth member\n' +
    '  ErrorInfo: reason=INVALID_REQUEST domain=mxgate\n' +
    '  BadRequest:\n' +
    '    member.credentials: at least one credential required for a non-OAuth member\n');
});

test('create_member.js exits 2 on a usage error', async () => {
  const result = await run(CREATE_MEMBER, [`--target=${address}`, '--institution=mxbank']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--user is required/);
});

// reflect_call.js copied alone to an empty folder: the only way it can
// learn MemberService is reflection. Its packages come through NODE_PATH.
function reflectOnly(args) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflect-only-'));
  const script = path.join(dir, 'reflect_call.js');
  fs.copyFileSync(REFLECT_CALL, script);
  return run(script, [`--target=${address}`, ...args], {
    cwd: dir,
    env: { ...process.env, NODE_PATH: path.join(SOURCE_DIR, 'node_modules') },
  }).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

const REFLECTED = 'mx.platform.v1.MemberService (from reflection): CreateMember, ' +
  'ListInstitutionCredentials, GetMember, GetMemberStatus, ResumeMember, DeleteMember, ' +
  'WatchMemberStatus\n';

test('reflect_call.js lists credentials from reflection alone', async () => {
  const result = await reflectOnly(
    ['ListInstitutionCredentials', '{"institution_code":"mxbank"}']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, REFLECTED);
  const response = JSON.parse(result.stdout);
  assert.deepEqual(
    response.credentials.map((c) => [c.guid, c.field_name, c.field_type]),
    [[LOGIN, 'LOGIN', 'TEXT'], [PASSWORD, 'PASSWORD', 'PASSWORD']]);
  assert.equal(response.pagination.total_entries, 2);
});

test('reflect_call.js creates a member from reflection alone', async () => {
  const request = {
    user_identifier: 'demo-user',
    member: {
      institution_code: 'mxbank',
      credentials: [{ guid: LOGIN, value: 'mxuser' }, { guid: PASSWORD, value: 'any-password' }],
    },
  };
  const result = await reflectOnly(['CreateMember', JSON.stringify(request)]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, REFLECTED);
  const response = JSON.parse(result.stdout);
  assert.equal(response.http_status, 202);
  assert.match(response.member.guid, MEMBER_GUID);
});

test('reflect_call.js prints the code of an error', async () => {
  const result = await reflectOnly(['CreateMember', '{"user_identifier":"nobody"}']);
  assert.equal(result.code, 1);
  assert.equal(result.stderr, REFLECTED + 'INVALID_ARGUMENT: invalid CreateMemberRequest: member: required\n');
});
