#!/usr/bin/env python3
"""contrib_manifests: the Kubernetes manifests, the Containerfile, the systemd
unit and the example config, checked without a cluster or an image build.

    python3 tests/contrib/manifests_test.py

The DaemonSet is read as Kubernetes would need it (apps/v1, selector matching
the template's labels, port 9977, every volumeMount backed by a volume, the
capabilities), and the deployment files are held to one another: the
ConfigMap's config is the systemd example's, the image runs what the unit
runs, both grant the same capabilities, and the config's keys are those
cli/config.cpp reads (plus the exporter's).
"""

import json
import os
import re
import shlex
import tomllib
import unittest

import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CONTRIB = os.path.join(ROOT, "contrib")

PORT = 9977
CAPABILITIES = {"BPF", "PERFMON", "SYSLOG", "SYS_PTRACE"}
# What `run` is started with in the unit and the image (the config comes after).
RUN_ARGS = ["run", "--metrics", f":{PORT}", "--quiet", "--log-format", "json"]
CONFIG_PATH = "/etc/rtrace-drop/config.toml"


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def manifests():
    return {d["kind"]: d for d in yaml.safe_load_all(read("contrib", "kubernetes", "daemonset.yaml")) if d}


def unit_settings():
    """The unit's Key=value lines, every value of a key in order."""
    out = {}
    for line in read("contrib", "systemd", "rtrace-drop.service.in").splitlines():
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


class DaemonSet(unittest.TestCase):
    def setUp(self):
        self.docs = manifests()
        self.ds = self.docs.get("DaemonSet")
        self.assertIsNotNone(self.ds, "no DaemonSet in daemonset.yaml")
        self.pod = self.ds["spec"]["template"]["spec"]
        self.container = self.pod["containers"][0]

    def test_kinds_and_api_versions(self):
        self.assertEqual(set(self.docs), {"Namespace", "ConfigMap", "DaemonSet"})
        self.assertEqual(self.ds["apiVersion"], "apps/v1")
        self.assertEqual(self.docs["ConfigMap"]["apiVersion"], "v1")
        ns = self.docs["Namespace"]["metadata"]["name"]
        for kind in ("ConfigMap", "DaemonSet"):
            self.assertEqual(self.docs[kind]["metadata"]["namespace"], ns, kind)

    def test_selector_matches_template_labels(self):
        selector = self.ds["spec"]["selector"]["matchLabels"]
        labels = self.ds["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(selector)
        self.assertLessEqual(selector.items(), labels.items())

    def test_port_and_scrape_annotations(self):
        ports = {p["containerPort"]: p for p in self.container["ports"]}
        self.assertIn(PORT, ports)
        self.assertEqual(ports[PORT].get("hostPort", PORT), PORT)  # hostNetwork: they must agree
        ann = self.ds["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(ann["prometheus.io/scrape"], "true")
        self.assertEqual(ann["prometheus.io/port"], str(PORT))
        self.assertEqual(ann["prometheus.io/path"], "/metrics")

    def test_host_namespaces_and_tolerations(self):
        self.assertIs(self.pod["hostNetwork"], True)
        self.assertIs(self.pod["hostPID"], True)
        self.assertEqual(self.pod["dnsPolicy"], "ClusterFirstWithHostNet")
        self.assertIn({"operator": "Exists"}, self.pod["tolerations"])

    def test_capabilities_not_privileged(self):
        sc = self.container["securityContext"]
        self.assertIs(sc["privileged"], False)
        self.assertIs(sc["allowPrivilegeEscalation"], False)
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertEqual(set(sc["capabilities"]["add"]), CAPABILITIES)

    def test_every_mount_has_a_volume_and_every_volume_is_mounted(self):
        volumes = {v["name"]: v for v in self.pod["volumes"]}
        self.assertEqual(len(volumes), len(self.pod["volumes"]), "duplicate volume names")
        mounts = {m["name"]: m for m in self.container["volumeMounts"]}
        self.assertEqual(set(mounts) - set(volumes), set(), "volumeMounts without a volume")
        self.assertEqual(set(volumes) - set(mounts), set(), "volumes never mounted")
        by_path = {m["mountPath"]: m for m in mounts.values()}
        for path in ("/sys/kernel/btf", "/sys/kernel/tracing", "/run/netns", "/sys/fs/cgroup"):
            self.assertIn(path, by_path)
            self.assertIs(by_path[path].get("readOnly"), True, path)
            self.assertEqual(volumes[by_path[path]["name"]]["hostPath"]["path"], path)
        self.assertEqual(by_path["/run/netns"]["mountPropagation"], "HostToContainer")

    def test_config_comes_from_the_configmap(self):
        cm = self.docs["ConfigMap"]
        volumes = {v["name"]: v for v in self.pod["volumes"]}
        config_mount = next(m for m in self.container["volumeMounts"] if CONFIG_PATH.startswith(m["mountPath"] + "/"))
        self.assertEqual(volumes[config_mount["name"]]["configMap"]["name"], cm["metadata"]["name"])
        self.assertIn(os.path.basename(CONFIG_PATH), cm["data"])
        self.assertEqual(self.container["args"], ["--config", CONFIG_PATH])

    def test_cache_is_where_the_tool_looks(self):
        env = {e["name"]: e["value"] for e in self.container["env"]}
        cache = env["XDG_CACHE_HOME"] + "/rtrace-drop"
        self.assertIn(cache, {m["mountPath"] for m in self.container["volumeMounts"]})

    def test_resources(self):
        res = self.container["resources"]
        for kind in ("requests", "limits"):
            self.assertIn("cpu", res[kind])
            self.assertIn("memory", res[kind])


def mebibytes(quantity):
    m = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    return int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)


class Consistency(unittest.TestCase):
    def test_configmap_holds_the_systemd_example_config(self):
        cm = tomllib.loads(manifests()["ConfigMap"]["data"]["config.toml"])
        self.assertEqual(cm, tomllib.loads(read("contrib", "systemd", "config.toml")))

    def test_config_keys_are_the_tools(self):
        """Every key of the example is one cli/config.cpp reads (r.unknown's
        lists); the binary itself reads it in the contrib_config_reads test."""
        known = {}
        for section, keys in re.findall(r'r\.unknown\(k, "(\w+)", \{([^}]*)\}\)', read("cli", "config.cpp")):
            known[section] = set(re.findall(r'"(\w+)"', keys))
        self.assertIn("output", known)
        config = tomllib.loads(read("contrib", "systemd", "config.toml"))
        for section, table in config.items():
            self.assertIn(section, known, f"[{section}]")
            self.assertLessEqual(set(table), known[section], f"[{section}]")
        self.assertEqual(config["metrics"]["listen"], f":{PORT}")
        self.assertEqual(set(config["metrics"]["labels"]), {"rule", "layer", "reason", "dev", "netns"})

    def test_unit_and_image_run_the_same_command(self):
        unit = unit_settings()
        exec_start = shlex.split(unit["ExecStart"][0])
        self.assertEqual(exec_start[0], "@BINDIR@/rtrace-drop")
        self.assertEqual(exec_start[1:], RUN_ARGS + ["--config", CONFIG_PATH])
        cf = read("contrib", "container", "Containerfile")
        entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", cf, re.M).group(1))
        cmd = json.loads(re.search(r"^CMD (\[.*\])$", cf, re.M).group(1))
        self.assertEqual(entry, ["/usr/local/bin/rtrace-drop"] + RUN_ARGS)
        self.assertEqual(cmd, ["--config", CONFIG_PATH])
        self.assertEqual(unit["Type"], ["notify"])
        self.assertEqual(unit["ExecReload"], ["/bin/kill -HUP $MAINPID"])

    def test_unit_and_daemonset_grant_the_same_capabilities(self):
        unit = unit_settings()
        expected = {"CAP_" + c for c in CAPABILITIES}
        self.assertEqual(set(unit["CapabilityBoundingSet"][0].split()), expected)
        self.assertEqual(set(unit["AmbientCapabilities"][0].split()), expected)

    def test_unit_cache_is_where_the_tool_looks(self):
        unit = unit_settings()
        self.assertEqual(unit["CacheDirectory"], ["rtrace-drop"])
        self.assertIn("XDG_CACHE_HOME=/var/cache", unit["Environment"])

    def test_containerfile(self):
        cf = read("contrib", "container", "Containerfile")
        stages = re.findall(r"^FROM (\S+)", cf, re.M)
        self.assertTrue(stages and all(s.startswith("debian:12") for s in stages), stages)
        self.assertRegex(cf, r"make build")
        self.assertIn(f"EXPOSE {PORT}", cf)
        # COPY sources from the build context exist (the context is the repository).
        for src in re.findall(r"^COPY (?!--from)(\S+) ", cf, re.M):
            if src != ".":
                self.assertTrue(os.path.exists(os.path.join(ROOT, src)), src)

    def test_memory_limit_leaves_room_for_a_cold_compile(self):
        # The compile child peaks near 125 MB (docs/BENCHMARKS.md); the agent
        # itself near 35 MB.
        limit = manifests()["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
        self.assertGreaterEqual(mebibytes(limit), 192)


if __name__ == "__main__":
    unittest.main()
