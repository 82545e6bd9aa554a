#!/usr/bin/python3
"""The rule x kernel matrix from `rtrace-drop test --json` runs (one per
kernel): docs/KERNELS.md's table between its markers, and each pack's
tests/matrix.json, which `rtrace-drop build` puts into an .rdo.

    kernel_matrix.py --rules RULES.txt --docs docs/KERNELS.md --packs rules RESULT.json...

RULES.txt is `rtrace-drop list rules` (every rule gets a row, with or
without a case). Driven by tests/vm/kernel_matrix.sh.
"""
import argparse
import json
import os
import re
import sys

BEGIN, END = "<!-- kernel-matrix:begin -->", "<!-- kernel-matrix:end -->"
RANK = {"ERROR": 4, "FAIL": 3, "pass": 2, "skipped": 1}


def list_rules(path):
    """(id, pack, how) of each rule in `rtrace-drop list` output."""
    out = []
    pack = None
    for line in open(path):
        m = re.match(r"^  ([a-z0-9_.-]+)$", line.rstrip())
        if m:
            pack = m.group(1)
            continue
        m = re.match(r"^    ([a-z0-9_]+\.[a-z0-9_.]+)\s{2,}(.*?)\s{2,}(.*)$", line.rstrip())
        if m:
            how = re.sub(r"\s+\(instead of .*\)$", "", m.group(3))
            out.append((m.group(1), pack or m.group(1).split(".")[0], how))
    return out


def cell_of(rows):
    """One kernel's verdict for a rule from the rows of its cases."""
    worst = max(rows, key=lambda r: RANK.get(r["result"], 0))
    passed = [r for r in rows if r["result"] == "pass"]
    how = next((r["note"] for r in passed if r["note"]), "")
    cases = len(rows)
    if worst["result"] in ("FAIL", "ERROR"):
        return {"result": worst["result"], "how": how, "note": worst["note"], "cases": cases}
    if passed:
        return {"result": "pass", "how": how, "cases": cases}
    return {"result": "skipped", "how": "", "note": worst["note"], "cases": cases}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", required=True)
    ap.add_argument("--docs", required=True)
    ap.add_argument("--packs", required=True)
    ap.add_argument("results", nargs="+")
    a = ap.parse_args()

    rules = list_rules(a.rules)
    kernels, matrix = [], {}
    for path in a.results:
        try:
            r = json.load(open(path))
        except (OSError, ValueError) as e:
            print(f"kernel_matrix: {path}: {e}", file=sys.stderr)
            continue
        kernel = r["kernel"]
        kernels.append(kernel)
        by_rule = {}
        for c in r["cases"]:
            for row in c["rows"]:
                if "*" in row["rule"] or row["rule"].startswith("counter "):
                    continue
                by_rule.setdefault(row["rule"], []).append(row)
        for rule, rows in by_rule.items():
            matrix.setdefault(rule, {})[kernel] = cell_of(rows)

    def text(cell, how):
        if not cell:
            return f"no case ({how})" if how else "no case"
        if cell["result"] == "pass":
            return f"pass · {cell['how']}" if cell["how"] else "pass"
        if cell["result"] == "skipped":
            return "skipped: " + cell["note"]
        return f"**{cell['result']}**" + (f": {cell['note']}" if cell.get("note") else "")

    lines = ["| rule | " + " | ".join(f"`{k}`" for k in kernels) + " |", "|" + " --- |" * (len(kernels) + 1)]
    for rule, pack, how in sorted(rules):
        lines.append(f"| `{rule}` | " + " | ".join(text(matrix.get(rule, {}).get(k), how) for k in kernels) + " |")
    table = "\n".join(lines)

    doc = open(a.docs).read()
    if BEGIN not in doc or END not in doc:
        sys.exit(f"kernel_matrix: {a.docs} has no {BEGIN} ... {END}")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    open(a.docs, "w").write(head + BEGIN + "\n" + table + "\n" + END + tail)

    packs = {}
    for rule, pack, _ in rules:
        if rule in matrix:
            packs.setdefault(pack, {})[rule] = matrix[rule]
    for pack, entries in packs.items():
        d = os.path.join(a.packs, pack, "tests")
        if not os.path.isdir(d):
            continue
        with open(os.path.join(d, "matrix.json"), "w") as f:
            json.dump({"kernels": kernels, "rules": entries}, f, indent=1, sort_keys=True)
            f.write("\n")
    print(f"kernel_matrix: {len(rules)} rules x {len(kernels)} kernels -> {a.docs}, {len(packs)} packs' tests/matrix.json")


if __name__ == "__main__":
    main()
