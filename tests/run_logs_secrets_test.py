#!/usr/bin/env python3
"""Searches the logs of a whole test run for the secrets the tests used.

./scripts/test runs ctest with MXGATE_TEST_LOG_DIR set, so every mxgate and
mx-sandbox process a test starts leaves its stderr there (access log lines
included); ctest's own record of every test's output is LastTest.log. None
of them may hold an API key, an Authorization value or a credential value.
The run must also have logged real traffic, so an empty folder fails.

Usage: run_logs_secrets_test.py LOG_DIR CTEST_LAST_TEST_LOG
"""
import base64
import os
import sys

# The secrets the tests hand to the binaries, as each might leak: raw, and
# as the HTTP Basic value mxgate builds from a client id and key.
API_KEYS = {
    "it-client-id": "it-api-key-7f3a9c",         # tests/integration/gateway_process.h
    "sandbox-client-id": "sandbox-api-key",     # mx-sandbox's default
}
CREDENTIAL_VALUES = [
    "it-password-s3cret",   # kPassword, tests/integration/gateway_process.h
    "any-password",         # the Python and Node client tests
    "not-the-key",          # the wrong-key test's API key
]


def secrets():
    found = list(CREDENTIAL_VALUES)
    for client_id, key in API_KEYS.items():
        found.append(key)
        found.append(base64.b64encode(f"{client_id}:{key}".encode()).decode())
    return found


def main():
    log_dir, ctest_log = sys.argv[1:3]
    files = sorted(os.path.join(log_dir, name) for name in os.listdir(log_dir))
    files.append(ctest_log)
    leaks = []
    scanned = 0
    access_log_lines = 0
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        scanned += len(text)
        if os.path.basename(path).startswith("mxgate."):
            access_log_lines += text.count('{"time":')
        for secret in secrets():
            if secret in text:
                leaks.append(f"{path}: holds {secret[:4]}… ({len(secret)} characters)")
    print(f"scanned {len(files)} logs, {scanned} bytes, {access_log_lines} mxgate "
          f"access-log lines, for {len(secrets())} secrets")
    if access_log_lines < 100:
        print("FAIL: too little traffic was logged to prove anything")
        return 1
    for leak in leaks:
        print("FAIL:", leak)
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
