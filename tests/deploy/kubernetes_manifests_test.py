#!/usr/bin/python3
"""Checks deploy/kubernetes/ against the mxgate binary and against itself.

Every flag in the container's args is one `mxgate --helpfull` lists, and the
args start the real binary; probes are gRPC on the serving port, liveness on
health service "" and readiness on mx.platform.v1.MemberService; the MX
credentials come from a Secret; the grace period outlasts preStop plus the
drain; the drain outlasts the longest unary call; the Services, the PDB and
the HPA select or target the Deployment's pods.

Usage: kubernetes_manifests_test.py SOURCE_DIR BIN_DIR
"""
import os
import re
import subprocess
import sys
import unittest

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from live_process import start, stop  # noqa: E402

SOURCE_DIR, BIN_DIR = sys.argv[1], sys.argv[2]
MANIFESTS = os.path.join(SOURCE_DIR, "deploy", "kubernetes")
MXGATE = os.path.join(BIN_DIR, "mxgate")
READINESS_SERVICE = "mx.platform.v1.MemberService"


def load(name):
    with open(os.path.join(MANIFESTS, name), encoding="utf-8") as manifest:
        return [document for document in yaml.safe_load_all(manifest) if document]


def mxgate_flags():
    """{flag name: default as printed} from `mxgate --helpfull`. (`--help`
    lists only flags defined in a file named after the binary, and mxgate's
    are in service/main.cc, so it lists none.)"""
    result = subprocess.run([MXGATE, "--helpfull"], capture_output=True, text=True, timeout=30)
    return {match[1]: match[2].strip('"') for match in re.finditer(
        r"^    --(\w+) \(.*?\);\s+default: (.*?);$", result.stdout + result.stderr, re.S | re.M)}


def parse_args(args):
    """{flag name: value} of `--name=value` args; fails on any other form."""
    flags = {}
    for arg in args:
        match = re.fullmatch(r"--(\w+)=(.*)", arg)
        if match is None:
            raise AssertionError(f"container arg not in --name=value form: {arg!r}")
        flags[match[1]] = match[2]
    return flags


def port_of(address):
    return int(address.rsplit(":", 1)[1])


class KubernetesManifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        (cls.deployment,) = load("deployment.yaml")
        cls.services = load("service.yaml")
        (cls.pdb,) = load("pdb.yaml")
        (cls.hpa,) = load("hpa.yaml")
        cls.pod = cls.deployment["spec"]["template"]
        (cls.container,) = cls.pod["spec"]["containers"]
        cls.flags = parse_args(cls.container["args"])
        cls.known_flags = mxgate_flags()
        cls.ports = {port["name"]: port["containerPort"] for port in cls.container["ports"]}

    def flag(self, name):
        """The flag's value in the args, else mxgate's default."""
        return self.flags.get(name, self.known_flags[name])

    def test_helpfull_is_parsed(self):
        self.assertIn("drain_timeout_ms", self.known_flags)  # else the parsing broke

    def test_every_flag_is_one_mxgate_has(self):
        self.assertEqual(set(self.flags) - set(self.known_flags), set())

    def test_the_args_start_mxgate(self):
        # The same args, on loopback ports chosen at run time.
        flags = dict(self.flags, listen="127.0.0.1:0", metrics_listen="127.0.0.1:0")
        env = dict(os.environ, MX_CLIENT_ID="client-id", MX_API_KEY="api-key")
        gateway, _ = start([MXGATE] + [f"--{name}={value}" for name, value in flags.items()],
                           env)
        self.assertEqual(stop(gateway), 0)

    def test_deployment_runs_three_replicas(self):
        self.assertEqual(self.deployment["spec"]["replicas"], 3)
        self.assertEqual(self.deployment["spec"]["selector"]["matchLabels"].items()
                         - self.pod["metadata"]["labels"].items(), set())

    def test_ports_are_the_listen_addresses(self):
        self.assertEqual(self.ports["grpc"], port_of(self.flags["listen"]))
        self.assertEqual(self.ports["metrics"], port_of(self.flags["metrics_listen"]))
        self.assertTrue(self.flags["listen"].startswith("0.0.0.0:"), "unreachable from the pod IP")
        self.assertTrue(self.flags["metrics_listen"].startswith("0.0.0.0:"))

    def test_prometheus_scrapes_the_metrics_port(self):
        annotations = self.pod["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/scrape"], "true")
        self.assertEqual(annotations["prometheus.io/port"], str(self.ports["metrics"]))
        self.assertEqual(annotations["prometheus.io/path"], "/metrics")

    def test_liveness_is_grpc_health_of_the_whole_server(self):
        probe = self.container["livenessProbe"]
        self.assertEqual(probe["grpc"]["port"], self.ports["grpc"])
        self.assertEqual(probe["grpc"].get("service", ""), "")
        self.assertEqual(set(probe) & {"httpGet", "tcpSocket", "exec"}, set())

    def test_readiness_is_grpc_health_of_the_member_service(self):
        probe = self.container["readinessProbe"]
        self.assertEqual(probe["grpc"], {"port": self.ports["grpc"],
                                         "service": READINESS_SERVICE})
        self.assertEqual(set(probe) & {"httpGet", "tcpSocket", "exec"}, set())

    def test_mx_credentials_come_from_a_secret(self):
        env = {variable["name"]: variable for variable in self.container["env"]}
        for name in ("MX_CLIENT_ID", "MX_API_KEY"):
            with self.subTest(name=name):
                self.assertNotIn("value", env[name])
                self.assertEqual(set(env[name]["valueFrom"]["secretKeyRef"]), {"name", "key"})
        self.assertNotIn("mx_credentials_file", self.flags)

    def test_grace_period_outlasts_pre_stop_and_drain(self):
        command = self.container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertRegex(command[0], r"(^|/)sleep$")
        pre_stop_seconds = float(command[1])
        drain_seconds = int(self.flag("drain_timeout_ms")) / 1000
        self.assertGreater(self.pod["spec"]["terminationGracePeriodSeconds"],
                           pre_stop_seconds + drain_seconds)

    def test_drain_outlasts_the_longest_unary_call(self):
        # Else a call in flight at SIGTERM may be cut (CANCELLED) by the drain.
        self.assertGreaterEqual(int(self.flag("drain_timeout_ms")),
                                int(self.flag("mx_timeout_ms")))

    def test_runs_as_non_root_read_only_without_privilege_escalation(self):
        pod_context = self.pod["spec"].get("securityContext", {})
        context = self.container["securityContext"]
        self.assertTrue(context.get("runAsNonRoot", pod_context.get("runAsNonRoot")))
        self.assertNotEqual(context.get("runAsUser", pod_context.get("runAsUser")), 0)
        self.assertIs(context["readOnlyRootFilesystem"], True)
        self.assertIs(context["allowPrivilegeEscalation"], False)
        self.assertEqual(context["capabilities"]["drop"], ["ALL"])

    def test_resources_are_bounded(self):
        resources = self.container["resources"]
        # The HPA's CPU utilization is relative to the CPU request.
        self.assertIn("cpu", resources["requests"])
        self.assertIn("memory", resources["requests"])
        self.assertIn("memory", resources["limits"])

    def test_services_select_the_pods_and_target_the_grpc_port(self):
        self.assertEqual(len(self.services), 2)
        for service in self.services:
            with self.subTest(service=service["metadata"]["name"]):
                self.assertEqual(service["kind"], "Service")
                self.assertEqual(service["spec"]["selector"].items()
                                 - self.pod["metadata"]["labels"].items(), set())
                (port,) = service["spec"]["ports"]
                self.assertIn(port["targetPort"], ("grpc", self.ports["grpc"]))
                self.assertEqual(port["appProtocol"], "grpc")
        self.assertEqual([service["spec"].get("clusterIP") for service in self.services],
                         [None, "None"], "one ClusterIP Service and one headless")

    def test_pdb_selects_the_pods_and_lets_one_go(self):
        self.assertEqual(self.pdb["apiVersion"], "policy/v1")
        self.assertEqual(self.pdb["spec"]["selector"]["matchLabels"],
                         self.deployment["spec"]["selector"]["matchLabels"])
        self.assertEqual(self.pdb["spec"]["maxUnavailable"], 1)

    def test_hpa_scales_the_deployment_on_cpu(self):
        self.assertEqual(self.hpa["apiVersion"], "autoscaling/v2")
        self.assertEqual(self.hpa["spec"]["scaleTargetRef"], {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "name": self.deployment["metadata"]["name"]})
        (metric,) = self.hpa["spec"]["metrics"]
        self.assertEqual(metric["type"], "Resource")
        self.assertEqual(metric["resource"]["name"], "cpu")
        self.assertGreaterEqual(self.hpa["spec"]["minReplicas"],
                                self.deployment["spec"]["replicas"])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
