#!/usr/bin/env python3
"""Check that every metric a Grafana dashboard or Prometheus rules file queries
is one the exporter serves.

    check_queries.py --scrape FILE [DASHBOARD.json | RULES.yml]...

FILE holds a real scrape of rtrace-drop's /metrics (Prometheus text format).
Every PromQL expression is read -- a dashboard's targets[].expr (rows and
library panels' nested panels included) and its template variable queries
(label_values(...), query_result(...)), a rules file's `expr` -- and the
metric names in it are compared with the names in the scrape. A name defined
by a recording rule (`record:`) in one of the rules files given counts as
served. Exit 0 when every name is served, 1 naming each unknown metric and
where it is used, 2 on bad input. Python 3 standard library, plus python3-yaml
for rules files.
"""

import argparse
import json
import re
import sys

# Words that look like metric names but are not: PromQL keywords (binary
# operators, modifiers), the number literals, and `up`, which Prometheus
# writes itself for each target.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
    "bool", "and", "or", "unless", "atan2", "inf", "nan", "up",
}
# Keywords followed by a parenthesised list of label names.
LABEL_LIST_KEYWORDS = ("by", "without", "on", "ignoring", "group_left", "group_right")

IDENT = r"[A-Za-z_:][A-Za-z0-9_:]*"
TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)"""
    r"""|(?P<variable>\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\])"""
    r"""|(?P<number>0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:[a-zA-Z]+\d*)*)"""
    r"""|(?P<ident>""" + IDENT + r""")"""
    r"""|(?P<other>\s+|.)""",
    re.S,
)


class QueryError(Exception):
    pass


def _tokens(expr):
    """PromQL tokens as (kind, text), strings, numbers (durations included)
    and Grafana variables ($x, ${x}, [[x]]) already told apart."""
    out = []
    for m in TOKEN.finditer(expr):
        kind = m.lastgroup
        if kind == "other":
            text = m.group()
            if text.isspace():
                continue
            out.append(("punct", text))
        else:
            out.append((kind, m.group()))
    return out


def _skip_group(tokens, i, open_, close):
    """Index just past the group opened by tokens[i] == open_ (nesting counted)."""
    depth = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "punct" and text == open_:
            depth += 1
        elif kind == "punct" and text == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def metric_names(expr):
    """The metric names a PromQL expression selects, in order, without repeats.

    Skipped: label matchers ({...}), ranges, subqueries and durations ([...]),
    label lists after by/without/on/ignoring/group_left/group_right, function
    names (an identifier before '('), keywords, strings, numbers, Grafana
    variables and `up`.
    """
    tokens = _tokens(expr)
    names = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "punct" and text == "{":
            i = _skip_group(tokens, i, "{", "}")
            continue
        if kind == "punct" and text == "[":
            i = _skip_group(tokens, i, "[", "]")
            continue
        if kind == "ident":
            nxt = tokens[i + 1] if i + 1 < len(tokens) else (None, None)
            lower = text.lower()
            if lower in LABEL_LIST_KEYWORDS and nxt == ("punct", "("):
                i = _skip_group(tokens, i + 1, "(", ")")
                continue
            if nxt == ("punct", "("):  # a function or an aggregation
                i += 1
                continue
            if nxt[0] == "ident" and nxt[1].lower() in ("by", "without"):  # sum by (x) (...)
                i += 1
                continue
            if lower not in KEYWORDS and text not in names:
                names.append(text)
        i += 1
    return names


# Grafana's Prometheus template queries that are not PromQL.
_LABEL_VALUES = re.compile(r"^\s*label_values\s*\((.*)\)\s*$", re.S)
_QUERY_RESULT = re.compile(r"^\s*query_result\s*\((.*)\)\s*$", re.S)
_METRICS = re.compile(r"^\s*(metrics|label_names)\s*\(.*\)\s*$", re.S)


def template_query_names(query):
    """Metric names in a Grafana template variable query: label_values(METRIC
    or SELECTOR, LABEL) (the label is not a metric; label_values(LABEL) names
    none), query_result(PROMQL), metrics(REGEX) and label_names() (none), else
    plain PromQL."""
    m = _LABEL_VALUES.match(query)
    if m:
        args = m.group(1)
        # The last top-level comma separates the label; no comma: only a label.
        depth, cut = 0, -1
        for pos, ch in enumerate(args):
            if ch in "({[":
                depth += 1
            elif ch in ")}]":
                depth -= 1
            elif ch == "," and depth == 0:
                cut = pos
        return metric_names(args[:cut]) if cut >= 0 else []
    m = _QUERY_RESULT.match(query)
    if m:
        return metric_names(m.group(1))
    if _METRICS.match(query):
        return []
    return metric_names(query)


def served_names(scrape_text):
    """Metric names in a scrape: each sample's name, and the names # HELP and
    # TYPE lines declare (a family with no series yet is still served)."""
    names = set()
    for line in scrape_text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                names.add(parts[2])
            continue
        m = re.match(IDENT, line)
        if m:
            names.add(m.group())
    return names


def dashboard_queries(dash, source):
    """(where, kind, text) for each query of a dashboard (a dashboard JSON or
    the API's {"dashboard": ...} wrapper); kind is "promql" or "template"."""
    if isinstance(dash, dict) and isinstance(dash.get("dashboard"), dict):
        dash = dash["dashboard"]
    if not isinstance(dash, dict):
        raise QueryError(f"{source}: not a Grafana dashboard (a JSON object)")
    out = []

    def walk(panels):
        for p in panels or []:
            if not isinstance(p, dict):
                continue
            title = p.get("title", "")
            for n, t in enumerate(p.get("targets") or []):
                if isinstance(t, dict) and isinstance(t.get("expr"), str) and t["expr"].strip():
                    out.append((f'{source}: panel "{title}" (id {p.get("id")}) targets[{n}].expr', "promql", t["expr"]))
            walk(p.get("panels"))

    walk(dash.get("panels"))
    walk([p for r in dash.get("rows") or [] if isinstance(r, dict) for p in r.get("panels") or []])  # schema < 16
    for v in (dash.get("templating") or {}).get("list") or []:
        if not isinstance(v, dict) or v.get("type") != "query":
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if isinstance(q, str) and q.strip():
            out.append((f'{source}: template variable "{v.get("name")}" query', "template", q))
    for a in (dash.get("annotations") or {}).get("list") or []:
        if isinstance(a, dict) and isinstance(a.get("expr"), str) and a["expr"].strip():
            out.append((f'{source}: annotation "{a.get("name")}" expr', "promql", a["expr"]))
    return out


def rules_queries(doc, source):
    """(where, "promql", expr) for each rule of a rules file, and the names
    its recording rules define."""
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise QueryError(f"{source}: not a Prometheus rules file (no 'groups' list)")
    out, recorded = [], set()
    for g in doc["groups"]:
        for r in (g or {}).get("rules") or []:
            name = r.get("alert") or r.get("record")
            if r.get("record"):
                recorded.add(r["record"])
            if isinstance(r.get("expr"), (str, int, float)):
                kind = "alert" if r.get("alert") else "record"
                out.append((f'{source}: group "{g.get("name")}" {kind} {name} expr', "promql", str(r["expr"])))
    return out, recorded


def load_queries(path):
    """Queries of one file, by its content: JSON is a dashboard, YAML rules."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise QueryError(f"{path}: {e.strerror}") from e
    if path.endswith(".json") or text.lstrip().startswith("{"):
        try:
            return dashboard_queries(json.loads(text), path), set()
        except json.JSONDecodeError as e:
            raise QueryError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
    try:
        import yaml
    except ImportError as e:
        raise QueryError(f"{path}: reading YAML needs python3-yaml (apt-get install python3-yaml)") from e
    try:
        return rules_queries(yaml.safe_load(text), path)
    except yaml.YAMLError as e:
        raise QueryError(f"{path}: invalid YAML: {e}") from e


def check(files, scrape_text):
    """Problems (one line each) for the queries of `files` against a scrape."""
    served = served_names(scrape_text)
    queries, recorded = [], set()
    for path in files:
        q, r = load_queries(path)
        queries += q
        recorded |= r
    problems = []
    for where, kind, text in queries:
        names = template_query_names(text) if kind == "template" else metric_names(text)
        for name in names:
            if name not in served and name not in recorded:
                problems.append(f"{where}: unknown metric '{name}' (not in the scrape)")
    return problems, len(queries)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scrape", required=True, help="a /metrics scrape (Prometheus text format)")
    ap.add_argument("files", nargs="+", help="Grafana dashboard JSON and/or Prometheus rules YAML")
    args = ap.parse_args(argv)
    try:
        with open(args.scrape, encoding="utf-8") as f:
            scrape = f.read()
        if not served_names(scrape):
            raise QueryError(f"{args.scrape}: no metrics in the scrape")
        problems, count = check(args.files, scrape)
    except OSError as e:
        print(f"check_queries: {args.scrape}: {e.strerror}", file=sys.stderr)
        return 2
    except QueryError as e:
        print(f"check_queries: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check_queries: {len(problems)} unknown metric use(s) in {count} queries", file=sys.stderr)
        return 1
    print(f"check_queries: {count} queries, every metric served")
    return 0


if __name__ == "__main__":
    sys.exit(main())
