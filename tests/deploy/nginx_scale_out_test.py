#!/usr/bin/python3
"""nginx (deploy/nginx) balancing four live mxgate replicas under load: one
retired as deploy/README.md says, one SIGTERMed while still in rotation, one
SIGKILLed.

One mx-sandbox, four mxgate replicas and nginx (a master process and its
worker, as in production, so that it can reload) run on loopback ports
chosen at run time; nginx runs the shipped deploy/nginx/mxgate_grpc_proxy.conf.
A Python client with the shipped deploy/grpc_service_config.json sends
CreateMember calls from WORKERS threads for RUN_SECONDS, each with a member
id of its own (MX answers 409 to a second create with one id, so a create
sent twice cannot pass unseen). Then, in turn:

- replica 1 is retired by deploy/README.md's procedure: marked `down` in
  nginx's upstream, `nginx -s reload`, wait until nginx's old workers have
  exited, then SIGTERM. No call may fail, none may reach it once the old
  workers are gone, and it drains with no call in flight and exits 0.
- replica 3 gets SIGTERM while nginx still sends it calls (the naive way).
  Its DRAINING answers are retried, but a call nginx sends it in the instant
  its gRPC server shuts down is lost (in some runs, not most): CANCELLED by
  that server, or UNKNOWN from nginx when the connection closes under it.
  That figure is reported, and only what always holds is required: each
  such failure is one of those two, from replica 3 (neither is retried),
  never UNAVAILABLE once a replica got the call.
- replica 2 gets SIGKILL: the only failures are calls in flight at that
  moment, ended UNKNOWN (never UNAVAILABLE, which the client would retry).

The run prints, for each window (a call belongs to the window in which it
ended), calls made, OK, failed by code, retried and duplicated. In every
window no create may reach MX twice, and every member MX created must be an
OK call or one of the failed ones.

The sandbox creates the member, then waits SANDBOX_LATENCY_MS before it
answers, so calls are in flight at every signal, and a call cut by the
SIGKILL has always made MX act: the case where a retry would duplicate.

Usage: nginx_scale_out_test.py SOURCE_DIR BIN_DIR PYTHON_STUBS_DIR
"""
import base64
import collections
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from live_process import popen, start, stderr_of, stop  # noqa: E402

SOURCE_DIR, BIN_DIR, STUBS_DIR = sys.argv[1:4]
sys.path.insert(0, os.path.abspath(STUBS_DIR))
import grpc  # noqa: E402
from mx.platform.v1 import member_service_pb2, member_service_pb2_grpc  # noqa: E402

NGINX = "/usr/sbin/nginx"
NGINX_DIR = os.path.join(SOURCE_DIR, "deploy", "nginx")
PROXY_CONF = os.path.join(NGINX_DIR, "mxgate_grpc_proxy.conf")
EXAMPLE_CONF = os.path.join(NGINX_DIR, "mxgate.conf")
SERVICE_CONFIG = os.path.join(SOURCE_DIR, "deploy", "grpc_service_config.json")
CLIENT_ID, API_KEY = "sandbox-client-id", "sandbox-api-key"
LOGIN = "CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
PASSWORD = "CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e"

REPLICAS = 4
WORKERS = 8
RUN_SECONDS = 9.0
RETIRE_AT = 2.0  # replica 1: out of nginx's rotation, then SIGTERM
NAIVE_SIGTERM_AT = 4.5  # replica 3: SIGTERM while nginx still sends it calls
SIGKILL_AT = 7.0  # replica 2
SANDBOX_LATENCY_MS = 50
DRAIN_TIMEOUT_MS = 5000


def free_port():
    # Another process may take the port between close() and nginx's bind: a
    # small race, taken because nginx cannot listen on port 0 and report it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shipped_upstream_settings():
    """(parameters of each `server` line, the `keepalive` directive) of the
    upstream in mxgate.conf, so that the test's upstream is the shipped one."""
    with open(EXAMPLE_CONF, encoding="utf-8") as conf:
        upstream = re.search(r"upstream mxgate_backends \{(.*?)\n    \}", conf.read(), re.S)[1]
    parameters = set(re.findall(r"^\s*server \S+ ([^;]*);", upstream, re.M))
    if len(parameters) != 1:
        raise AssertionError(f"mxgate.conf's servers differ in parameters: {parameters}")
    return parameters.pop(), re.search(r"^\s*(keepalive \d+;)", upstream, re.M)[1]


def read_file(path):
    with open(path, encoding="utf-8", errors="replace") as file:
        return file.read()


class Nginx:
    """nginx on a loopback port, balancing over `backends` with the shipped
    upstream settings and proxy directives. Its access log has one line per
    call attempt.

    It runs as in production, a master process and a worker, so that it can
    reload its configuration without dropping calls; the master's pid file is
    in `folder`, and the master is sent SIGTERM (it then stops its worker) if
    the test dies."""

    def __init__(self, folder, backends):
        self.folder = folder
        # The worker runs as nobody, and must reach its temp paths in it.
        os.chmod(folder, 0o711)
        self.backends = list(backends)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.conf = os.path.join(folder, "nginx.conf")
        self.access_log = os.path.join(folder, "access.log")
        self.error_log = os.path.join(folder, "error.log")
        self.write_conf(down=())
        self.proc = popen([NGINX, *self.options(), "-g", "daemon off;"],
                          death_signal=signal.SIGTERM,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}: "
                                   f"{read_file(self.error_log)}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                if self.workers():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not serve: {read_file(self.error_log)}")
            time.sleep(0.05)

    def options(self):
        """The command line options of every nginx command on this instance."""
        return ["-p", self.folder, "-e", self.error_log, "-c", self.conf]

    def write_conf(self, down):
        """Writes nginx.conf; the backends in `down` are marked `down`."""
        server_parameters, keepalive = shipped_upstream_settings()
        servers = "".join(
            f"    server {backend} {server_parameters}{' down' if backend in down else ''};\n"
            for backend in self.backends)
        temp_paths = "".join(f"  {kind}_temp_path {self.folder}/{kind};\n"
                             for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(self.conf, "w", encoding="utf-8") as out:
            out.write(
                f"pid {self.folder}/nginx.pid;\n"
                # notice: the log shows each reload and the workers it ends.
                f"error_log {self.error_log} notice;\n"
                f"events {{ worker_connections 1024; }}\n"
                f"http {{\n{temp_paths}"
                f"  log_format attempts '$msec $request_uri $status "
                f"status_in_headers=$sent_http_grpc_status "
                f"status_in_trailers=$upstream_trailer_grpc_status "
                f"upstreams=\"$upstream_addr\" sent=\"$upstream_bytes_sent\" "
                f"id=$http_x_request_id previous_attempts=$http_grpc_previous_rpc_attempts';\n"
                f"  access_log {self.access_log} attempts;\n"
                f"  upstream mxgate_backends {{\n{servers}    {keepalive}\n  }}\n"
                f"  server {{\n    listen {self.address} http2;\n    include {PROXY_CONF};\n  }}\n"
                f"}}\n")

    def workers(self):
        """The pids of the master's live children: its workers (old ones too,
        while they finish their calls after a reload)."""
        pids = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:  # it ended meanwhile
                continue
            if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                pids.add(int(entry))
        return pids

    def take_out_of_rotation(self, backend, timeout=10):
        """deploy/README.md's procedure to retire a replica: mark it `down`,
        `nginx -s reload`, then wait until every worker that was running
        before the reload has exited. Those workers still use the old
        upstream, and keep serving the calls of the client connections they
        hold (telling the clients with GOAWAY to open new ones) until those
        end; the new workers never send a call to `backend`."""
        old_workers = self.workers()
        self.write_conf(down={backend})
        result = subprocess.run([NGINX, *self.options(), "-s", "reload"],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"nginx -s reload failed: {result.stderr}")
        deadline = time.monotonic() + timeout
        while True:
            workers = self.workers()
            if workers and not workers & old_workers:
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx's old workers {old_workers} did not give way to "
                                   f"new ones ({workers}): {read_file(self.error_log)[-3000:]}")
            time.sleep(0.01)

    def attempts(self):
        """The access log's lines, one per call attempt."""
        return read_file(self.access_log).splitlines()

    def stop(self):
        """SIGQUIT (graceful: the workers finish their calls and flush the
        access log), then SIGTERM, then SIGKILL to the master and workers."""
        if self.proc.poll() is not None:
            return
        for sig, timeout in ((signal.SIGQUIT, 10), (signal.SIGTERM, 5)):
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                pass
        for pid in self.workers():  # the master lives: they are its children
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.kill()
        self.proc.wait()


def channel_to(address, retries=True):
    """A channel with the shipped service config, as every client should use."""
    options = [("grpc.service_config", read_file(SERVICE_CONFIG)),
               ("grpc.enable_retries", 1 if retries else 0)]
    return grpc.insecure_channel(address, options=options)


def create_member_request(member_id):
    request = member_service_pb2.CreateMemberRequest(user_identifier="demo-user")
    request.member.institution_code = "mxbank"
    request.member.id = member_id
    request.member.credentials.add(guid=LOGIN, value="mxuser")
    request.member.credentials.add(guid=PASSWORD, value="any-password")
    return request


def sandbox_get(sandbox_address, path):
    """(HTTP status, JSON body or None) of an authenticated GET to the sandbox."""
    request = urllib.request.Request(f"http://{sandbox_address}{path}", headers={
        "Accept": "application/json", "Accept-Version": "v20250224",
        "Authorization": "Basic " + base64.b64encode(f"{CLIENT_ID}:{API_KEY}".encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None


class NginxOwnAnswers(unittest.TestCase):
    """The gRPC status nginx answers when no replica answers, and the example."""

    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="mxgate-nginx-")
        self.addCleanup(folder.cleanup)
        self.folder = folder.name

    def call_through_nginx(self, backends, retries):
        nginx = Nginx(self.folder, backends)
        self.addCleanup(nginx.stop)
        with channel_to(nginx.address, retries=retries) as channel:
            stub = member_service_pb2_grpc.MemberServiceStub(channel)
            with self.assertRaises(grpc.RpcError) as raised:
                stub.CreateMember(create_member_request("error-test"), timeout=10)
        nginx.stop()
        return raised.exception, nginx.attempts()

    def test_no_replica_reachable_is_unavailable_and_retried(self):
        error, attempts = self.call_through_nginx(
            [f"127.0.0.1:{free_port()}" for _ in range(3)], retries=True)
        self.assertEqual(error.code(), grpc.StatusCode.UNAVAILABLE, error.details())
        self.assertEqual(error.details(), "nginx: no mxgate replica reachable; nothing was sent")
        max_attempts = json.loads(read_file(SERVICE_CONFIG))[
            "methodConfig"][0]["retryPolicy"]["maxAttempts"]
        self.assertEqual(len(attempts), max_attempts, "\n".join(attempts))

    def test_replica_failing_after_the_call_was_sent_is_unknown(self):
        # Two replicas that read the call, then drop the connection, as if
        # killed mid-call: nginx must not pass the call on to the second,
        # and the client must not retry it, so it is not UNAVAILABLE.
        received = []

        def drop_after_reading(listener):
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                with connection:
                    connection.settimeout(5)
                    data = b""
                    while b"error-test" not in data:  # the request message
                        chunk = connection.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    received.append(data)

        backends = []
        for _ in range(2):
            listener = socket.create_server(("127.0.0.1", 0))
            self.addCleanup(listener.close)
            threading.Thread(target=drop_after_reading, args=(listener,), daemon=True).start()
            backends.append(f"127.0.0.1:{listener.getsockname()[1]}")
        error, attempts = self.call_through_nginx(backends, retries=True)
        self.assertEqual(error.code(), grpc.StatusCode.UNKNOWN, error.details())
        self.assertEqual(error.details(), "nginx: the mxgate replica failed after the call "
                                          "was sent; it may have taken effect")
        self.assertEqual(len(received), 1, "the call was sent again")
        self.assertIn(b"error-test", received[0])
        self.assertEqual(len(attempts), 1, "\n".join(attempts))

    def test_shipped_example_passes_nginx_t(self):
        result = subprocess.run(
            [NGINX, "-t", "-p", self.folder, "-e", os.path.join(self.folder, "error.log"),
             "-c", EXAMPLE_CONF, "-g", f"pid {self.folder}/nginx.pid;"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("test is successful", result.stderr)


Call = collections.namedtuple("Call", "id start end code details")
Window = collections.namedtuple("Window", "name start end")
DRAINING_ANSWER = '"reason":"DRAINING"'  # in mxgate's log line of each refused call
NGINX_FAILED_AFTER_SENDING = ("nginx: the mxgate replica failed after the call was sent; "
                              "it may have taken effect")


class ScaleOut(unittest.TestCase):
    """One run of the scenario; each test checks one of its outcomes."""

    @classmethod
    def setUpClass(cls):
        folder = tempfile.TemporaryDirectory(prefix="mxgate-scale-out-")
        cls.addClassCleanup(folder.cleanup)
        sandbox, sandbox_address = start(
            [os.path.join(BIN_DIR, "mx-sandbox"), "--listen=127.0.0.1:0",
             f"--latency_ms={SANDBOX_LATENCY_MS}"])
        cls.addClassCleanup(stop, sandbox)
        env = dict(os.environ, MX_CLIENT_ID=CLIENT_ID, MX_API_KEY=API_KEY)
        replicas, addresses = [], []
        for _ in range(REPLICAS):
            replica, address = start(
                [os.path.join(BIN_DIR, "mxgate"), "--listen=127.0.0.1:0",
                 f"--mx_base_url=http://{sandbox_address}",
                 f"--drain_timeout_ms={DRAIN_TIMEOUT_MS}"], env)
            cls.addClassCleanup(stop, replica)
            replicas.append(replica)
            addresses.append(address)
        cls.addresses = addresses
        nginx = Nginx(folder.name, addresses)
        cls.addClassCleanup(nginx.stop)

        calls = []
        with channel_to(nginx.address) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            stub = member_service_pb2_grpc.MemberServiceStub(channel)
            numbers = itertools.count(1)
            begin = time.monotonic()
            end = begin + RUN_SECONDS

            def send_calls():
                while time.monotonic() < end:
                    member_id = f"scale-out-{next(numbers)}"
                    started = time.monotonic()
                    try:
                        # As x-request-id, the id ties each attempt in nginx's
                        # and mxgate's logs to its call.
                        stub.CreateMember(create_member_request(member_id),
                                          metadata=[("x-request-id", member_id)])
                        code, details = grpc.StatusCode.OK, ""
                    except grpc.RpcError as error:
                        code, details = error.code(), error.details()
                    calls.append(Call(member_id, started, time.monotonic(), code, details))

            workers = [threading.Thread(target=send_calls, daemon=True) for _ in range(WORKERS)]
            for worker in workers:
                worker.start()
            # Replica 1 is retired as deploy/README.md says: out of nginx's
            # rotation first, then SIGTERM.
            time.sleep(max(0.0, begin + RETIRE_AT - time.monotonic()))
            cls.retire_at = time.monotonic()
            nginx.take_out_of_rotation(addresses[0])
            cls.reloaded_at = time.monotonic()
            cls.reloaded_at_wall = time.time()  # nginx's $msec is wall-clock time
            replicas[0].send_signal(signal.SIGTERM)
            # Replica 3 gets SIGTERM while nginx still sends it calls.
            time.sleep(max(0.0, begin + NAIVE_SIGTERM_AT - time.monotonic()))
            cls.naive_sigterm_at = time.monotonic()
            replicas[2].send_signal(signal.SIGTERM)
            time.sleep(max(0.0, begin + SIGKILL_AT - time.monotonic()))
            cls.sigkill_at = time.monotonic()
            replicas[1].kill()
            # It still reads calls until the kernel has closed its sockets.
            cls.killed_exit = replicas[1].wait(timeout=5)
            cls.died_at = time.monotonic()
            for worker in workers:
                worker.join()
        cls.calls = calls
        cls.drained_exit = replicas[0].wait(timeout=DRAIN_TIMEOUT_MS / 1000 + 5)
        cls.naive_exit = replicas[2].wait(timeout=DRAIN_TIMEOUT_MS / 1000 + 5)
        cls.stats = sandbox_get(sandbox_address, "/_sandbox/stats")[1]
        cls.failed = [call for call in calls if call.code != grpc.StatusCode.OK]
        cls.ok = len(calls) - len(cls.failed)
        cls.failed_but_created = [call.id for call in cls.failed if sandbox_get(
            sandbox_address, f"/users/demo-user/members/{call.id}")[0] == 200]
        nginx.stop()
        cls.attempt_lines = collections.defaultdict(list)
        for line in nginx.attempts():
            cls.attempt_lines[re.search(r" id=(\S*)", line)[1]].append(line)
        cls.replica_logs = [stderr_of(replica) for replica in replicas]
        cls.reload_log = [line for line in read_file(nginx.error_log).splitlines()
                          if "reconfiguring" in line or "worker process" in line]
        # Each call belongs to the window in which it ended.
        inf = float("inf")
        cls.windows = [
            Window("before the signals", -inf, cls.retire_at),
            Window("replica 1 out of rotation, then SIGTERM", cls.retire_at,
                   cls.naive_sigterm_at),
            Window("replica 3 SIGTERM while in rotation (naive)", cls.naive_sigterm_at,
                   cls.sigkill_at),
            Window("replica 2 SIGKILL", cls.sigkill_at, inf)]
        cls.report()

    @classmethod
    def calls_in(cls, window):
        return [call for call in cls.calls if window.start <= call.end < window.end]

    @staticmethod
    def upstreams(line):
        """The replicas nginx tried for one attempt, in order."""
        return re.search(r'upstreams="([^"]*)"', line)[1].split(", ")

    @classmethod
    def report(cls):
        failed_by_code = collections.Counter(call.code.name for call in cls.failed)
        retried = {member_id: lines for member_id, lines in cls.attempt_lines.items()
                   if len(lines) > 1}
        passed_on = sum(len(cls.upstreams(line)) > 1
                        for lines in cls.attempt_lines.values() for line in lines)
        print(f"\ncalls made: {len(cls.calls)}, OK: {cls.ok}, failed: {len(cls.failed)} "
              f"{dict(failed_by_code)}\n"
              f"retried by the client: {len(retried)} calls, "
              f"{sum(len(lines) - 1 for lines in retried.values())} extra attempts; "
              f"attempts nginx passed to another replica: {passed_on}\n"
              f"sandbox: {cls.stats}; failed calls whose member MX created: "
              f"{len(cls.failed_but_created)}\n"
              f"duplicated (creates refused by MX as repeats): "
              f"{cls.stats['requests'] - cls.stats['members_created']}, ALREADY_EXISTS "
              f"answers: {failed_by_code.get('ALREADY_EXISTS', 0)}\n"
              f"replica 1 out of rotation (mark down, nginx -s reload, old workers gone) in "
              f"{(cls.reloaded_at - cls.retire_at) * 1000:.0f} ms, then SIGTERM: exit "
              f"{cls.drained_exit}, DRAINING answers "
              f"{cls.replica_logs[0].count(DRAINING_ANSWER)}\n"
              f"replica 3 SIGTERM in rotation: exit {cls.naive_exit}, DRAINING answers "
              f"{cls.replica_logs[2].count(DRAINING_ANSWER)}\n"
              f"replica 2 SIGKILL: exit {cls.killed_exit}, dead "
              f"{(cls.died_at - cls.sigkill_at) * 1000:.1f} ms after the signal")
        for line in cls.reload_log:
            print(f"  nginx: {line}")
        for number in (0, 2):
            for line in cls.replica_logs[number].splitlines():
                if line.startswith("mxgate: signal") or line.startswith("mxgate: drained"):
                    print(f"  replica {number + 1}: {line}")
        for window in cls.windows:
            calls = cls.calls_in(window)
            failed = [call for call in calls if call.code != grpc.StatusCode.OK]
            codes = collections.Counter(call.code.name for call in failed)
            print(f"window \"{window.name}\": made {len(calls)}, "
                  f"OK {len(calls) - len(failed)}, failed {len(failed)} {dict(codes)} "
                  f"({sum(call.id in cls.failed_but_created for call in failed)} created by "
                  f"MX), retried {sum(call.id in retried for call in calls)}, "
                  f"duplicated (ALREADY_EXISTS) {codes.get('ALREADY_EXISTS', 0)}")
            for call in failed:
                print(f"  failed {call.id}: {call.code.name} \"{call.details}\", in flight "
                      f"{call.start - window.start:+.3f}s to {call.end - window.start:+.3f}s "
                      f"from the window's start")
                for line in cls.attempt_lines.get(call.id, ["(nginx logged no attempt)"]):
                    print(f"    nginx: {line}")
            for call in calls:
                if call.id in retried:
                    print(f"  retried {call.id}: " + " | ".join(retried[call.id]))

    def test_the_load_was_real(self):
        self.assertGreater(len(self.calls), 300)
        self.assertEqual(len(self.attempt_lines), len(self.calls), "a call never reached nginx")
        for window in self.windows:
            self.assertGreater(len(self.calls_in(window)), 50, window.name)

    def test_replica_1_was_out_of_rotation_before_its_sigterm(self):
        def to_replica_1(line):
            return self.addresses[0] in self.upstreams(line)
        lines = [line for lines in self.attempt_lines.values() for line in lines]
        self.assertTrue(any(to_replica_1(line) for line in lines), "it never had calls")
        after = [line for line in lines
                 if float(line.split()[0]) > self.reloaded_at_wall and to_replica_1(line)]
        self.assertEqual(after, [])
        self.assertIn("mxgate: signal 15: draining (0 calls in flight)", self.replica_logs[0])
        self.assertNotIn(DRAINING_ANSWER, self.replica_logs[0])

    def test_replica_1_drains_and_exits_0(self):
        self.assertEqual(self.drained_exit, 0, self.replica_logs[0][-2000:])
        self.assertIn("; 0 calls cut at the drain timeout", self.replica_logs[0])

    def test_no_call_fails_because_of_the_retirement(self):
        # Before replica 3's SIGTERM, the reload and replica 1's SIGTERM are
        # the only disturbances.
        failed = [call for call in self.failed if call.end < self.naive_sigterm_at]
        self.assertEqual(failed, [], "\n".join(map(self.explain, failed)))

    def explain(self, call):
        lines = self.attempt_lines.get(call.id, [])
        text = f"{call.id}: {call.code.name} {call.details!r}; nginx: {lines}"
        if call.code == grpc.StatusCode.UNAVAILABLE and any(
                re.search(r"status_in_trailers=\d", line) for line in lines):
            text += (" -- the status came after response headers, which commits a gRPC "
                     "call (gRFC A6): no retry policy can retry it; a replica must send "
                     "its errors trailers-only (no initial metadata before them)")
        return text

    def test_naive_sigterm_fails_calls_only_as_cancelled_or_unknown(self):
        # How many calls reach replica 3 in the instant its server shuts
        # down is luck (none, most runs); what each of them becomes is not:
        # CANCELLED when its gRPC server got the call as it shut down,
        # UNKNOWN (nginx's answer) when the connection closed under it.
        self.assertEqual(self.naive_exit, 0, self.replica_logs[2][-2000:])
        self.assertIn("; 0 calls cut at the drain timeout", self.replica_logs[2])
        failed = [call for call in self.failed
                  if self.naive_sigterm_at <= call.end < self.sigkill_at]
        for call in failed:
            with self.subTest(call=call):
                self.assertIn((call.code, call.details),
                              [(grpc.StatusCode.UNKNOWN, NGINX_FAILED_AFTER_SENDING),
                               (grpc.StatusCode.CANCELLED, "CANCELLED")],
                              self.explain(call))
                lines = self.attempt_lines.get(call.id, [])
                self.assertTrue(lines, "nginx logged no attempt")
                self.assertEqual(self.upstreams(lines[-1])[-1], self.addresses[2],
                                 self.explain(call))
        self.assertLessEqual(len(failed), WORKERS)

    def test_nginx_never_answers_unavailable_once_it_sent_a_call(self):
        # nginx's own answers (204) are UNAVAILABLE only when the last replica
        # it tried got no byte of the call; the client retries those.
        for lines in self.attempt_lines.values():
            for line in lines:
                if " 204 status_in_headers=14 " in line:
                    sent = re.search(r'sent="([^"]*)"', line)[1]
                    self.assertRegex(sent, r"^-$|(^|\s)0$", line)

    def test_calls_failing_at_the_sigkill_were_in_flight_and_end_unknown(self):
        at_sigkill = [call for call in self.failed if call.end >= self.sigkill_at]
        for call in at_sigkill:
            with self.subTest(call=call):
                self.assertEqual(call.code, grpc.StatusCode.UNKNOWN)
                self.assertLess(call.start, self.died_at, "sent once replica 2 was dead")
        self.assertLessEqual(len(at_sigkill), WORKERS)

    def test_replica_2_was_killed(self):
        self.assertEqual(self.killed_exit, -signal.SIGKILL)

    def test_no_create_reaches_mx_twice(self):
        self.assertEqual(self.stats["requests"], self.stats["members_created"])
        self.assertNotIn(grpc.StatusCode.ALREADY_EXISTS, [call.code for call in self.failed])

    def test_every_member_created_is_an_ok_call_or_a_failed_one(self):
        self.assertEqual(self.stats["members_created"], self.ok + len(self.failed_but_created))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
