#!/usr/bin/env python3
"""Benchmark: what the namespace levels view (auditor/judging/namespace_levels.py) costs on the
43k-object cluster dump, where about 100 namespaces enforce restricted. Prints figures; asserts
nothing.

In one process: the dump collected and evaluated once per case, then the view built three
times (best kept): with the main run at latest (every level reused from its verdicts) and with
the main run pinned to v1.30 (the namespaces' latest judged afresh: the pack loaded at v1.37 and
run on their pods). The size of the view in the results JSON is printed beside. Check `uptime`
beside the figures: the machine is shared.

Usage: python3 tests/perf/bench_namespace_levels.py [DUMP.json]   (default: made by
/work/shared/bench/make_cluster.py into a temporary folder)
"""

from __future__ import annotations

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)
from cluster_dump import dump_from_argv  # noqa: E402  (beside this script)


def main() -> None:
    dump = dump_from_argv("auditor-bench-ns-")
    from auditor import api
    from auditor.judging.engine import Selection
    from auditor.judging.engine import evaluate as judge
    from auditor.judging.namespace_levels import namespace_levels
    from auditor.packs.frameworks import packs_and_frameworks

    evidence, _ = api.collect(api.Sources(targets=["manifests"], manifests=[dump]))
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores, shared)")
    pinned = {"pod-security-standards": {"version": "v1.30"}}
    for label, params in (("main run at latest (reused)", {}), ("main run at v1.30 (latest judged afresh)", pinned)):
        packs, _ = packs_and_frameworks([], [], params, evidence_targets=set(evidence["targets"]))
        start = time.perf_counter()
        evaluated = judge(evidence, packs, Selection())
        evaluation = time.perf_counter() - start
        runs = []
        for _round in range(3):
            start = time.perf_counter()
            view = namespace_levels(evidence, evaluated, params)
            runs.append(time.perf_counter() - start)
        assert view is not None
        size = len(json.dumps(view, indent=1))
        print(f"{label}: view {min(runs) * 1000:.0f} ms (best of 3; evaluation {evaluation:.2f} s), "
              f"{len(view['namespaces'])} namespaces, enforce rejects {view['totals']['enforce']['rejected']}, "
              f"reused {view['reused_main_run']}, {size / 1e6:.2f} MB of results JSON")


if __name__ == "__main__":
    main()
