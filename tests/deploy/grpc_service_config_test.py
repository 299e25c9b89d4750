#!/usr/bin/python3
"""Checks deploy/grpc_service_config.json, as written and as gRPC runs it.

Read: every retry policy retries UNAVAILABLE and nothing else, retries are
throttled, and each name is a method of mx.platform.v1.MemberService.
Run: Debian's grpcio loads the file into a channel to a stand-in server
whose answers are chosen per test, and the attempts the server sees show
which codes are retried, and that a watch which already sent a message is
not.

Usage: grpc_service_config_test.py SOURCE_DIR
"""
import json
import os
import re
import sys
import threading
import unittest
from concurrent import futures

import grpc

SOURCE_DIR = sys.argv[1]
CONFIG_PATH = os.path.join(SOURCE_DIR, "deploy", "grpc_service_config.json")
PROTO_PATH = os.path.join(SOURCE_DIR, "proto", "mx", "platform", "v1", "member_service.proto")
SERVICE = "mx.platform.v1.MemberService"
CREATE = f"/{SERVICE}/CreateMember"
WATCH = f"/{SERVICE}/WatchMemberStatus"


def read_config():
    with open(CONFIG_PATH, encoding="utf-8") as config:
        return json.load(config)


class ConfigAsWritten(unittest.TestCase):
    def setUp(self):
        self.config = read_config()

    def test_only_unavailable_is_retried(self):
        policies = [method["retryPolicy"] for method in self.config["methodConfig"]
                    if "retryPolicy" in method]
        self.assertTrue(policies)
        for policy in policies:
            self.assertEqual(policy["retryableStatusCodes"], ["UNAVAILABLE"])

    def test_retries_are_throttled(self):
        throttling = self.config["retryThrottling"]
        self.assertGreater(throttling["maxTokens"], 0)
        self.assertGreater(throttling["tokenRatio"], 0)

    def test_unary_calls_time_out_after_mxgate_answers(self):
        # mxgate bounds each MX call by --mx_timeout_ms (default 15 s) and
        # answers DEADLINE_EXCEEDED itself; the client's bound is a backstop.
        (service_wide,) = [method for method in self.config["methodConfig"]
                           if method["name"] == [{"service": SERVICE}]]
        self.assertRegex(service_wide["timeout"], r"^\d+(\.\d+)?s$")
        self.assertGreater(float(service_wide["timeout"][:-1]), 15)

    def test_a_watch_has_no_timeout(self):
        # A watch lasts until the member settles or the caller's own deadline.
        (watch,) = [method for method in self.config["methodConfig"]
                    if {"service": SERVICE, "method": "WatchMemberStatus"} in method["name"]]
        self.assertNotIn("timeout", watch)

    def test_names_are_methods_of_the_member_service(self):
        with open(PROTO_PATH, encoding="utf-8") as proto:
            methods = set(re.findall(r"^\s*rpc (\w+)\(", proto.read(), re.M))
        for method_config in self.config["methodConfig"]:
            for name in method_config["name"]:
                self.assertEqual(name["service"], SERVICE)
                if "method" in name:
                    self.assertIn(name["method"], methods)


class StandIn:
    """A server for CreateMember and WatchMemberStatus that counts attempts
    and answers what `answer(attempt, context)` says."""

    def __init__(self, answer):
        self.attempts = []
        self._lock = threading.Lock()

        def record(context):
            with self._lock:
                self.attempts.append(dict(context.invocation_metadata()).get(
                    "grpc-previous-rpc-attempts"))
                return len(self.attempts)

        def create(request, context):
            return answer(record(context), context) or b""

        def watch(request, context):
            yield from answer(record(context), context) or ()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {
            "CreateMember": grpc.unary_unary_rpc_method_handler(create),
            "WatchMemberStatus": grpc.unary_stream_rpc_method_handler(watch)})])
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()
        self.channel = channel_to(self.address)

    def close(self):
        self.channel.close()
        self.server.stop(None)


def channel_to(target):
    """A channel with the shipped service config, as every client should use."""
    with open(CONFIG_PATH, encoding="utf-8") as config:
        return grpc.insecure_channel(target, options=[
            ("grpc.service_config", config.read()), ("grpc.enable_retries", 1)])


def fail_with(code):
    def answer(attempt, context):
        context.abort(code, f"attempt {attempt}")
    return answer


class ConfigAsGrpcRunsIt(unittest.TestCase):
    def stand_in(self, answer):
        stand_in = StandIn(answer)
        self.addCleanup(stand_in.close)
        return stand_in

    def max_attempts(self):
        return read_config()["methodConfig"][0]["retryPolicy"]["maxAttempts"]

    def create(self, stand_in):
        call = stand_in.channel.unary_unary(CREATE)
        with self.assertRaises(grpc.RpcError) as raised:
            call(b"")
        return raised.exception.code()

    def test_unavailable_create_member_is_retried_up_to_max_attempts(self):
        stand_in = self.stand_in(fail_with(grpc.StatusCode.UNAVAILABLE))
        self.assertEqual(self.create(stand_in), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(stand_in.attempts,
                         [None] + [str(n) for n in range(1, self.max_attempts())])

    def test_unavailable_then_ok_is_ok(self):
        def answer(attempt, context):
            if attempt == 1:
                context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        stand_in = self.stand_in(answer)
        self.assertEqual(stand_in.channel.unary_unary(CREATE)(b""), b"")
        self.assertEqual(len(stand_in.attempts), 2)

    def test_other_codes_are_not_retried(self):
        # UNKNOWN and DEADLINE_EXCEEDED: MX may have acted on the call.
        for code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED,
                     grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL,
                     grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ALREADY_EXISTS):
            with self.subTest(code=code):
                stand_in = self.stand_in(fail_with(code))
                self.assertEqual(self.create(stand_in), code)
                self.assertEqual(len(stand_in.attempts), 1)

    def test_throttling_stops_retries_when_calls_keep_failing(self):
        stand_in = self.stand_in(fail_with(grpc.StatusCode.UNAVAILABLE))
        for _ in range(3):
            self.create(stand_in)
        # The first call's failed attempts spent the tokens retries need.
        self.assertEqual(stand_in.attempts[self.max_attempts():], [None, None])

    def test_unavailable_after_response_headers_is_not_retried(self):
        # gRPC commits a call once response headers arrive (gRFC A6): a
        # server's UNAVAILABLE is retried only when sent trailers-only,
        # without initial metadata before it.
        def answer(attempt, context):
            context.send_initial_metadata((("x-request-id", "an-id"),))
            context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        stand_in = self.stand_in(answer)
        self.assertEqual(self.create(stand_in), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(len(stand_in.attempts), 1)

    def test_calls_go_round_robin_over_every_address(self):
        # As over the addresses of a headless Service's DNS name.
        stand_ins = [self.stand_in(lambda attempt, context: None) for _ in range(2)]
        with channel_to("ipv4:" + ",".join(s.address for s in stand_ins)) as channel:
            for _ in range(20):
                channel.unary_unary(CREATE)(b"", wait_for_ready=True)
        # pick_first, gRPC's default, would send all 20 to one address.
        self.assertNotIn(0, [len(s.attempts) for s in stand_ins])

    def test_a_watch_refused_at_once_is_retried(self):
        stand_in = self.stand_in(fail_with(grpc.StatusCode.UNAVAILABLE))
        with self.assertRaises(grpc.RpcError):
            list(stand_in.channel.unary_stream(WATCH)(b""))
        self.assertEqual(len(stand_in.attempts), self.max_attempts())

    def test_a_watch_cut_after_a_message_is_not_retried(self):
        # gRPC commits a call once a response arrives; the caller watches again.
        def answer(attempt, context):
            yield b""
            context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        stand_in = self.stand_in(answer)
        with self.assertRaises(grpc.RpcError):
            list(stand_in.channel.unary_stream(WATCH)(b""))
        self.assertEqual(len(stand_in.attempts), 1)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
