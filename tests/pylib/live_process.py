"""Starts and stops the project's servers (mxgate, mx-sandbox) for Python tests.

Each server prints `listening on HOST:PORT` as its first stdout line once it
serves, which is how a test learns the port it chose (tests listen on port 0).
Its stderr goes to a file, read by stderr_of(); with MXGATE_TEST_LOG_DIR set
(./scripts/test sets it), stop() keeps a copy there as NAME.PID.log, as
tests/integration/test_process.h does, so that the logs of a whole run can
be searched for secrets.
"""
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile

_PR_SET_PDEATHSIG = 1
# Resolved before any fork: a child between fork and exec should do no more
# than call it (another thread of the test may hold the loader's lock).
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent(death_signal):
    # A test killed by ctest's timeout (or by SIGKILL) must not leave servers
    # behind. The signal comes when the thread that started the child ends,
    # so start servers from the main thread.
    parent = os.getpid()

    def preexec():
        _prctl(_PR_SET_PDEATHSIG, int(death_signal))
        if os.getppid() != parent:  # the test died before prctl took effect
            os.kill(os.getpid(), death_signal)
    return preexec


def popen(argv, death_signal=signal.SIGKILL, **kwargs):
    """subprocess.Popen(argv, **kwargs), for a child sent `death_signal` when
    the test dies. SIGKILL suits a single process; a process with children of
    its own (nginx's master) needs a signal it handles by stopping them too:
    its children do not get the signal, and SIGKILL would orphan them."""
    return subprocess.Popen(argv, preexec_fn=_die_with_parent(death_signal), **kwargs)


def start(argv, env=None):
    """Starts a server; returns (proc, "HOST:PORT") once it listens.

    Raises RuntimeError (after stopping it) when its first line is not
    `listening on HOST:PORT`.
    """
    with tempfile.NamedTemporaryFile(prefix="mxgate-test-stderr-", delete=False) as stderr:
        proc = popen(argv, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True)
    proc.stderr_path = stderr.name
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        stop(proc)
        raise RuntimeError(f"{argv[0]} did not start: {line!r}")
    return proc, line.strip()[len("listening on "):]


def stderr_of(proc):
    """What a server started by start() wrote on stderr so far."""
    with open(proc.stderr_path, encoding="utf-8", errors="replace") as stderr:
        return stderr.read()


def stop(proc, timeout=10):
    """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit status.
    Stopping a stopped server again does nothing."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.stdout.close()
    if os.path.exists(proc.stderr_path):
        log_dir = os.environ.get("MXGATE_TEST_LOG_DIR")
        if log_dir:
            name = os.path.basename(proc.args[0])
            shutil.copyfile(proc.stderr_path, os.path.join(log_dir, f"{name}.{proc.pid}.log"))
        os.unlink(proc.stderr_path)
    return proc.returncode
