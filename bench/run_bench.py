#!/usr/bin/env python3
"""Runs mxgate's benchmark matrix (issue 5) and writes docs/BENCHMARKS.md.

Started by ./scripts/bench, which builds the binaries first; see
docs/BENCHMARKS.md for what each figure means. Every process runs on
loopback ports chosen at run time and is stopped at the end. Paths:
  D  mxgate-bench-direct: mxgate's own MX client (libcurl), no gateway
  G  mxgate-bench-grpc -> mxgate -> upstream
  F  mxgate-bench-grpc -> mxgate-bench-floor, a bare gRPC server answering
     at once: what gRPC alone costs (1-in-flight, 1000/s, saturation)
  S  bench/node/sdk_load.js: the official MX Node SDK, no gateway
Upstreams: nginx (bench/upstream/nginx.conf.in: at once, 200 ms +- 25%,
or 1 s) and mx-sandbox --latency_ms.

--smoke runs every piece for about a second, checks that each call
succeeded, and writes nothing under docs/ (exit 1 when a piece failed).
--profile counts the instructions per call of the gateway and of D under
callgrind and keeps the profiles in BUILD_DIR/profile/.
"""

import argparse
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
CLK_TCK = os.sysconf("SC_CLK_TCK")
P99_LIMIT_US = 10000.0  # the issue's "max throughput at p99 <= 10 ms"

# Pinning on a 2-core machine: the upstream (and G's and F's load
# generator) on one core, the thing being compared (D's client, the
# gateway, F's floor server, S's Node process) alone on the other.
UPSTREAM_CPUS = "0"
SUBJECT_CPUS = "1"
ALL_CPUS = "0,1"

ALL_PHASES = ["memory", "one", "fixed", "saturation", "grid", "unpinned", "slow", "profile",
              "micro"]

# The line mxgate and mxgate-bench-floor print once they serve.
LISTENING_LINE = r"^listening on .*:(\d+)$"

CREDENTIALS = {"MX_CLIENT_ID": "sandbox-client-id", "MX_API_KEY": "sandbox-api-key"}


def say(message):
    print(f"==> bench: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def read_proc_stat_cpu(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def read_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def context_switches(pid):
    """Voluntary + involuntary context switches of every thread of `pid` so
    far: each one a thread going to sleep or being preempted, the cost of
    handing a call from one thread to another."""
    total = 0
    task_dir = f"/proc/{pid}/task"
    for tid in os.listdir(task_dir):
        try:
            with open(os.path.join(task_dir, tid, "status")) as status:
                for line in status:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return total


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


def system_busy_seconds():
    """CPU time used by everything on the machine (all cores), in seconds."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK


def load_average():
    with open("/proc/loadavg") as loadavg:
        return [float(value) for value in loadavg.read().split()[:3]]


class Service:
    """A long-running process of the benchmark (nginx, mxgate, mx-sandbox)."""

    def __init__(self, name, argv, cpus, log_dir, env=None, ready=None, port=None):
        self.name = name
        self.command = ["taskset", "-c", cpus] + argv
        self.log_path = os.path.join(log_dir, f"{name}.stderr")
        self.lines = {}
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=open(self.log_path, "w"),
            env=full_env, start_new_session=True)
        if ready:
            self._await_lines(ready)
        if port:
            wait_for_port(port)

    def _await_lines(self, patterns, timeout=15.0):
        """Reads stdout until each regex in `patterns` matched a line."""
        buffer = b""
        deadline = time.time() + timeout
        pending = dict(patterns)
        while pending:
            left = deadline - time.time()
            if left <= 0 or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} did not start; see {self.log_path}")
            readable, _, _ = select.select([self.process.stdout], [], [], left)
            if not readable:
                continue
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                continue
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                for key, pattern in list(pending.items()):
                    match = re.search(pattern, line.decode())
                    if match:
                        self.lines[key] = match.group(1)
                        del pending[key]

    @property
    def pid(self):
        return self.process.pid

    def pids(self):
        return [self.pid] + children_of(self.pid)

    def cpu_seconds(self):
        return sum(read_proc_stat_cpu(pid) for pid in self.pids())

    def rss_kib(self):
        return sum(read_rss_kib(pid) for pid in self.pids())

    def pin(self, cpus):
        for pid in self.pids():
            subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)],
                           stdout=subprocess.DEVNULL, check=True)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Gateway(Service):
    def __init__(self, name, build_bin, base_url, log_dir, log_level):
        argv = [os.path.join(build_bin, "mxgate"), "--listen=127.0.0.1:0",
                "--metrics_listen=127.0.0.1:0", f"--mx_base_url={base_url}",
                f"--log_level={log_level}"]
        super().__init__(name, argv, SUBJECT_CPUS, log_dir, env=CREDENTIALS,
                         ready={"port": LISTENING_LINE,
                                "metrics": r"^metrics on .*:(\d+)$"})
        self.target = f"127.0.0.1:{self.lines['port']}"
        self.metrics_url = f"http://127.0.0.1:{self.lines['metrics']}/metrics"

    def metrics(self):
        values = {}
        with urllib.request.urlopen(self.metrics_url, timeout=5) as answer:
            for line in answer.read().decode().splitlines():
                if line.startswith("#") or not line.strip():
                    continue
                name, _, value = line.rpartition(" ")
                try:
                    values[name] = float(value)
                except ValueError:
                    pass
        return values


class FloorServer(Service):
    """Path F's server (bench/floor_server.cc): gRPC alone, pinned where
    the gateway is."""

    def __init__(self, build_bin, log_dir):
        argv = [os.path.join(build_bin, "mxgate-bench-floor"), "--listen=127.0.0.1:0",
                "--member_body_file=" + os.path.join(BENCH, "upstream",
                                                     "member_response_body.json")]
        super().__init__("floor", argv, SUBJECT_CPUS, log_dir, ready={"port": LISTENING_LINE})
        self.target = f"127.0.0.1:{self.lines['port']}"


class Nginx(Service):
    def __init__(self, work_dir, hold_seconds):
        self.ports = {name: free_port() for name in ("fast", "slow", "hold", "status")}
        prefix = os.path.join(work_dir, "nginx")
        os.makedirs(prefix, exist_ok=True)
        with open(os.path.join(BENCH, "upstream", "member_response_body.json")) as body_file:
            body = body_file.read().strip()
        with open(os.path.join(BENCH, "upstream", "nginx.conf.in")) as template:
            config = template.read()
        for key, value in {"PREFIX": prefix, "BODY": body, "HOLD_SECONDS": str(hold_seconds),
                           **{f"{name.upper()}_PORT": str(port)
                              for name, port in self.ports.items()}}.items():
            config = config.replace(f"@{key}@", value)
        self.config_path = os.path.join(prefix, "nginx.conf")
        with open(self.config_path, "w") as config_file:
            config_file.write(config)
        super().__init__("nginx", ["/usr/sbin/nginx", "-c", self.config_path, "-p", prefix,
                                   "-g", "daemon off;"], UPSTREAM_CPUS, work_dir)
        for port in self.ports.values():
            wait_for_port(port)

    def url(self, name):
        return f"http://127.0.0.1:{self.ports[name]}"

    def _status(self):
        """stub_status's (accepted connections, requests); each reading
        counts one of each itself."""
        url = f"http://127.0.0.1:{self.ports['status']}/status"
        with urllib.request.urlopen(url, timeout=5) as answer:
            lines = answer.read().decode().splitlines()
        accepts, _, requests = (int(n) for n in lines[2].split())
        return accepts, requests

    def accepted_connections(self):
        return self._status()[0]

    def requests(self):
        return self._status()[1]


class Bench:
    def __init__(self, args):
        self.args = args
        self.build_bin = os.path.join(args.build_dir, "bin")
        self.work_dir = tempfile.mkdtemp(prefix="mxgate-bench-")
        # nginx's workers run as nobody when the benchmark runs as root.
        os.chmod(self.work_dir, 0o755)
        self.services = []
        self.commands = {}
        self.failures = []
        self.results = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                        "load_average_start": load_average(),
                        "warmup_ms": args.warmup_ms, "duration_ms": args.duration_ms}

    # ---------------------------------------------------------------- plumbing

    def start(self, service_factory):
        service = service_factory()
        self.services.append(service)
        self.commands.setdefault(service.name, shlex.join(service.command))
        return service

    def stop(self, service):
        service.stop()
        self.services.remove(service)

    def stop_all(self):
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception as error:  # keep stopping the others
                say(f"stopping {service.name}: {error}")
        self.services = []

    def driver_argv(self, path, target, rate, concurrency, warmup_ms, duration_ms, timeout_ms,
                    drain_timeout_ms):
        common = [f"--rate={rate:g}", f"--concurrency={concurrency}", f"--warmup_ms={warmup_ms}",
                  f"--duration_ms={duration_ms}", f"--timeout_ms={timeout_ms}",
                  f"--drain_timeout_ms={drain_timeout_ms}"]
        if path == "D":
            return [os.path.join(self.build_bin, "mxgate-bench-direct"),
                    f"--base_url={target}"] + common
        if path in ("G", "F"):
            return [os.path.join(self.build_bin, "mxgate-bench-grpc"), f"--target={target}",
                    f"--channels={self.args.channels}"] + common
        if path == "S":
            return ["node", os.path.join(BENCH, "node", "sdk_load.js"),
                    f"--base_url={target}"] + common
        raise ValueError(path)

    def run_driver(self, path, target, cpus, rate=0, concurrency=1, warmup_ms=None,
                   duration_ms=None, timeout_ms=5000, drain_timeout_ms=15000, gateway=None,
                   nginx=None, server=None, label="", sampler=None):
        """One run of a load generator, with the CPU each process used: its
        own, and that of `gateway`, `nginx` and `server` (F's floor server)
        when given, as result[NAME_cpu_s]."""
        warmup_ms = self.args.warmup_ms if warmup_ms is None else warmup_ms
        duration_ms = self.args.duration_ms if duration_ms is None else duration_ms
        argv = ["taskset", "-c", cpus] + self.driver_argv(
            path, target, rate, concurrency, warmup_ms, duration_ms, timeout_ms, drain_timeout_ms)
        self.commands.setdefault(f"{path} {label}".strip(), shlex.join(argv))
        watched = [service for service in (gateway, nginx, server) if service is not None]
        cpu_before = {service.name: service.cpu_seconds() for service in watched}
        switches_before = {service: context_switches(service.pid)
                           for service in (gateway, server) if service is not None}
        accepts_before = nginx.accepted_connections() if nginx else 0
        metrics_before = gateway.metrics() if gateway else {}
        busy_before = system_busy_seconds()
        started = time.time()
        stderr_path = os.path.join(self.work_dir, f"driver-{path}.stderr")
        with open(stderr_path, "w") as stderr:
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr)
            if sampler:
                sampler.begin()
            output = process.stdout.read().decode()
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            if sampler:
                sampler.end()
        wall = time.time() - started
        lines = [line for line in output.splitlines() if line.startswith("{")]
        if process.returncode != 0 or not lines:
            with open(stderr_path) as stderr:
                raise RuntimeError(f"{path} driver failed ({process.returncode}): "
                                   f"{stderr.read()[-500:]}")
        result = json.loads(lines[-1])
        result["client_cpu_s"] = usage.ru_utime + usage.ru_stime
        result["client_context_switches"] = usage.ru_nvcsw + usage.ru_nivcsw
        for service, before in switches_before.items():
            result[f"{service.name}_context_switches"] = context_switches(service.pid) - before
        result["wall_s"] = wall
        our_cpu = result["client_cpu_s"]
        for service in watched:
            used = service.cpu_seconds() - cpu_before[service.name]
            result[f"{service.name}_cpu_s"] = used
            our_cpu += used
        result["other_cpu_cores"] = max(0.0, (system_busy_seconds() - busy_before - our_cpu) / wall)
        if nginx:
            # Minus the one connection of the second stub_status read.
            result["upstream_connections_accepted"] = (
                nginx.accepted_connections() - accepts_before - 1)
        if gateway:
            after = gateway.metrics()
            result["gateway_upstream_connections_opened"] = (
                after.get("mxgate_upstream_connections_opened_total", 0)
                - metrics_before.get("mxgate_upstream_connections_opened_total", 0))
            result["gateway_upstream_connections_open"] = after.get(
                "mxgate_upstream_connections_open", 0)
        result["label"] = label
        return result

    @staticmethod
    def passes(result):
        return (result["measured_errors"] == 0 and result["not_sent"] == 0
                and result["unfinished"] == 0 and result["measured_ok"] > 0
                and result["latency_us"]["p99"] <= P99_LIMIT_US)

    def check(self, what, result):
        """Smoke: every call of the run must have succeeded."""
        ok = (result["measured_errors"] == 0 and result["unfinished"] == 0
              and result["measured_ok"] > 0 and not result["errors"])
        say(f"{what}: {result['measured_ok']} ok, errors {result['errors'] or 'none'}, "
            f"p50 {result['latency_us']['p50']:.0f} us, p99 {result['latency_us']['p99']:.0f} us"
            f"{'' if ok else '  <-- FAILED'}")
        if not ok:
            self.failures.append(what)

    # ------------------------------------------------------------------ phases

    def machine(self):
        info = {"uname": " ".join(os.uname()), "cpus": os.cpu_count()}
        with open("/proc/cpuinfo") as cpuinfo:
            text = cpuinfo.read()
        models = re.findall(r"^model name\s*:\s*(.*)$", text, re.M)
        mhz = re.findall(r"^cpu MHz\s*:\s*(.*)$", text, re.M)
        flags = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
        info["cpu_model"] = models[0] if models else "unknown"
        info["cpu_mhz"] = mhz[0] if mhz else "unknown"
        info["hypervisor"] = bool(flags and "hypervisor" in flags.group(1).split())
        with open("/proc/meminfo") as meminfo:
            info["memory"] = meminfo.readline().split(":", 1)[1].strip()

        def version(argv, pattern=r"(.*)"):
            try:
                out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
                match = re.search(pattern, out.stdout + out.stderr)
                return match.group(1).strip() if match else "unknown"
            except OSError:
                return "missing"

        info["versions"] = {
            "nginx": version(["/usr/sbin/nginx", "-v"], r"nginx version: (\S+)"),
            "node": version(["node", "--version"]),
            "gRPC": version(["pkg-config", "--modversion", "grpc++"]),
            "libcurl": version(["curl-config", "--version"]),
            "mx-platform-node": json.load(open(os.path.join(
                BENCH, "node", "node_modules", "mx-platform-node", "package.json")))["version"],
        }
        self.results["machine"] = info

    def micro(self):
        say("micro-benchmarks (bench/micro)")
        out = os.path.join(self.work_dir, "micro.json")
        argv = ["taskset", "-c", SUBJECT_CPUS, os.path.join(self.build_bin, "mxgate-bench-micro"),
                f"--benchmark_out={out}", "--benchmark_out_format=json"]
        if self.args.smoke:
            argv += ["--benchmark_min_time=0.01"]
        else:
            argv += ["--benchmark_min_time=0.2", "--benchmark_repetitions=5",
                     "--benchmark_report_aggregates_only=true"]
        self.commands["micro"] = shlex.join(argv)
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out) as report:
            data = json.load(report)
        rows = {}
        for bench in data["benchmarks"]:
            if bench.get("error_occurred"):
                self.failures.append(f"micro {bench['name']}: {bench.get('error_message')}")
            if bench.get("aggregate_name", "median") != "median":
                continue
            name = bench.get("run_name", bench["name"])
            rows[name] = {"cpu_ns": bench["cpu_time"], "real_ns": bench["real_time"]}
        if self.args.smoke and len(rows) < 7:
            self.failures.append(f"micro: {len(rows)} benchmarks ran, expected 7")
        say(f"micro: {len(rows)} benchmarks")
        self.results["micro"] = rows

    @staticmethod
    def compared_paths(nginx, gateway, floor):
        """(path, run_driver's target, cpus and watched processes) of the
        side-by-side runs, pinned: D's client, the gateway, F's floor server
        and S's Node process each alone on the subject core; G's and F's
        load generator on the other, with nginx (idle during F)."""
        fast = nginx.url("fast")
        return [("D", {"target": fast, "cpus": SUBJECT_CPUS, "nginx": nginx}),
                ("G", {"target": gateway.target, "cpus": UPSTREAM_CPUS, "gateway": gateway,
                       "nginx": nginx}),
                ("F", {"target": floor.target, "cpus": UPSTREAM_CPUS, "server": floor}),
                ("S", {"target": fast, "cpus": SUBJECT_CPUS, "nginx": nginx})]

    def one_in_flight(self, nginx, gateway, floor):
        say("1 call in flight (closed loop), D / G / F / S alternating")
        rounds = []
        for _ in range(self.args.rounds):
            row = {}
            for path, how in self.compared_paths(nginx, gateway, floor):
                row[path] = self.run_driver(path, concurrency=1, label="1 in flight", **how)
            rounds.append(row)
        self.results["one_in_flight"] = rounds

    def fixed_rate(self, nginx, gateway, floor, rate):
        say(f"fixed rate {rate}/s, D / G / F / S alternating")
        rounds = []
        for _ in range(self.args.rounds):
            row = {}
            for path, how in self.compared_paths(nginx, gateway, floor):
                row[path] = self.run_driver(path, rate=rate, label=f"{rate}/s", **how)
            rounds.append(row)
        self.results["fixed_rate"] = {"rate": rate, "rounds": rounds}

    def saturation(self, nginx, gateway, floor):
        """Closed loop with many calls in flight: the most each path completes,
        whatever the latency. Less sensitive than the p99 limit to other
        processes taking the CPU for a few milliseconds."""
        say(f"saturation: closed loop, {self.args.saturation_concurrency} calls in flight")
        rounds = []
        for _ in range(max(1, self.args.rounds - 1)):
            row = {}
            for path, how in self.compared_paths(nginx, gateway, floor):
                row[path] = self.run_driver(path, concurrency=self.args.saturation_concurrency,
                                            label="saturation", **how)
                say(f"  {path}: {row[path]['throughput']:.0f} calls/s")
            rounds.append(row)
        self.results["saturation"] = {"concurrency": self.args.saturation_concurrency,
                                      "rounds": rounds}

    def idle_cpu(self, gateway, seconds=2.0):
        """The gateway's CPU use with no call at all, in cores."""
        before = gateway.cpu_seconds()
        time.sleep(seconds)
        return (gateway.cpu_seconds() - before) / seconds

    def step(self, path, rate, nginx, gateway, pinned, label):
        target = gateway.target if path == "G" else nginx.url("fast")
        cpus = (UPSTREAM_CPUS if path == "G" else SUBJECT_CPUS) if pinned else ALL_CPUS
        attempts = []
        # A step that failed narrowly is tried once more (the machine is
        # shared); one that collapsed is not. A call over 2 s already fails
        # the step, so none is awaited longer.
        for _ in range(2):
            result = self.run_driver(path, target, cpus, rate=rate, timeout_ms=2000,
                                     drain_timeout_ms=3000,
                                     gateway=gateway if path == "G" else None, nginx=nginx,
                                     label=label)
            result["passed"] = self.passes(result)
            attempts.append(result)
            collapsed = (result["measured_errors"] > 0
                         or result["latency_us"]["p99"] > 10 * P99_LIMIT_US)
            if result["passed"] or collapsed:
                break
        best = next((a for a in attempts if a["passed"]), attempts[-1])
        best["attempts"] = len(attempts)
        say(f"  {label} {path} {rate:>6g}/s: p50 {best['latency_us']['p50']:>9.0f} us, "
            f"p99 {best['latency_us']['p99']:>9.0f} us, errors {sum(best['errors'].values())}"
            f"{'' if best['passed'] else '  (over)'}")
        return best

    def bisect(self, path, low, high, nginx, gateway, pinned, label, steps):
        """Refines the highest passing rate between a pass (low) and a fail (high)."""
        extra = []
        for _ in range(steps):
            if high - low <= max(100, low * 0.03):
                break
            rate = round((low + high) / 2 / 50) * 50
            result = self.step(path, rate, nginx, gateway, pinned, label)
            extra.append(result)
            if result["passed"]:
                low = rate
            else:
                high = rate
        return low, extra

    def load_grid(self, nginx, gateway, paths, pinned, start_below=None):
        """Steps up the rate grid for each path until it fails twice in a row,
        then bisects. `start_below` (path -> rate): skip grid rates below
        half of it, as a known lower bound."""
        label = "pinned" if pinned else "unpinned"
        say(f"offered load grid ({label}): {', '.join(paths)}")
        if not pinned:
            nginx.pin(ALL_CPUS)
            gateway.pin(ALL_CPUS)
        results = {path: [] for path in paths}
        alive = list(paths)
        failures_in_row = {path: 0 for path in paths}
        for rate in self.args.rates:
            for path in list(alive):
                if start_below and rate < start_below.get(path, 0) / 2:
                    continue
                result = self.step(path, rate, nginx, gateway, pinned, label)
                results[path].append(result)
                failures_in_row[path] = 0 if result["passed"] else failures_in_row[path] + 1
                if failures_in_row[path] >= 2:
                    alive.remove(path)
            if not alive:
                break
        maxima = {}
        for path in paths:
            steps = results[path]
            passed = [r["offered_rate"] for r in steps if r["passed"]]
            low = max(passed) if passed else 0
            above = [r["offered_rate"] for r in steps if not r["passed"] and r["offered_rate"] > low]
            if above and low > 0:
                low, extra = self.bisect(path, low, min(above), nginx, gateway, pinned, label,
                                         self.args.bisect_steps)
                results[path].extend(extra)
            maxima[path] = low
        if not pinned:
            nginx.pin(UPSTREAM_CPUS)
            gateway.pin(SUBJECT_CPUS)
        self.results[f"grid_{label}"] = {"steps": results, "max_rate": maxima}

    def slow_upstream(self, nginx, build_bin):
        say("slow upstreams: nginx 200 ms +- 25% and mx-sandbox --latency_ms=200")
        rows = {}
        gateway = self.start(lambda: Gateway("mxgate-slow", build_bin, nginx.url("slow"),
                                             self.work_dir, self.args.log_level))
        rate = self.args.slow_rate
        for path, target, cpus in (("D", nginx.url("slow"), SUBJECT_CPUS),
                                   ("G", gateway.target, UPSTREAM_CPUS)):
            rows[path] = self.run_driver(path, target, cpus, rate=rate, warmup_ms=1000,
                                         gateway=gateway if path == "G" else None,
                                         nginx=nginx, label="nginx 200 ms")
        self.stop(gateway)
        sandbox_port = free_port()
        sandbox = self.start(lambda: Service(
            "mx-sandbox", [os.path.join(build_bin, "mx-sandbox"),
                           f"--listen=127.0.0.1:{sandbox_port}", "--latency_ms=200"],
            UPSTREAM_CPUS, self.work_dir, port=sandbox_port))
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        gateway = self.start(lambda: Gateway("mxgate-sandbox", build_bin, sandbox_url,
                                             self.work_dir, self.args.log_level))
        for path, target, cpus in (("D", sandbox_url, SUBJECT_CPUS),
                                   ("G", gateway.target, UPSTREAM_CPUS)):
            rows[f"sandbox_{path}"] = self.run_driver(
                path, target, cpus, rate=self.args.sandbox_rate, warmup_ms=1000,
                gateway=gateway if path == "G" else None, label="sandbox 200 ms")
        self.stop(gateway)
        self.stop(sandbox)
        self.results["slow_upstream"] = {"rate": rate, "sandbox_rate": self.args.sandbox_rate,
                                         "runs": rows}

    def memory(self, nginx, build_bin):
        say("memory: idle RSS, then calls held in flight by a 1 s upstream")
        gateway = self.start(lambda: Gateway("mxgate-rss", build_bin, nginx.url("hold"),
                                             self.work_dir, self.args.log_level))
        time.sleep(1.0)
        idle_start = gateway.rss_kib()
        memory = {"idle_at_start_kib": idle_start, "levels": []}
        for in_flight in self.args.in_flight_levels:
            sampler = Sampler(gateway)
            # Open loop at N/s for 2.5 s against a 1 s answer holds ~N calls
            # in flight from the first second on.
            result = self.run_driver("G", gateway.target, UPSTREAM_CPUS, rate=in_flight,
                                     warmup_ms=0, duration_ms=2500, timeout_ms=10000,
                                     gateway=gateway, nginx=nginx,
                                     label=f"{in_flight} in flight", sampler=sampler)
            peak = max(sampler.samples, key=lambda s: (s["rss_kib"], s["in_flight"]),
                       default={"rss_kib": 0, "in_flight": 0, "connections_open": 0})
            most = max((s["in_flight"] for s in sampler.samples), default=0)
            memory["levels"].append({"offered_in_flight": in_flight, "peak_rss_kib": peak["rss_kib"],
                                     "max_in_flight_seen": most,
                                     "max_connections_open": max(
                                         (s["connections_open"] for s in sampler.samples),
                                         default=0),
                                     "run": result})
            time.sleep(0.5)
        memory["idle_after_kib"] = gateway.rss_kib()
        self.stop(gateway)
        self.results["memory"] = memory

    # ------------------------------------------------------------------- runs

    def run_smoke(self):
        self.machine()
        self.micro()
        nginx = self.start(lambda: Nginx(self.work_dir, hold_seconds=1))
        gateway = self.start(lambda: Gateway("mxgate", self.build_bin, nginx.url("fast"),
                                             self.work_dir, "off"))
        floor = self.start(lambda: FloorServer(self.build_bin, self.work_dir))
        short = {"warmup_ms": 200, "duration_ms": 600}
        paths = dict(self.compared_paths(nginx, gateway, floor))
        for path, how in paths.items():
            self.check(f"{path} open loop 200/s", self.run_driver(path, rate=200, **how, **short))
        for path in ("G", "F"):
            self.check(f"{path} 1 in flight", self.run_driver(
                path, concurrency=1, **paths[path], **short))
        sandbox_port = free_port()
        sandbox = self.start(lambda: Service(
            "mx-sandbox", [os.path.join(self.build_bin, "mx-sandbox"),
                           f"--listen=127.0.0.1:{sandbox_port}", "--latency_ms=20"],
            UPSTREAM_CPUS, self.work_dir, port=sandbox_port))
        self.check("D via mx-sandbox", self.run_driver(
            "D", f"http://127.0.0.1:{sandbox_port}", SUBJECT_CPUS, rate=50, **short))
        self.stop_all()

    def run_full(self):
        phases = self.args.phases
        self.machine()
        nginx = self.start(lambda: Nginx(self.work_dir, hold_seconds=1))
        if "memory" in phases:
            self.memory(nginx, self.build_bin)  # a fresh gateway first: idle RSS
        gateway = self.start(lambda: Gateway("mxgate", self.build_bin, nginx.url("fast"),
                                             self.work_dir, self.args.log_level))
        self.results["gateway_flags"] = self.commands["mxgate"]
        self.results["gateway_idle_cpu_cores"] = self.idle_cpu(gateway)
        if {"one", "fixed", "saturation"} & set(phases):
            floor = self.start(lambda: FloorServer(self.build_bin, self.work_dir))
            self.results["floor_flags"] = self.commands["floor"]
            if "one" in phases:
                self.one_in_flight(nginx, gateway, floor)
            if "fixed" in phases:
                self.fixed_rate(nginx, gateway, floor, 1000)
            if "saturation" in phases:
                self.saturation(nginx, gateway, floor)
            self.stop(floor)  # the grid and later phases run without it
        if "grid" in phases:
            self.load_grid(nginx, gateway, ["D", "G", "S"], pinned=True)
        if "unpinned" in phases:
            self.load_grid(nginx, gateway, ["D", "G"], pinned=False,
                           start_below=self.results.get("grid_pinned", {}).get("max_rate"))
        self.results["gateway_rss_after_load_kib"] = gateway.rss_kib()
        self.stop(gateway)
        if "slow" in phases:
            self.slow_upstream(nginx, self.build_bin)
        self.stop_all()
        if "profile" in phases:
            Profile(self).run()
        if "micro" in phases:
            self.micro()
        self.results["load_average_end"] = load_average()
        self.results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        self.results["commands"] = self.commands


# What the report breaks a call's instructions into (inclusive counts: a
# row includes the rows it calls). Regexes on callgrind_annotate's lines.
PROFILED_FUNCTIONS = [
    ("libcurl event loop thread (all of it)", r"mxgate::CurlTransport::Loop::Run\(\)"),
    ("  curl_multi_perform (libcurl's HTTP work)", r"\?\?\?:curl_multi_perform "),
    ("  MapCreateMemberAnswer (status + body → result)", r"mxgate::MapCreateMemberAnswer\("),
    ("    DecodeMemberResponseBody", r"mxgate::DecodeMemberResponseBody\("),
    ("    ExtractMxErrorMessage (parses the body again)", r"mxgate::ExtractMxErrorMessage"),
    ("gRPC handler MemberService::CreateMember", r"mxgate::MemberService::CreateMember\("),
    ("  RestMxClient::BuildCreateMemberRequest", r"mxgate::RestMxClient::BuildCreateMemberRequest\("),
    ("    EncodeCreateMemberBody", r"mxgate::EncodeCreateMemberBody"),
    ("ServerUnaryReactor::Finish (gRPC reply)", r"grpc::ServerUnaryReactor::Finish\("),
    ("AccessLog::Record (one JSON line per call)", r"mxgate::AccessLog::Record\("),
    ("Metrics (its costliest function)", r"mxgate::Metrics::"),
    ("gRPC ExecCtx::Flush (gRPC core work)", r"grpc_core::ExecCtx::Flush\(\)"),
    ("malloc", r":malloc \["),
    ("free", r":free \["),
    ("absl::Mutex::Lock", r"absl::debian3::Mutex::Lock\(\)"),
]


class Profile:
    """--profile: instructions per call of the gateway and of D under
    callgrind (valgrind), which counts the same on a busy machine as on an
    idle one. Kernel time (system calls) is not counted."""

    def __init__(self, bench):
        self.bench = bench

    def run(self):
        bench = self.bench
        out_dir = os.path.join(bench.args.build_dir, "profile")
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        nginx = bench.start(lambda: Nginx(bench.work_dir, hold_seconds=1))
        summary = {}
        gateway_out = os.path.join(out_dir, "callgrind.out.gateway")
        gateway = bench.start(lambda: Service(
            "mxgate-callgrind",
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={gateway_out}",
             os.path.join(bench.build_bin, "mxgate"), "--listen=127.0.0.1:0",
             "--metrics_listen=127.0.0.1:0", f"--mx_base_url={nginx.url('fast')}",
             f"--log_level={bench.args.log_level}"],
            SUBJECT_CPUS, bench.work_dir, env=CREDENTIALS, ready={"port": LISTENING_LINE}))
        target = f"127.0.0.1:{gateway.lines['port']}"
        summary["gateway"] = self.measure(
            gateway.pid, gateway_out, nginx, lambda ms: bench.run_driver(
                "G", target, UPSTREAM_CPUS, concurrency=4, warmup_ms=0, duration_ms=ms,
                timeout_ms=30000))
        bench.stop(gateway)
        direct_out = os.path.join(out_dir, "callgrind.out.direct")
        direct = subprocess.Popen(
            ["taskset", "-c", SUBJECT_CPUS, "valgrind", "--tool=callgrind",
             f"--callgrind-out-file={direct_out}",
             os.path.join(bench.build_bin, "mxgate-bench-direct"),
             f"--base_url={nginx.url('fast')}", "--concurrency=4", "--warmup_ms=0",
             "--duration_ms=20000", "--timeout_ms=30000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(4)
        summary["direct"] = self.measure(direct.pid, direct_out, nginx,
                                         lambda ms: time.sleep(ms / 1000))
        direct.kill()
        direct.wait()
        bench.stop_all()
        for name, row in summary.items():
            say(f"{name}: {row['instructions_per_call']:,.0f} instructions per call "
                f"({row['calls']} calls); top functions (inclusive) in {row['top_file']}")
        bench.results["profile"] = summary

    def measure(self, pid, out_file, nginx, load):
        """Zeroes the counts, applies `load`, dumps: instructions per call."""
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = nginx.requests()
        load(8000)
        calls = nginx.requests() - before - 1
        subprocess.run(["callgrind_control", "-d", str(pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        path = out_file + ".1"  # callgrind's name for the first dump
        for _ in range(50):
            if os.path.exists(path):
                break
            time.sleep(0.1)
        annotate = subprocess.run(["callgrind_annotate", "--inclusive=yes", path],
                                  capture_output=True, text=True).stdout
        total = int(re.search(r"^([\d,]+) .*PROGRAM TOTALS", annotate, re.M).group(1)
                    .replace(",", ""))
        top_file = path + ".top.txt"
        with open(top_file, "w") as top:
            top.write(annotate)
        functions = {}
        for name, pattern in PROFILED_FUNCTIONS:
            match = re.search(r"^\s*([\d,]+) \(.*" + pattern, annotate, re.M)
            if match:
                functions[name] = int(match.group(1).replace(",", "")) / max(calls, 1)
        return {"calls": calls, "instructions": total,
                "instructions_per_call": total / max(calls, 1), "functions": functions,
                "top_file": os.path.relpath(top_file, ROOT)}


class Sampler:
    """Samples a gateway's RSS, calls in flight and connections every 50 ms."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.samples = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def begin(self):
        self.thread.start()

    def end(self):
        self.stopping.set()
        self.thread.join()

    def _run(self):
        while not self.stopping.wait(0.05):
            try:
                metrics = self.gateway.metrics()
                self.samples.append({
                    "rss_kib": self.gateway.rss_kib(),
                    "in_flight": metrics.get("mxgate_calls_in_flight", 0),
                    "connections_open": metrics.get("mxgate_upstream_connections_open", 0)})
            except OSError:
                pass


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="about a second per piece")
    parser.add_argument("--profile", action="store_true",
                        help="callgrind the gateway and D; writes BUILD_DIR/profile/")
    parser.add_argument("--build-dir", required=True, help="holds bin/mxgate and bin/mxgate-bench-*")
    parser.add_argument("--results", help="write the raw results (JSON) here")
    parser.add_argument("--report-dir", help="write BENCHMARKS.md and the plots here")
    parser.add_argument("--warmup-ms", type=int, default=500)
    parser.add_argument("--duration-ms", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of the 1-in-flight and 1000/s runs")
    parser.add_argument("--rates", type=lambda text: [float(r) for r in text.split(",")],
                        default=[100, 250, 500, 1000, 2000, 3000, 5000, 7500, 10000, 12500, 15000,
                                 17500, 20000, 25000, 30000, 35000, 40000])
    parser.add_argument("--bisect-steps", type=int, default=3)
    parser.add_argument("--saturation-concurrency", type=int, default=64)
    parser.add_argument("--channels", type=int, default=2, help="G: HTTP/2 connections")
    parser.add_argument("--log-level", default="info", help="the gateway's --log_level")
    parser.add_argument("--slow-rate", type=float, default=1000)
    parser.add_argument("--sandbox-rate", type=float, default=25)
    parser.add_argument("--in-flight-levels", type=lambda text: [int(n) for n in text.split(",")],
                        default=[1000, 2000])
    parser.add_argument("--phases", type=lambda text: text.split(","), default=ALL_PHASES,
                        help="full run: a subset of " + ",".join(ALL_PHASES) +
                        " (the report needs them all)")
    args = parser.parse_args()

    bench = Bench(args)
    try:
        if args.profile:
            Profile(bench).run()
        elif args.smoke:
            bench.run_smoke()
        else:
            bench.run_full()
    except Exception as error:  # report, stop what we started, fail
        bench.failures.append(f"{type(error).__name__}: {error}")
    finally:
        bench.stop_all()
    if args.results:
        bench.results["failures"] = bench.failures
        with open(args.results, "w") as out:
            json.dump(bench.results, out, indent=1)
    if bench.failures:
        for failure in bench.failures:
            say(f"FAILED: {failure}")
        say(f"logs kept in {bench.work_dir}")
        return 1
    shutil.rmtree(bench.work_dir, ignore_errors=True)
    if args.report_dir and not args.smoke and not args.profile and args.phases == ALL_PHASES:
        import report  # bench/report.py
        report.write(bench.results, args.report_dir)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, BENCH)
    sys.exit(main())
