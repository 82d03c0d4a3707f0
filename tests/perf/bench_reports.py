#!/usr/bin/env python3
"""Benchmark: render the reports of a large synthetic results document.

Prints figures; asserts nothing (targets are checked by a person, not by a timed unit test):

* PDF of a full report (several packs, 5,000 findings): target <= 10 s;
* HTML of the same document: target <= 1 s;
* JUnit, SARIF and CSV for comparison.

The document is built from the demo results (real control texts and findings): the CIS Docker
pack is repeated as further packs, some of them judging Kubernetes manifests (subjects with a
file and a line), and container findings are multiplied until the document holds the wanted
number of findings. Scores are recomputed, and the document validates against the schema.

By default the document also carries what a full audit adds: every built-in framework judged over
it, waivers applied and a baseline comparison (``--plain`` leaves them out).

Usage: python3 tests/perf/bench_reports.py [--findings 5000] [--packs 4] [--repeat 3] [--plain] [--keep DIR]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

GOLDEN = os.path.join(ROOT, "tests", "golden", "demo-results.json")


def synthetic_results(findings: int = 5000, packs: int = 4) -> dict[str, Any]:
    """A valid results document with ``packs`` packs and about ``findings`` findings."""
    from auditor.judging.scoring import in_section, score_controls

    with open(GOLDEN, encoding="utf-8") as fh:
        demo = json.load(fh)
    base_controls = demo["controls"]
    per_pack = sum(len(c["findings"]) for c in base_controls)
    container_controls = [c for c in base_controls
                          if c["findings"] and c["findings"][0]["subject"]["type"] == "container"]
    repeated = {id(c) for c in container_controls}
    # Container findings are repeated `factor` times per pack to reach the wanted total.
    extra_needed = max(0, findings - per_pack * packs)
    per_copy = sum(len(c["findings"]) for c in container_controls) * packs
    factor = 1 + (extra_needed + per_copy - 1) // per_copy if per_copy else 1
    doc = copy.deepcopy(demo)
    doc["generated_at"] = "2026-11-26T01:00:00Z"
    doc["controls"], doc["packs"] = [], []
    for n in range(packs):
        pack_meta = copy.deepcopy(demo["packs"][0])
        manifests = n % 2 == 1
        if n:
            pack_meta["id"] = f"synthetic-{'k8s' if manifests else 'docker'}-{n}"
            pack_meta["title"] = f"Synthetic {'Kubernetes manifests' if manifests else 'Docker'} pack {n}"
            pack_meta["version"] = f"0.{n}.0"
        controls = []
        for control in base_controls:
            c = copy.deepcopy(control)
            c["pack"] = pack_meta["id"]
            if id(control) in repeated:
                c["findings"] = [_variant(f, k) for k in range(factor) for f in control["findings"]]
            if manifests:
                for i, f in enumerate(c["findings"]):
                    f["subject"]["file"] = f"deploy/{f['subject']['name']}.yaml"
                    f["subject"]["line"] = 10 + i % 40
            counts = {"pass": 0, "fail": 0, "error": 0}
            for f in c["findings"]:
                counts[f["status"]] += 1
            c["subjects"] = {"total": len(c["findings"]), **counts}
            controls.append(c)
        sections = []
        for section in pack_meta["sections"]:
            members = [c for c in controls if in_section(c["section"], section["id"])]
            sections.append({"id": section["id"], "title": section["title"], **score_controls(members)})
        pack_meta.update(score_controls(controls))
        pack_meta["sections"] = sections
        doc["packs"].append(pack_meta)
        doc["controls"].extend(controls)
    doc["summary"] = score_controls(doc["controls"])
    return doc


def add_frameworks_waivers_baseline(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as `audit --waivers W --baseline OLD` writes it: frameworks, two waivers, a baseline diff."""
    import datetime as dt
    import tempfile

    from auditor.judging.framework_scores import framework_results
    from auditor.judging.waivers import apply_waivers, load_waivers
    from auditor.packs.frameworks import resolve_frameworks
    from auditor.results.diff import diff_results

    old = copy.deepcopy(doc)
    for control in old["controls"][:40]:  # the baseline passed a few controls that fail now
        if control["status"] == "fail":
            control["status"] = "pass"
            for f in control["findings"]:
                f["status"] = "pass"
    doc = dict(doc, frameworks=framework_results(doc["controls"], resolve_frameworks(None)))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "waivers.yaml")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("waivers:\n  - {control: '5.10', reason: legacy host network, owner: alice, ticket: NET-1,"
                     " expires: 2099-12-31}\n  - {control: '2.8', reason: old, owner: bob, expires: 2024-01-31}\n")
        doc = apply_waivers(doc, load_waivers(path), dt.date(2026, 11, 26))
    doc["baseline"] = {"source": "old.results.json", "diff": diff_results(old, doc)}
    return doc


def _variant(finding: dict[str, Any], k: int) -> dict[str, Any]:
    f = copy.deepcopy(finding)
    if k:
        f["subject"]["name"] = f"{f['subject']['name']}-{k}"
        if "id" in f["subject"]:
            f["subject"]["id"] = f"{k:04x}{f['subject']['id'][4:]}"
    return f


def _time(fn, repeat: int) -> tuple[float, float, Any]:  # type: ignore[no-untyped-def]
    """Median wall and CPU seconds (CPU time shows the cost when other work shares the machine)."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=5000)
    parser.add_argument("--packs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plain", action="store_true", help="no frameworks, waivers or baseline")
    parser.add_argument("--keep", metavar="DIR", help="write the synthetic results and reports into DIR")
    args = parser.parse_args()

    from auditor.report.context import serialize_results
    from auditor.report.csv_report import render_csv
    from auditor.report.html import render_html
    from auditor.report.junit import render_junit
    from auditor.report.pdf import render_pdf
    from auditor.report.sarif import render_sarif
    from auditor.results.document import validate_results

    doc = synthetic_results(args.findings, args.packs)
    if not args.plain:
        doc = add_frameworks_waivers_baseline(doc)
    validate_results(doc, "synthetic results")
    data = serialize_results(doc)
    total = sum(len(c["findings"]) for c in doc["controls"])
    print(f"synthetic results: {len(doc['packs'])} packs, {len(doc['controls'])} controls, {total} findings, "
          f"{len(doc.get('frameworks') or [])} frameworks, {len(data) / 1e6:.1f} MB"
          + ("" if args.plain else ", waivers and a baseline"))
    start = time.perf_counter()
    import weasyprint  # noqa: F401  (import time reported apart: it is paid once per process)
    print(f"import weasyprint: {time.perf_counter() - start:.2f} s")
    out = {}
    for name, fn, target in [("html", lambda: render_html(doc, results_bytes=data), 1.0),
                             ("pdf", lambda: render_pdf(doc, results_bytes=data), 10.0),
                             ("junit", lambda: render_junit(doc), None),
                             ("sarif", lambda: render_sarif(doc), None),
                             ("csv", lambda: render_csv(doc), None)]:
        seconds, cpu, out[name] = _time(fn, args.repeat if name != "pdf" else max(1, min(args.repeat, 2)))
        size = len(out[name]) / 1e6
        goal = f" (target <= {target:g} s)" if target else ""
        print(f"{name:6s} {seconds:6.2f} s wall {cpu:6.2f} s cpu  {size:6.1f} MB{goal}")
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        with open(os.path.join(args.keep, "synthetic.results.json"), "wb") as fh:
            fh.write(data)
        for name, ext in [("html", "html"), ("pdf", "pdf"), ("junit", "junit.xml"), ("sarif", "sarif"), ("csv", "csv")]:
            mode = "wb" if isinstance(out[name], bytes) else "w"
            with open(os.path.join(args.keep, f"synthetic.{ext}"), mode) as fh:
                fh.write(out[name])
        print(f"written into {args.keep}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
