#!/usr/bin/env python3
"""Benchmark: what the redaction stage costs on the 43k-object cluster dump (issue 14: at most 10%
of the audit's time). Prints figures; asserts nothing.

In one process: the manifests collector on the dump, then the redaction stage alone
(:func:`auditor.evidence.redact.redact_targets`, as build_bundle runs it), then the whole audit
of the same dump in a fresh process (`auditor audit --manifests DUMP`, HTML and PDF as a user
gets them, and `--no-pdf --no-html` as the core run).

Usage: python3 tests/perf/bench_redaction.py [DUMP.json]   (default: made by
/work/shared/bench/make_cluster.py into a temporary folder)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)
from cluster_dump import dump_from_argv  # noqa: E402  (beside this script)


def main() -> None:
    tmp = tempfile.mkdtemp(prefix="auditor-bench-redaction-")
    dump = dump_from_argv("auditor-bench-redaction-")
    from auditor.collect.manifests import collect_manifests
    from auditor.evidence.redact import redact_targets

    start = time.perf_counter()
    collected = collect_manifests([dump])
    collect_s = time.perf_counter() - start
    items = sum(len(v) for v in collected.targets.values())
    start = time.perf_counter()
    counts = redact_targets(collected.targets)
    redact_s = time.perf_counter() - start
    env = {**os.environ, "PYTHONPATH": REPO, "AUDITOR_NO_PDF": "0"}
    runs = {}
    for name, extra in (("user run (HTML+PDF)", []), ("core run (--no-html --no-pdf)", ["--no-html", "--no-pdf"])):
        out = os.path.join(tmp, name.split()[0])
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "auditor", "audit", "--manifests", dump, "-o", out, *extra],
                       env=env, capture_output=True, check=False)
        runs[name] = time.perf_counter() - start
    print(f"dump {dump}: {os.path.getsize(dump) / 2**20:.1f} MB, {items} evidence items")
    print(f"collect (in process)      {collect_s:7.2f} s")
    print(f"redaction stage           {redact_s:7.2f} s  ({sum(counts.values())} values redacted)")
    for name, seconds in runs.items():
        print(f"audit, {name:28s} {seconds:7.2f} s  redaction = {100 * redact_s / seconds:4.1f} % of it")


if __name__ == "__main__":
    main()
