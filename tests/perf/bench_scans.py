#!/usr/bin/env python3
"""Benchmark: what scan results add to an audit (issue 15: at most 1 s and 150 MB for 300 images
with 40,000 vulnerabilities). Prints figures; asserts nothing.

Generates 300 Trivy JSON reports (SchemaVersion 2, one per image, 40,000 vulnerabilities in all,
a tenth of them critical or high, most with a fix) and a Docker evidence bundle with 300 running
containers, one per image. Then runs, each in a fresh process, the same audit (bundle built with
redaction, every built-in pack judged, results and HTML written) without and with the scans
(import, matching, the vulnerability-scans pack, the vulnerability table) and prints the
difference in wall time and peak memory (VmHWM).

Usage: python3 tests/perf/bench_scans.py [IMAGES VULNERABILITIES]
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)
SEVERITIES = ["CRITICAL"] * 2 + ["HIGH"] * 8 + ["MEDIUM"] * 40 + ["LOW"] * 45 + ["UNKNOWN"] * 5


def make_inputs(folder: str, images: int, vulns: int) -> str:
    rng = random.Random(15)
    scans = os.path.join(folder, "scans")
    os.makedirs(scans)
    containers = []
    for i in range(images):
        image_id = f"sha256:{i:064x}"
        tag = f"registry.example/team{i % 17}/app{i}:1.{i % 9}"
        per = vulns // images + (1 if i < vulns % images else 0)
        found = [{"VulnerabilityID": f"CVE-20{rng.randint(15, 26)}-{rng.randint(1000, 99999)}",
                  "PkgName": f"lib{rng.randint(1, 400)}", "InstalledVersion": f"1.{rng.randint(0, 9)}.{n}",
                  "FixedVersion": f"1.{rng.randint(10, 20)}.0" if rng.random() < 0.7 else "",
                  "Severity": rng.choice(SEVERITIES), "PrimaryURL": "https://avd.example/cve",
                  "PublishedDate": f"20{rng.randint(18, 26)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T00:00:00Z",
                  "Title": "generated", "Description": "x" * rng.randint(50, 600)} for n in range(per)]
        doc = {"SchemaVersion": 2, "Trivy": {"Version": "0.50.0"}, "CreatedAt": "2026-12-06T00:00:00Z",
               "ArtifactName": tag, "ArtifactType": "container_image",
               "Metadata": {"ImageID": image_id, "RepoTags": [tag], "RepoDigests": [],
                            "OS": {"Family": "debian", "Name": "12.1"}},
               "Results": [{"Target": f"{tag} (debian 12.1)", "Class": "os-pkgs", "Type": "debian",
                            "Vulnerabilities": found}]}
        with open(os.path.join(scans, f"app{i}.json"), "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        containers.append({"subject": {"type": "container", "name": f"app{i}", "id": f"{i:064x}", "image": tag},
                           "inspect": {"Id": f"{i:064x}", "Image": image_id, "Name": f"/app{i}",
                                       "Config": {"Image": tag, "User": "app"}, "State": {"Running": True},
                                       "HostConfig": {}}})
    with open(os.path.join(folder, "containers.json"), "w", encoding="utf-8") as fh:
        json.dump(containers, fh)
    return scans


def _peak_mb() -> float:
    """This process's peak resident memory. VmHWM where Linux gives it: ru_maxrss keeps the forking
    parent's peak across exec, so it would hide a child smaller than this script's generator."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(folder: str, with_scans: bool) -> None:
    from auditor import api
    from auditor.collect.collected import Collected
    from auditor.evidence.bundle import build_bundle

    start = time.perf_counter()
    with open(os.path.join(folder, "containers.json"), encoding="utf-8") as fh:
        containers = json.load(fh)
    collected = Collected(targets={"docker.container": containers})
    if with_scans:
        from auditor.collect.scans import collect_scans

        collected.merge(collect_scans([os.path.join(folder, "scans")]))
    evidence = build_bundle(collected, collected_at="2026-12-07T00:00:00Z")
    out = os.path.join(folder, "out-with" if with_scans else "out-without")
    outcome = api.judge_and_write(evidence, api.Judging(packs=["cis-docker-1.6.0", "container-essentials",
                                                               "vulnerability-scans"]),
                                  api.Outputs(output_dir=out, pdf=False), "bench")
    seconds = time.perf_counter() - start
    peak = _peak_mb()
    view = outcome.results.get("vulnerabilities") or {}
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "images": len(view.get("images") or []),
                      "vulnerabilities": sum((view.get("totals") or {}).get("counts", {}).values())}))


def run(folder: str, with_scans: bool) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", folder, "with" if with_scans else "without"],
                          capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": REPO})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3] == "with")
        return
    images = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    vulns = int(sys.argv[2]) if len(sys.argv) > 2 else 40000
    folder = tempfile.mkdtemp(prefix="auditor-bench-scans-")
    try:
        make_inputs(folder, images, vulns)
        size = sum(os.path.getsize(os.path.join(folder, "scans", n)) for n in os.listdir(os.path.join(folder, "scans")))
        best: dict[bool, dict] = {}
        for _ in range(3):  # best of three, each in a fresh process
            for with_scans in (False, True):
                got = run(folder, with_scans)
                if with_scans not in best or got["seconds"] < best[with_scans]["seconds"]:
                    best[with_scans] = got
        without, with_ = best[False], best[True]
        print(f"scan files: {images} ({size / 2**20:.1f} MB), vulnerabilities judged: {with_['vulnerabilities']}, "
              f"images in the table: {with_['images']}")
        print(f"audit without scans: {without['seconds']:.2f} s, peak {without['peak_mb']:.0f} MB")
        print(f"audit with scans:    {with_['seconds']:.2f} s, peak {with_['peak_mb']:.0f} MB")
        print(f"added by the scans:  {with_['seconds'] - without['seconds']:.2f} s (target <= 1 s), "
              f"{with_['peak_mb'] - without['peak_mb']:.0f} MB (target <= 150 MB)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
