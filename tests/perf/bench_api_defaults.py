#!/usr/bin/env python3
"""Benchmark: what the API-defaulting stage of the manifests collector costs on the 43k-object
cluster dump (issue 16: a few % of the run at most). Prints figures; asserts nothing.

In one process, on the same parsed objects (read twice, since the stage fills them in place):
objects -> evidence items without the stage, then with it; then the stage's downstream cost
(redaction of the bigger items, evidence written as JSON and hashed), then the whole core audit
of the dump in a fresh process (`auditor audit --manifests DUMP --no-html --no-pdf`) for scale.
Check `uptime` beside the figures: the machine is shared.

Usage: python3 tests/perf/bench_api_defaults.py [DUMP.json]   (default: made by
/work/shared/bench/make_cluster.py into a temporary folder)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)
from cluster_dump import dump_from_argv  # noqa: E402  (beside this script)


def _best(runs: list[float]) -> float:
    return min(runs)


def main() -> None:
    tmp = tempfile.mkdtemp(prefix="auditor-bench-defaults-")
    dump = dump_from_argv("auditor-bench-defaults-")
    from auditor.collect.collected import Collected
    from auditor.collect.k8s_objects import objects_to_targets
    from auditor.collect.manifests import read_manifest_file
    from auditor.evidence.redact import redact_targets

    def objects() -> list:
        found: list = []
        read_manifest_file(dump, found, [], [])
        return found

    to_items: dict[bool, list[float]] = {False: [], True: []}
    after: dict[bool, list[float]] = {False: [], True: []}
    sizes: dict[bool, int] = {}
    fields = ""
    for _round in range(3):
        for defaults in (False, True):
            parsed = objects()
            collected = Collected()
            start = time.perf_counter()
            objects_to_targets(parsed, collected, cluster_name="manifests", api_defaults=defaults)
            to_items[defaults].append(time.perf_counter() - start)
            start = time.perf_counter()
            redact_targets(collected.targets)
            text = json.dumps(collected.targets, ensure_ascii=False).encode()
            hashlib.sha256(text).hexdigest()
            after[defaults].append(time.perf_counter() - start)
            sizes[defaults] = len(text)
            if defaults:
                fields = next(s["detail"] for s in collected.sources if s["name"] == "manifests.api-defaults")
    env = {**os.environ, "PYTHONPATH": REPO}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "auditor", "audit", "--manifests", dump, "-o", os.path.join(tmp, "out"),
                    "--no-html", "--no-pdf"], env=env, capture_output=True, check=False)
    run_s = time.perf_counter() - start
    stage = _best(to_items[True]) - _best(to_items[False])
    downstream = _best(after[True]) - _best(after[False])
    print(f"dump {dump}: {os.path.getsize(dump) / 2**20:.1f} MB; load {os.getloadavg()[0]:.2f}")
    print(f"stage: {fields}")
    print(f"objects -> items without defaults {_best(to_items[False]):6.3f} s, with {_best(to_items[True]):6.3f} s"
          f"  (stage {stage:+.3f} s)")
    print(f"redact + JSON + sha256     without {_best(after[False]):6.3f} s, with {_best(after[True]):6.3f} s"
          f"  ({downstream:+.3f} s; evidence items {sizes[False] / 2**20:.1f} -> {sizes[True] / 2**20:.1f} MB)")
    print(f"core audit (--no-html --no-pdf) {run_s:.2f} s: the stage and its downstream cost "
          f"{stage + downstream:.3f} s = {100 * (stage + downstream) / run_s:.1f} % of it")


if __name__ == "__main__":
    main()
