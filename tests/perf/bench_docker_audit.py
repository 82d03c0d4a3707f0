#!/usr/bin/env python3
"""Benchmark: a whole `auditor audit` against a real dockerd with many running containers.

Prints figures; asserts nothing (targets are checked by a person, not by a timed unit test):

* whole audit (start-up, collection, evaluation, writing results) with 65 running containers,
  target <= 2 s wall;
* evaluation alone from an evidence file, target <= 0.3 s;
* cost per extra container, target < 10 ms.

Usage: python3 tests/perf/bench_docker_audit.py [--containers 65] [--repeat 3]
Needs a running dockerd and the imported image auditor-test/busybox:latest (see .ci/run).
Containers it starts carry the label auditor-bench=1 and are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

import docker  # noqa: E402
import dockerd  # noqa: E402  (tests/dockerd.py: imports the busybox image, never pulls)

LABEL = {"auditor-bench": "1"}


def start_containers(api: docker.APIClient, count: int, offset: int = 0) -> list[str]:
    def one(i: int) -> str:
        c = api.create_container(dockerd.BUSYBOX_IMAGE, ["sleep", "3600"], name=f"auditor-bench-{offset + i}",
                                 labels=LABEL, host_config=api.create_host_config(mem_limit=32 * 2**20))
        api.start(c["Id"])
        return c["Id"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def remove_all(api: docker.APIClient) -> None:
    ids = [c["Id"] for c in api.containers(all=True, filters={"label": "auditor-bench=1"})]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: api.remove_container(i, force=True), ids))


def timed(cmd: list[str], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        runs.append(time.perf_counter() - start)
        if proc.returncode not in (0, 1, 3):
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=65)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    host = os.environ.get("DOCKER_HOST", dockerd.SYSTEM_HOST)
    dockerd.ensure_busybox(host)
    api = docker.APIClient(base_url=host)
    out = tempfile.mkdtemp(prefix="auditor-bench-")
    # collect, evaluate, write evidence and results (the HTML and PDF reports are timed apart)
    audit = [sys.executable, "-m", "auditor", "audit", "--docker-host", host, "-o", out, "--no-html", "--no-pdf"]
    remove_all(api)
    try:
        small = 5
        start_containers(api, small)
        t_small = timed(audit, args.repeat)
        start_containers(api, args.containers - small, offset=small)
        running = len(api.containers(filters={"label": "auditor-bench=1"}))
        t_full = timed(audit, args.repeat)

        from auditor.collect.docker import collect_docker
        from auditor.evidence.bundle import build_bundle, load_bundle, save_bundle
        from auditor.judging.engine import evaluate
        from auditor.packs.loader import resolve_packs
        from auditor.results.document import build_results

        start = time.perf_counter()
        evidence = build_bundle(collect_docker(docker_host=host))
        t_collect = time.perf_counter() - start
        path = os.path.join(out, "bench.evidence.json")
        save_bundle(evidence, path)
        evals = []
        for _ in range(max(args.repeat, 5)):
            start = time.perf_counter()
            loaded = load_bundle(path)
            packs = resolve_packs(None)
            results = build_results(loaded, evaluate(loaded, packs))
            json.dumps(results)
            evals.append(time.perf_counter() - start)
        t_eval = statistics.median(evals)
        t_eval_cli = timed([sys.executable, "-m", "auditor", "evaluate", path, "-o", out], args.repeat)
        t_reports = timed([a for a in audit if a not in ("--no-html", "--no-pdf")], 1)
    finally:
        remove_all(api)
    per_container_ms = 1000 * (t_full - t_small) / (args.containers - small)
    print(f"containers running (benchmark)      {running}")
    print(f"whole audit, {args.containers} containers (wall)   {t_full:.3f} s   (target <= 2 s)")
    print(f"whole audit, {small} containers (wall)    {t_small:.3f} s")
    print(f"cost per extra container            {per_container_ms:.1f} ms (target < 10 ms)")
    print(f"collection alone, in process        {t_collect:.3f} s")
    print(f"evaluation alone from evidence file {t_eval:.3f} s   (target <= 0.3 s; load, evaluate, results)")
    print(f"`auditor evaluate` command (wall)   {t_eval_cli:.3f} s   (includes interpreter start-up)")
    print(f"whole audit with HTML and PDF       {t_reports:.3f} s   (the reports' own cost; see bench_reports.py)")
    print("reference shell implementation     ~93 s for 65 containers (from the issue)")


if __name__ == "__main__":
    main()
