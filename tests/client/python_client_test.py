#!/usr/bin/env python3
"""Runs client/python/create_member.py against a live mxgate + mx-sandbox.

Starts the real binaries on loopback ports chosen at run time, runs the
example as a subprocess (with /usr/bin/python3, whose grpcio is Debian's) and
checks its exact output: a created member, a NOT_FOUND with its ErrorInfo,
an INVALID_ARGUMENT with its BadRequest, a usage error.

Usage: python_client_test.py SOURCE_DIR BIN_DIR PYTHON_STUBS_DIR
"""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from live_process import start, stop  # noqa: E402

SOURCE_DIR, BIN_DIR, STUBS_DIR = sys.argv[1:4]
SCRIPT = os.path.join(SOURCE_DIR, "client", "python", "create_member.py")
LOGIN = "CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
PASSWORD = "CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e"
MEMBER_GUID = re.compile(r"^MBR-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class PythonClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Each process is stopped by a class cleanup, which runs even when
        # setUpClass or a test fails.
        sandbox, sandbox_address = start(
            [os.path.join(BIN_DIR, "mx-sandbox"), "--listen=127.0.0.1:0"])
        cls.addClassCleanup(stop, sandbox)
        env = dict(os.environ, MX_CLIENT_ID="sandbox-client-id", MX_API_KEY="sandbox-api-key")
        gateway, cls.address = start(
            [os.path.join(BIN_DIR, "mxgate"), "--listen=127.0.0.1:0",
             f"--mx_base_url=http://{sandbox_address}"], env)
        cls.addClassCleanup(stop, gateway)

    def run_example(self, *flags, env=None):
        return subprocess.run(
            ["/usr/bin/python3", SCRIPT, f"--target={self.address}", *flags],
            env=env if env is not None else dict(os.environ, MXGATE_PYTHON_STUBS=STUBS_DIR),
            capture_output=True, text=True, timeout=60)

    def test_create_member_prints_the_created_member(self):
        result = self.run_example("--user=demo-user", "--institution=mxbank",
                                  f"--credential={LOGIN}=mxuser",
                                  f"--credential={PASSWORD}=any-password",
                                  "--product=transactions")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        response = json.loads(result.stdout)
        self.assertEqual(response["http_status"], 202)
        self.assertEqual(response["outcome"], "CREATE_MEMBER_OUTCOME_AGGREGATION_REQUESTED")
        self.assertRegex(response["member"]["guid"], MEMBER_GUID)
        self.assertEqual(response["member"]["user_id"], "demo-user")
        self.assertEqual(response["member"]["institution_code"], "mxbank")
        self.assertEqual(response["member"]["connection_status"], "CONNECTION_STATUS_CREATED")

    def test_stubs_folder_from_the_flag(self):
        env = {k: v for k, v in os.environ.items() if k != "MXGATE_PYTHON_STUBS"}
        result = self.run_example(f"--stubs={STUBS_DIR}", "--user=demo-user",
                                  "--institution=mxbank", f"--credential={LOGIN}=mxuser",
                                  f"--credential={PASSWORD}=any-password", env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(json.loads(result.stdout)["member"]["guid"], MEMBER_GUID)

    def test_unknown_user_prints_not_found_with_its_error_info(self):
        result = self.run_example("--user=nobody", "--institution=mxbank",
                                  f"--credential={LOGIN}=mxuser",
                                  f"--credential={PASSWORD}=any-password")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(result.stdout, "")
        self.assertEqual(result.stderr,
                         "NOT_FOUND: MX answered HTTP 404: User not found.\n"
                         "  ErrorInfo: reason=UPSTREAM_NOT_FOUND domain=mxgate\n"
                         "    http_status: 404\n"
                         "    mx_error_message: User not found.\n")

    def test_missing_credentials_print_invalid_argument_with_its_bad_request(self):
        result = self.run_example("--user=demo-user", "--institution=mxbank")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(result.stdout, "")
        self.assertEqual(result.stderr,
                         "INVALID_ARGUMENT: invalid CreateMemberRequest: member.credentials: "
                         "at least one credential required for a non-OAuth member\n"
                         "  ErrorInfo: reason=INVALID_REQUEST domain=mxgate\n"
                         "  BadRequest:\n"
                         "    member.credentials: "
                         "at least one credential required for a non-OAuth member\n")

    def test_usage_error_exits_2(self):
        result = self.run_example("--institution=mxbank")
        self.assertEqual(result.returncode, 2)
        self.assertIn("--user", result.stderr)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
