#!/usr/bin/env python3
"""Runs the README's "Calling it" examples against a live mxgate + mx-sandbox.

Every ```sh block of that section is run with the gateway's real address in
place of 127.0.0.1:50051: it must exit 0, unless the next fenced block is an
error's JSON (its first key is "code"), in which case it must exit 1 and print
exactly that JSON on stderr. In the OK case stdout must be non-empty, and
valid JSON when it looks like JSON.

Usage: readme_examples_test.py SOURCE_DIR BIN_DIR
"""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from live_process import start, stop  # noqa: E402

SOURCE_DIR, BIN_DIR = sys.argv[1], sys.argv[2]
README_ADDRESS = "127.0.0.1:50051"


def calling_it_examples():
    """[(command, expected_error_json or None)] from the README's section."""
    with open(os.path.join(SOURCE_DIR, "README.md"), encoding="utf-8") as readme:
        text = readme.read()
    section = text.split("## Calling it", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    examples = []
    for i, (language, body) in enumerate(blocks):
        if language != "sh":
            continue
        expected = None
        if i + 1 < len(blocks) and blocks[i + 1][0] == "json":
            parsed = json.loads(blocks[i + 1][1])
            if "code" in parsed:
                expected = blocks[i + 1][1]
        for command in body.replace("\\\n", " ").strip().splitlines():
            examples.append((command, expected))
    return examples


class ReadmeExamples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sandbox, sandbox_address = start(
            [os.path.join(BIN_DIR, "mx-sandbox"), "--listen=127.0.0.1:0"])
        env = dict(os.environ, MX_CLIENT_ID="sandbox-client-id",
                   MX_API_KEY="sandbox-api-key")
        cls.gateway, cls.address = start(
            [os.path.join(BIN_DIR, "mxgate"), "--listen=127.0.0.1:0",
             f"--mx_base_url=http://{sandbox_address}", "--drain_timeout_ms=100"], env)

    @classmethod
    def tearDownClass(cls):
        for proc in (cls.gateway, cls.sandbox):
            stop(proc)

    def test_every_example_does_what_the_readme_says(self):
        examples = calling_it_examples()
        self.assertGreaterEqual(len(examples), 5, "the README lost its examples")
        for command, expected_error in examples:
            with self.subTest(command=command):
                command = command.replace(README_ADDRESS, self.address)
                result = subprocess.run(command, shell=True, cwd=SOURCE_DIR, text=True,
                                        capture_output=True, timeout=60)
                if expected_error is None:
                    self.assertEqual(result.returncode, 0, result.stderr)
                    self.assertTrue(result.stdout.strip(), "no output")
                    if result.stdout.startswith("{"):
                        json.loads(result.stdout)  # a response prints as JSON
                else:
                    self.assertEqual(result.returncode, 1, result.stderr)
                    self.assertEqual(result.stderr, expected_error)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
