#!/usr/bin/env python3
"""Unit tests of contrib/check_queries.py (CTest: contrib_check_queries).

    python3 -m unittest tests/contrib/check_queries_test.py    # or run the file
"""

import contextlib
import io
import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib"))
import check_queries  # noqa: E402

SCRAPE = """\
# HELP rtrace_drop_drops_total Drops counted in the kernel.
# TYPE rtrace_drop_drops_total counter
rtrace_drop_drops_total{rule="tcp.no_socket",layer="l4",reason="NO_SOCKET",dev="eth0",netns="4026531840",netns_name=""} 7
# HELP rtrace_drop_events_lost_total Events lost.
# TYPE rtrace_drop_events_lost_total counter
# HELP rtrace_drop_probes Probes by state.
# TYPE rtrace_drop_probes gauge
rtrace_drop_probes{state="attached"} 12
rtrace_drop_start_time_seconds 1.7e+09
"""

DASHBOARD = {
    "schemaVersion": 38,
    "templating": {"list": [
        {"name": "DS_PROMETHEUS", "type": "datasource", "query": "prometheus"},
        {"name": "instance", "type": "query", "query": {"query": "label_values(rtrace_drop_probes, instance)"}},
        {"name": "reason", "type": "query", "query": 'label_values(rtrace_drop_drops_total{instance=~"$instance"}, reason)'},
    ]},
    "panels": [
        {"id": 1, "title": "Drops", "targets": [
            {"expr": 'sum by (reason) (rate(rtrace_drop_drops_total{instance=~"$instance", reason=~"$reason"}[$__rate_interval]))'}]},
        {"id": 2, "type": "row", "title": "Health", "panels": [
            {"id": 3, "title": "Probes", "targets": [{"expr": 'sum by (state) (rtrace_drop_probes{instance=~"$instance"})'}]}]},
    ],
}

RULES = """\
groups:
  - name: rtrace-drop
    rules:
      - record: instance:rtrace_drop_drops:rate5m
        expr: sum by (instance) (rate(rtrace_drop_drops_total[5m]))
      - alert: Lost
        expr: sum by (instance, rule) (rate(rtrace_drop_events_lost_total[5m])) > 0
        for: 10m
      - alert: Down
        expr: up{job="rtrace-drop"} == 0 and on (instance) instance:rtrace_drop_drops:rate5m >= 0
"""


class MetricNames(unittest.TestCase):
    def test_skips_functions_keywords_labels_strings_durations_numbers_and_up(self):
        expr = ('sum by (instance, rule) (rate(a_total{dev="eth0", reason=~"x|y{1}"}[5m] offset 1h)) > 10 '
                'and on (instance) up{job="j"} == 1 unless ignoring (state) group_left (kernel) '
                'max_over_time(b[1h:5m]) * 1e3 or bool c - Inf + $__range_s')
        self.assertEqual(check_queries.metric_names(expr), ["a_total", "b", "c"])

    def test_aggregation_with_by_after_its_arguments(self):
        self.assertEqual(check_queries.metric_names("topk(10, sum(rate(x[1m])) by (dev))"), ["x"])

    def test_template_queries(self):
        t = check_queries.template_query_names
        self.assertEqual(t('label_values(m{instance=~"$instance"}, reason)'), ["m"])
        self.assertEqual(t("label_values(instance)"), [])
        self.assertEqual(t("query_result(topk(5, n))"), ["n"])
        self.assertEqual(t("metrics(rtrace_drop_.*)"), [])

    def test_served_names_include_declared_families(self):
        self.assertEqual(check_queries.served_names(SCRAPE), {
            "rtrace_drop_drops_total", "rtrace_drop_events_lost_total", "rtrace_drop_probes",
            "rtrace_drop_start_time_seconds"})


class Check(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def run_main(self, *files):
        scrape = self.write("scrape.txt", SCRAPE)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = check_queries.main(["--scrape", scrape, *files])
        return code, err.getvalue()

    def test_known_metrics_pass(self):
        code, err = self.run_main(self.write("d.json", json.dumps(DASHBOARD)), self.write("r.yml", RULES))
        self.assertEqual((code, err), (0, ""))

    def test_unknown_metric_in_a_panel_is_named_with_its_place(self):
        dash = json.loads(json.dumps(DASHBOARD))
        dash["panels"][1]["panels"][0]["targets"].append({"expr": "rate(rtrace_drop_probes_total[5m])"})
        code, err = self.run_main(self.write("d.json", json.dumps(dash)))
        self.assertEqual(code, 1)
        self.assertIn('d.json: panel "Probes" (id 3) targets[1].expr: unknown metric \'rtrace_drop_probes_total\'', err)
        self.assertEqual(err.count("unknown metric '"), 1)

    def test_unknown_metric_in_a_template_variable(self):
        dash = json.loads(json.dumps(DASHBOARD))
        dash["templating"]["list"][1]["query"] = {"query": "label_values(rtrace_drop_build_info, instance)"}
        code, err = self.run_main(self.write("d.json", json.dumps(dash)))
        self.assertEqual(code, 1)
        self.assertIn('template variable "instance" query: unknown metric \'rtrace_drop_build_info\'', err)

    def test_unknown_metric_in_a_rule(self):
        code, err = self.run_main(self.write("r.yml", RULES.replace("events_lost_total", "events_dropped_total")))
        self.assertEqual(code, 1)
        self.assertIn('r.yml: group "rtrace-drop" alert Lost expr: unknown metric \'rtrace_drop_events_dropped_total\'', err)

    def test_bad_input_is_exit_2(self):
        self.assertEqual(self.run_main(self.write("d.json", "{ not json"))[0], 2)
        self.assertEqual(self.run_main(self.write("r.yml", "groups: 3\n"))[0], 2)
        self.assertEqual(self.run_main(os.path.join(self.dir.name, "missing.json"))[0], 2)


class ShippedFiles(unittest.TestCase):
    """The shipped dashboard and rules read, and every name they use is one of
    the contract's (docs/OPERATIONS.md's metrics table): a stand-in for the
    end-to-end check on a real scrape."""

    def test_shipped_dashboard_and_rules_use_only_documented_metrics(self):
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        with open(os.path.join(root, "docs", "OPERATIONS.md"), encoding="utf-8") as f:
            documented = set(re.findall(r"^\| `(rtrace_drop_\w+)`", f.read(), re.M))
        self.assertGreaterEqual(len(documented), 17)
        scrape = "".join(f"# TYPE {n} untyped\n" for n in sorted(documented))
        problems, count = check_queries.check(
            [os.path.join(root, "contrib", "grafana", "rtrace-drop.json"),
             os.path.join(root, "contrib", "prometheus", "rtrace-drop.rules.yml")], scrape)
        self.assertEqual(problems, [])
        self.assertGreater(count, 20)


if __name__ == "__main__":
    unittest.main()
