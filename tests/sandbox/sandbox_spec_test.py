#!/usr/bin/python3
"""Checks the real mx-sandbox binary's answers against MX's OpenAPI specs.

Usage: sandbox_spec_test.py MX_SANDBOX_BINARY SPEC_DIR

Starts the binary on 127.0.0.1:0 with a short --step_ms, sends real HTTP
requests for every successful scenario of both API versions (waiting, by
polling the status, for aggregation steps to pass), and validates each JSON
body against the response schema the spec gives for that operation, version
and status: types, nullable, enums, properties and items, with no key the
schema lacks and every key it lists. The sandbox is killed at the end, even
on failure. Only the standard library and python3-yaml are used.
"""

import base64
import ctypes
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib
import urllib.error
import urllib.request
import uuid

import yaml

CLIENT_ID = "sandbox-client-id"
API_KEY = "sandbox-api-key"
DEMO_USER_ID = "demo-user"
DEMO_USER_GUID = "USR-0d3e5a1b-7c4f-4e2a-9b61-5a2d8c3f7e10"
MXBANK_GUID = "INST-7a3f1c2e-5b4d-4e6f-8a9b-0c1d2e3f4a5b"
USERNAME_GUID = "CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
PASSWORD_GUID = "CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e"
# mxbank's MFA test passwords -> the challenge type each one brings.
CHALLENGE_TYPES = {"challenge": "TEXT", "options": "OPTIONS", "image": "IMAGE_DATA"}
# The sandbox's aggregation step for this test (--step_ms), and the most a
# state change is waited for.
STEP_MS = 40
WAIT_S = 5

V1 = "v20111101"
V2 = "v20250224"
ACCEPT = {V1: "application/vnd.mx.api.v1+json", V2: "application/json"}

# Where MX's wire is known to differ from its own spec, the sandbox follows
# MX. One row per difference: (version, schema, property) -> the schema MX
# actually honours, and why. SpecErrata checks each row still applies, so a
# row is dropped once the spec is fixed.
ERRATA = {
    (V1, "MemberResponse", "most_recent_job_guid"): (
        {"type": "string", "nullable": True},
        "v20111101 types it boolean; MX sends a JOB-... guid (v20250224 "
        "types it string).",
    ),
}

# Where MX's documentation disagrees with its own spec and the wire is
# unverified, the sandbox follows the spec. One row per disagreement:
# (version, schema, property) -> (the spec's type, what the docs show).
# SpecErrata checks each row still describes the spec.
DOCS_DISAGREE = {
    (version, "ChallengeResponse", "type"): (
        "string",
        "MX's MFA guide (docs.mx.com .../mfa) shows \"type\": 0, an integer; "
        "the sandbox sends TEXT / OPTIONS / IMAGE_DATA as the spec's example "
        "does.",
    )
    for version in (V1, V2)
}

# Responses an operation's description promises but its `responses` do not
# declare: (operationId, status) -> the description's words.
UNDECLARED_RESPONSES = {
    ("listMemberChallenges", 204): (
        "\"If the aggregation is not challenged ... then code `204 No "
        "Content` will be returned\"; only 200 is declared."
    ),
}

SANDBOX = None  # (address, process, stderr file), set by main()
BINARY = None  # the mx-sandbox binary, set by main()
SPECS = {}


def load_specs(spec_dir):
    for version in (V1, V2):
        with open(os.path.join(spec_dir, version + ".yml"), encoding="utf-8") as f:
            SPECS[version] = yaml.safe_load(f)


def operation(version, operation_id):
    """(path template, method, operation object) for an operationId."""
    for path, item in SPECS[version]["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return path, method, op
    raise KeyError(f"{version} has no operation {operation_id}")


def response_spec(version, operation_id, status):
    """(media type, schema) the spec declares for a response.

    201 is in MX's docs but not in either saved spec, so until the spec
    declares it, a 201 is held to the 202 schema.
    """
    responses = operation(version, operation_id)[2]["responses"]
    code = str(status)
    if code not in responses and status == 201:
        code = "202"
    content = responses[code]["content"]
    (media_type, body), = content.items()
    return media_type, body["schema"]


class SchemaError(AssertionError):
    pass


def validate(version, schema, value, where="$", schema_name=None):
    """Raises SchemaError unless value conforms to schema (OpenAPI 3.0)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        resolved = SPECS[version]["components"]["schemas"][name]
        return validate(version, resolved, value, where, name)

    if value is None:
        if not schema.get("nullable", False):
            raise SchemaError(f"{where}: null, but the schema is not nullable")
        return
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(f"{where}: {value!r} is not in {schema['enum']}")

    kind = schema.get("type")
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    if kind is None and "properties" in schema:
        kind = "object"
    if kind is not None and not checks[kind](value):
        raise SchemaError(f"{where}: {value!r} is not of type {kind}")

    if kind == "array":
        for i, item in enumerate(value):
            validate(version, schema.get("items", {}), item, f"{where}[{i}]")
    if kind == "object":
        properties = schema.get("properties", {})
        extra = sorted(set(value) - set(properties))
        if extra:
            raise SchemaError(f"{where}: keys the schema lacks: {extra}")
        missing = sorted(set(properties) - set(value))
        if missing:
            raise SchemaError(f"{where}: keys the schema lists are missing: {missing}")
        for key, property_schema in properties.items():
            erratum = ERRATA.get((version, schema_name, key))
            if erratum is not None:
                property_schema = erratum[0]
            validate(version, property_schema, value[key], f"{where}.{key}")


def call(method, path, version, body=None, headers=None):
    """(status, content type, parsed JSON or None) of one MX request.

    body: a dict (sent as JSON) or a str (sent as is). An empty answer, such
    as a 204's, is None; a body that is not JSON fails the test.
    """
    address = SANDBOX[0]
    token = base64.b64encode(f"{CLIENT_ID}:{API_KEY}".encode()).decode()
    if isinstance(body, dict):
        body = json.dumps(body)
    request = urllib.request.Request(
        f"http://{address}{path}",
        method=method,
        data=None if body is None else body.encode(),
        headers={
            "Authorization": f"Basic {token}",
            "Accept-Version": version,
            "Accept": ACCEPT[version],
            "Content-Type": "application/json",
            **(headers or {}),
        },
    )
    status, content_type, raw = fetch(request)
    return status, content_type, json.loads(raw) if raw else None


def fetch(request):
    """(status, content type, body bytes) of a urllib request or URL."""
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return (response.status, response.headers.get("Content-Type"),
                    response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()


def mxbank_member(password="password", **extra):
    return {
        "institution_code": "mxbank",
        "credentials": [
            {"guid": USERNAME_GUID, "value": "mxuser"},
            {"guid": PASSWORD_GUID, "value": password},
        ],
        **extra,
    }


OAUTH_MEMBER = {"institution_code": "mx_bank_oauth", "is_oauth": True}


class SandboxSpecTest(unittest.TestCase):
    def assertConforms(self, version, operation_id, status, content_type, body):
        media_type, schema = response_spec(version, operation_id, status)
        self.assertEqual(content_type, media_type)
        try:
            validate(version, schema, body)
        except SchemaError as error:
            self.fail(f"{version} {operation_id} {status}: {error}\n"
                      f"{json.dumps(body, indent=1)}")

    def user_path(self, version):
        # v20111101's path is /users/{user_guid}.
        return DEMO_USER_GUID if version == V1 else DEMO_USER_ID

    def create_member(self, version, body, expected_status, headers=None):
        status, content_type, answer = call(
            "POST", f"/users/{self.user_path(version)}/members", version, body,
            headers)
        self.assertEqual(status, expected_status, answer)
        self.assertConforms(version, "createMember", status, content_type, answer)
        return answer["member"]

    def member_path(self, version, guid, suffix=""):
        return f"/users/{self.user_path(version)}/members/{guid}{suffix}"

    def read_status(self, version, guid):
        """The member's MemberStatusResponse, validated against the spec."""
        status, content_type, answer = call(
            "GET", self.member_path(version, guid, "/status"), version)
        self.assertEqual(status, 200, answer)
        self.assertConforms(version, "readMemberStatus", status, content_type,
                            answer)
        return answer["member"]

    def wait_for(self, version, guid, wanted):
        """Polls the status until the job's next step has passed."""
        deadline = time.monotonic() + WAIT_S
        while True:
            member = self.read_status(version, guid)
            if member["connection_status"] not in ("CREATED", "RESUMED"):
                break
            if time.monotonic() > deadline:
                self.fail(f"{guid} still {member['connection_status']}")
            time.sleep(STEP_MS / 4000)
        self.assertEqual(member["connection_status"], wanted, member)
        return member

    def challenged_member(self, version, password):
        """(member guid, its one challenge) of a member CHALLENGED by password."""
        created = self.create_member(
            version, {"member": mxbank_member(password)}, 202)
        member = self.wait_for(version, created["guid"], "CHALLENGED")
        self.assertEqual(len(member["challenges"]), 1, member)
        return created["guid"], member["challenges"][0]


class CreateMember(SandboxSpecTest):
    def test_aggregating_member_is_202_in_both_versions(self):
        for version in (V1, V2):
            with self.subTest(version=version):
                member = self.create_member(version, {
                    "member": mxbank_member(id=f"m-{uuid.uuid4()}",
                                            metadata="spec test",
                                            use_cases=["PFM"]),
                }, 202, {"X-CALLBACK-PAYLOAD": "dHJhY2U6c3BlYw=="})
                self.assertEqual(member["connection_status"], "CREATED")
                self.assertTrue(member["is_being_aggregated"])
                self.assertTrue(member["most_recent_job_guid"].startswith("JOB-"))
                self.assertRegex(member["aggregated_at"],
                                 r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$")
                self.assertIsNone(member["successfully_aggregated_at"])
                self.assertIsNone(member["oauth_window_uri"])

    def test_supported_products_are_202(self):
        self.create_member(V2, {
            "member": mxbank_member(),
            "data_request": {"products": ["transactions", "account_verification"]},
        }, 202)

    def test_unsupported_product_is_201_held_to_the_202_schema(self):
        member = self.create_member(V2, {
            "member": mxbank_member(),
            "data_request": {"products": ["transactions", "investments"]},
        }, 201)
        self.assertFalse(member["is_being_aggregated"])

    def test_oauth_member_is_200_in_both_versions(self):
        for version in (V1, V2):
            with self.subTest(version=version):
                member = self.create_member(
                    version, {"member": OAUTH_MEMBER, "referral_source": "APP",
                              "client_redirect_url": "https://app.example/cb"},
                    200)
                self.assertEqual(member["connection_status"], "PENDING")
                self.assertEqual(
                    member["oauth_window_uri"],
                    f"http://{SANDBOX[0]}/oauth/authorize/{member['guid']}")

    def test_v1_skip_aggregation_is_200(self):
        member = self.create_member(
            V1, {"member": mxbank_member(skip_aggregation=True)}, 200)
        self.assertFalse(member["is_being_aggregated"])
        self.assertIsNone(member["most_recent_job_guid"])


class ReadMember(SandboxSpecTest):
    def test_read_member_as_created_in_both_versions(self):
        # Members whose state does not move: no job (200, 201) or PENDING.
        cases = [(V1, {"member": mxbank_member(skip_aggregation=True)}, 200),
                 (V1, {"member": OAUTH_MEMBER}, 200),
                 (V2, {"member": OAUTH_MEMBER}, 200),
                 (V2, {"member": mxbank_member(),
                       "data_request": {"products": ["rewards"]}}, 201)]
        for version, body, created_status in cases:
            with self.subTest(version=version, status=created_status):
                created = self.create_member(version, body, created_status)
                status, content_type, answer = call(
                    "GET", self.member_path(version, created["guid"]), version)
                self.assertEqual(status, 200, answer)
                self.assertConforms(version, "readMember", status, content_type,
                                    answer)
                self.assertEqual(answer["member"], created)

    def test_read_member_after_connecting_in_both_versions(self):
        for version in (V1, V2):
            with self.subTest(version=version):
                created = self.create_member(
                    version, {"member": mxbank_member()}, 202)
                self.wait_for(version, created["guid"], "CONNECTED")
                status, content_type, answer = call(
                    "GET", self.member_path(version, created["guid"]), version)
                self.assertEqual(status, 200, answer)
                self.assertConforms(version, "readMember", status, content_type,
                                    answer)
                member = answer["member"]
                self.assertEqual(member["connection_status"], "CONNECTED")
                self.assertFalse(member["is_being_aggregated"])
                self.assertEqual(member["connection_status_message"],
                                 "Connected to MX Bank.")
                self.assertRegex(member["successfully_aggregated_at"],
                                 r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$")


class ReadMemberStatus(SandboxSpecTest):
    def test_created_and_pending_members(self):
        for version in (V1, V2):
            with self.subTest(version=version):
                oauth = self.create_member(version, {"member": OAUTH_MEMBER}, 200)
                member = self.read_status(version, oauth["guid"])
                self.assertEqual(member["connection_status"], "PENDING")
                self.assertIsNone(member["aggregated_at"])
                self.assertEqual(member["challenges"], [])
        skipped = self.create_member(
            V1, {"member": mxbank_member(skip_aggregation=True)}, 200)
        member = self.read_status(V1, skipped["guid"])
        self.assertEqual(member["connection_status"], "CREATED")
        self.assertFalse(member["is_being_aggregated"])

    def test_connected_in_both_versions(self):
        for version in (V1, V2):
            with self.subTest(version=version):
                created = self.create_member(
                    version, {"member": mxbank_member()}, 202)
                member = self.wait_for(version, created["guid"], "CONNECTED")
                self.assertFalse(member["is_being_aggregated"])
                self.assertTrue(member["is_authenticated"])
                self.assertTrue(member["has_processed_accounts"])
                self.assertEqual(member["challenges"], [])
                self.assertEqual(member["aggregated_at"], created["aggregated_at"])
                self.assertIsNotNone(member["successfully_aggregated_at"])

    def test_challenged_by_each_type_in_both_versions(self):
        for version in (V1, V2):
            for password, challenge_type in CHALLENGE_TYPES.items():
                with self.subTest(version=version, password=password):
                    _, challenge = self.challenged_member(version, password)
                    self.assertEqual(challenge["type"], challenge_type)
                    self.assertRegex(challenge["guid"], r"^CRD-")
                    self.assertTrue(challenge["label"])
                    if challenge_type == "OPTIONS":
                        values = [o["value"] for o in challenge["options"]]
                        self.assertGreaterEqual(len(values), 2)
                        self.assertIn("correct", values)
                    if challenge_type == "IMAGE_DATA":
                        assert_png_data_uri(self, challenge["image_data"])

    def test_failed_and_denied(self):
        for version in (V1, V2):
            with self.subTest(version=version):
                failed = self.create_member(
                    version, {"member": mxbank_member("BAD_REQUEST")}, 202)
                self.wait_for(version, failed["guid"], "FAILED")
                member = mxbank_member()
                member["credentials"][0]["value"] = "someone"
                denied = self.create_member(version, {"member": member}, 202)
                self.wait_for(version, denied["guid"], "DENIED")


class ListMemberChallenges(SandboxSpecTest):
    def test_challenged_members_in_both_versions(self):
        for version in (V1, V2):
            for password in CHALLENGE_TYPES:
                with self.subTest(version=version, password=password):
                    guid, challenge = self.challenged_member(version, password)
                    status, content_type, answer = call(
                        "GET", self.member_path(version, guid, "/challenges"),
                        version)
                    self.assertEqual(status, 200, answer)
                    self.assertConforms(version, "listMemberChallenges", status,
                                        content_type, answer)
                    self.assertEqual(answer["challenges"], [challenge])
                    self.assertEqual(answer["pagination"]["total_entries"], 1)

    def test_not_challenged_is_204_with_no_body(self):
        self.assertIn(("listMemberChallenges", 204), UNDECLARED_RESPONSES)
        for version in (V1, V2):
            with self.subTest(version=version):
                created = self.create_member(
                    version, {"member": mxbank_member()}, 202)
                self.wait_for(version, created["guid"], "CONNECTED")
                status, _, answer = call(
                    "GET", self.member_path(version, created["guid"],
                                            "/challenges"), version)
                self.assertEqual(status, 204)
                self.assertIsNone(answer)


class ResumeAggregation(SandboxSpecTest):
    def resume(self, version, guid, challenge_guid, value):
        status, content_type, answer = call(
            "PUT", self.member_path(version, guid, "/resume"), version,
            {"member": {"challenges": [{"guid": challenge_guid, "value": value}]}})
        self.assertEqual(status, 202, answer)
        self.assertConforms(version, "resumeAggregation", status, content_type,
                            answer)
        self.assertEqual(answer["member"]["connection_status"], "RESUMED")
        self.assertTrue(answer["member"]["is_being_aggregated"])
        return answer["member"]

    def test_right_answer_connects_in_both_versions(self):
        for version in (V1, V2):
            for password in CHALLENGE_TYPES:
                with self.subTest(version=version, password=password):
                    guid, challenge = self.challenged_member(version, password)
                    self.resume(version, guid, challenge["guid"], "correct")
                    member = self.wait_for(version, guid, "CONNECTED")
                    self.assertEqual(member["challenges"], [])

    def test_wrong_answer_is_denied_and_challenge_follows_up(self):
        for version in (V1, V2):
            with self.subTest(version=version):
                guid, challenge = self.challenged_member(version, "options")
                self.resume(version, guid, challenge["guid"], "incorrect")
                self.wait_for(version, guid, "DENIED")

                guid, challenge = self.challenged_member(version, "challenge")
                self.resume(version, guid, challenge["guid"], "challenge")
                follow_up = self.wait_for(version, guid, "CHALLENGED")
                self.assertEqual(follow_up["challenges"][0]["type"], "TEXT")
                self.assertNotEqual(follow_up["challenges"][0]["guid"],
                                    challenge["guid"])

    def test_refusals(self):
        created = self.create_member(V2, {"member": mxbank_member()}, 202)
        self.wait_for(V2, created["guid"], "CONNECTED")
        status, _, answer = call(
            "PUT", self.member_path(V2, created["guid"], "/resume"), V2,
            {"member": {"challenges": []}})
        self.assertEqual(status, 405, answer)
        self.assertEqual(set(answer), {"error"})

        guid, _ = self.challenged_member(V2, "image")
        status, _, answer = call(
            "PUT", self.member_path(V2, guid, "/resume"), V2, "not json")
        self.assertEqual(status, 400, answer)
        self.assertEqual(set(answer), {"error"})


class OauthWindow(SandboxSpecTest):
    def test_authorizing_connects_in_both_versions(self):
        for version in (V1, V2):
            with self.subTest(version=version):
                created = self.create_member(version, {"member": OAUTH_MEMBER}, 200)
                status, content_type, page = fetch(created["oauth_window_uri"])
                self.assertEqual(status, 200)
                self.assertEqual(content_type, "text/html")
                self.assertIn(b"Authorized; you can close this window.", page)
                member = self.wait_for(version, created["guid"], "CONNECTED")
                self.assertIsNotNone(member["aggregated_at"])
                self.assertEqual(fetch(created["oauth_window_uri"])[0], 410)
        self.assertEqual(
            fetch(f"http://{SANDBOX[0]}/oauth/authorize/MBR-none")[0], 404)


class DeleteMember(SandboxSpecTest):
    def test_delete_is_204_then_404_in_both_versions(self):
        for version in (V1, V2):
            with self.subTest(version=version):
                responses = operation(version, "deleteMember")[2]["responses"]
                self.assertEqual(list(responses), ["204"])
                self.assertNotIn("content", responses["204"])
                created = self.create_member(
                    version, {"member": mxbank_member()}, 202)
                path = self.member_path(version, created["guid"])
                status, content_type, answer = call("DELETE", path, version)
                self.assertEqual(status, 204)
                self.assertIsNone(answer)
                self.assertIsNone(content_type)
                for suffix in ("", "/status", "/challenges"):
                    self.assertEqual(call("GET", path + suffix, version),
                                     (404, "application/json",
                                      {"error": {"message": "Member not found."}}))


class Control(unittest.TestCase):
    def test_stats_keys(self):
        status, _, stats = fetch(f"http://{SANDBOX[0]}/_sandbox/stats")
        self.assertEqual(status, 200)
        self.assertEqual(sorted(json.loads(stats)),
                         ["members_created", "members_deleted", "requests",
                          "status_requests"])

    def test_help_documents_step_ms(self):
        result = subprocess.run([BINARY, "--help"], capture_output=True,
                                text=True, timeout=10)
        self.assertIn("--step_ms", result.stdout + result.stderr)


class Faults(unittest.TestCase):
    """The control endpoint of sandbox/fault_injection.h, on the binary."""

    def control(self, method, rules=None):
        request = urllib.request.Request(
            f"http://{SANDBOX[0]}/_sandbox/faults", method=method,
            data=None if rules is None else rules.encode(),
            headers={"Content-Type": "application/json"})
        status, _, body = fetch(request)
        return status, json.loads(body)

    def tearDown(self):
        self.control("DELETE")

    def test_an_http_error_rule_answers_mx_error_shape_and_creates_nothing(self):
        created = json.loads(fetch(f"http://{SANDBOX[0]}/_sandbox/stats")[2])
        self.assertEqual(self.control("POST", json.dumps([
            {"fault": "http_error", "status": 503, "retry_after_s": 4,
             "method": "POST", "path_prefix": "/users/", "count": 1}])),
            (200, {"rules": 1, "injected": 0}))
        body = {"member": mxbank_member()}
        token = base64.b64encode(f"{CLIENT_ID}:{API_KEY}".encode()).decode()
        request = urllib.request.Request(
            f"http://{SANDBOX[0]}/users/{DEMO_USER_ID}/members", method="POST",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Basic {token}", "Accept-Version": V2,
                     "Accept": ACCEPT[V2], "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=10)
            self.fail("expected HTTP 503")
        except urllib.error.HTTPError as error:
            self.assertEqual(error.code, 503)
            self.assertEqual(error.headers.get("Retry-After"), "4")
            self.assertEqual(json.loads(error.read()), {"error": {
                "message": "The service is temporarily unavailable."}})
        self.assertEqual(self.control("GET"), (200, {"rules": 0, "injected": 1}))
        # count 1: the next create goes through.
        self.assertEqual(call("POST", f"/users/{DEMO_USER_ID}/members", V2,
                              body)[0], 202)
        after = json.loads(fetch(f"http://{SANDBOX[0]}/_sandbox/stats")[2])
        self.assertEqual(after["members_created"], created["members_created"] + 1)

    def test_bad_rules_are_refused_naming_the_rule(self):
        status, body = self.control(
            "POST", '[{"fault":"latency","latency_ms":5},{"fault":"boom"}]')
        self.assertEqual(status, 400)
        self.assertEqual(body, {"error": {"message": "rule 1: unknown fault 'boom'"}})
        self.assertEqual(self.control("GET")[1]["rules"], 0)

    def test_help_documents_faults(self):
        result = subprocess.run([BINARY, "--help"], capture_output=True,
                                text=True, timeout=10)
        self.assertIn("--faults", result.stdout + result.stderr)

    def test_bad_faults_flag_is_a_usage_error(self):
        result = subprocess.run([BINARY, "--listen=127.0.0.1:0",
                                 '--faults=[{"fault":"nope"}]'],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--faults: rule 0: unknown fault", result.stderr)


def assert_png_data_uri(test, uri):
    """The challenge image: a data URI of a PNG whose chunks' CRCs hold."""
    prefix = "data:image/png;base64,"
    test.assertTrue(uri.startswith(prefix), uri[:40])
    png = base64.b64decode(uri[len(prefix):], validate=True)
    test.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
    at, kinds = 8, []
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, data = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length:at + 12 + length])
        test.assertEqual(zlib.crc32(kind + data), crc, kind)
        kinds.append(kind)
        at += 12 + length
    test.assertEqual((kinds[0], kinds[-1]), (b"IHDR", b"IEND"))


class CreateUser(SandboxSpecTest):
    def test_create_user_in_both_versions(self):
        for version in (V1, V2):
            with self.subTest(version=version):
                user_id = f"u-{uuid.uuid4()}"
                status, content_type, answer = call(
                    "POST", "/users", version,
                    {"user": {"id": user_id, "email": "spec@example.com",
                              "metadata": "{}"}})
                self.assertEqual(status, 200, answer)
                self.assertConforms(version, "createUser", status, content_type,
                                    answer)
                self.assertEqual(answer["user"]["id"], user_id)
                self.assertEqual(call("POST", "/users", version,
                                      {"user": {"id": user_id}})[0], 409)


class ListInstitutionCredentials(SandboxSpecTest):
    def test_credentials_in_both_versions(self):
        cases = [(V1, "mxbank", ""), (V2, "mxbank", ""), (V2, MXBANK_GUID, ""),
                 (V1, "mx_bank_oauth", ""), (V2, "mxbank", "?page=2&records_per_page=1")]
        for version, institution, query in cases:
            with self.subTest(version=version, institution=institution,
                              query=query):
                status, content_type, answer = call(
                    "GET", f"/institutions/{institution}/credentials{query}",
                    version)
                self.assertEqual(status, 200, answer)
                self.assertConforms(version, "listInstitutionCredentials",
                                    status, content_type, answer)

    def test_unknown_institution_is_404(self):
        status, _, answer = call("GET", "/institutions/nobank/credentials", V2)
        self.assertEqual(status, 404)
        self.assertEqual(answer, {"error": {"message": "Institution not found."}})


class SpecErrata(unittest.TestCase):
    def test_each_erratum_still_differs_from_the_spec(self):
        for (version, schema, key), (honoured, reason) in ERRATA.items():
            with self.subTest(version=version, schema=schema, key=key):
                spec = SPECS[version]["components"]["schemas"][schema]
                self.assertNotEqual(spec["properties"][key]["type"],
                                    honoured["type"],
                                    f"spec fixed; drop the erratum ({reason})")

    def test_each_docs_disagreement_still_describes_the_spec(self):
        for (version, schema, key), (spec_type, docs) in DOCS_DISAGREE.items():
            with self.subTest(version=version, schema=schema, key=key):
                spec = SPECS[version]["components"]["schemas"][schema]
                self.assertEqual(spec["properties"][key]["type"], spec_type,
                                 f"spec changed; re-check the sandbox ({docs})")

    def test_each_undeclared_response_is_still_undeclared(self):
        for (operation_id, status), words in UNDECLARED_RESPONSES.items():
            for version in (V1, V2):
                with self.subTest(version=version, operation=operation_id):
                    responses = operation(version, operation_id)[2]["responses"]
                    self.assertNotIn(str(status), responses,
                                     f"spec declares it now; validate it ({words})")


class Validator(unittest.TestCase):
    """The validator itself catches drift, so a pass means something."""

    def create(self):
        status, _, answer = call("POST", f"/users/{DEMO_USER_ID}/members", V2,
                                 {"member": mxbank_member()})
        self.assertEqual(status, 202)
        return answer

    def test_rejects_extra_missing_null_and_mistyped_keys(self):
        _, schema = response_spec(V2, "createMember", 202)
        validate(V2, schema, self.create())
        mutations = {
            "extra key": lambda m: m.update(error={"message": "x"}),
            "missing key": lambda m: m.pop("user_id"),
            "null where not nullable": lambda m: m.update(institution_guid=None),
            "wrong type": lambda m: m.update(is_oauth="false"),
            "not in enum": lambda m: m.update(connection_status="WAITING"),
            "bad array item": lambda m: m.update(use_cases=["SAVINGS"]),
        }
        for name, mutate in mutations.items():
            with self.subTest(name):
                body = self.create()
                mutate(body["member"])
                with self.assertRaises(SchemaError):
                    validate(V2, schema, body)

    def test_rejects_status_drift(self):
        _, schema = response_spec(V2, "readMemberStatus", 200)
        status, _, created = call("POST", f"/users/{DEMO_USER_ID}/members", V2,
                                  {"member": mxbank_member("options")})
        self.assertEqual(status, 202)
        path = f"/users/{DEMO_USER_ID}/members/{created['member']['guid']}/status"
        body = call("GET", path, V2)[2]
        validate(V2, schema, body)
        mutations = {
            "missing challenges": lambda m: m.pop("challenges"),
            "member's key": lambda m: m.update(connection_status_message=None),
            "integer challenge type": lambda m: m.update(
                challenges=[{"field_name": None, "guid": "CRD-x",
                             "image_data": None, "image_options": [],
                             "label": "x", "options": [], "type": 0}]),
            "option without value": lambda m: m.update(
                challenges=[{"field_name": None, "guid": "CRD-x",
                             "image_data": None, "image_options": [],
                             "label": "x", "options": [{"guid": "g", "label": "l"}],
                             "type": "OPTIONS"}]),
        }
        for name, mutate in mutations.items():
            with self.subTest(name):
                mutated = json.loads(json.dumps(body))
                mutate(mutated["member"])
                with self.assertRaises(SchemaError):
                    validate(V2, schema, mutated)


def die_with_parent():
    """Linux: the sandbox gets SIGKILL if this test is killed (e.g. timeout)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)


def start_sandbox(binary):
    stderr = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [binary, "--listen=127.0.0.1:0", f"--step_ms={STEP_MS}"],
        stdout=subprocess.PIPE,
        stderr=stderr, text=True, preexec_fn=die_with_parent)
    line = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()))
    reader.start()
    reader.join(timeout=10)
    first = line[0].strip() if line else ""
    if not first.startswith("listening on "):
        process.kill()
        process.wait()
        stderr.seek(0)
        raise RuntimeError(f"mx-sandbox did not start: {first!r} {stderr.read()}")
    return first[len("listening on "):], process, stderr


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    binary, spec_dir = sys.argv[1], sys.argv[2]
    load_specs(spec_dir)
    global SANDBOX, BINARY
    BINARY = binary
    SANDBOX = start_sandbox(binary)
    try:
        result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    finally:
        _, process, stderr = SANDBOX
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if not result.wasSuccessful():
        stderr.seek(0)
        print("mx-sandbox log:\n" + stderr.read(), file=sys.stderr)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
