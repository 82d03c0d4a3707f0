#!/usr/bin/env python3
"""Record the bundled demo evidence (auditor/data/demo-evidence.json) from a real dockerd.

Creates the scenario's containers (tests/scenario.py: one hardened container and a score of
containers each breaking a few CIS controls), collects a real evidence bundle, removes the
containers, and writes the bundle with the host name replaced and run labels dropped.

Usage: python3 tests/record_demo.py [--docker-host unix:///var/run/docker.sock]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import dockerd  # noqa: E402
import scenario  # noqa: E402

from auditor.collect.docker import collect_docker  # noqa: E402
from auditor.evidence.bundle import build_bundle, save_bundle  # noqa: E402

OUT = os.path.join(os.path.dirname(HERE), "auditor", "data", "demo-evidence.json")
DEMO_HOST = "demo-docker-host"


def scrub(obj, real_host: str):  # type: ignore[no-untyped-def]
    """Replace the recording machine's name and drop the test-run labels."""
    if isinstance(obj, dict):
        return {k: scrub(v, real_host) for k, v in obj.items()
                if k not in (dockerd.TEST_LABEL, dockerd.RUN_LABEL.split("=")[0])}
    if isinstance(obj, list):
        return [scrub(v, real_host) for v in obj]
    if isinstance(obj, str) and obj == real_host:
        return DEMO_HOST
    return obj


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docker-host", default=dockerd.SYSTEM_HOST)
    parser.add_argument("-o", "--output", default=OUT)
    args = parser.parse_args()
    with scenario.Scenario(args.docker_host, prefix="demo-"):
        time.sleep(2)  # let health checks and restart policies settle
        collected = collect_docker(docker_host=args.docker_host)
    real_host = os.uname().nodename
    collected.targets = scrub(collected.targets, real_host)
    for item in collected.targets.get("docker.container", []):
        labels = item["inspect"]["Config"].get("Labels") or {}
        labels["app"] = item["subject"]["name"]
    bundle = build_bundle(collected, host=DEMO_HOST)
    save_bundle(bundle, args.output)
    counts = ", ".join(f"{len(v)} {k}" for k, v in bundle["targets"].items())
    print(f"wrote {args.output}: {counts}")


if __name__ == "__main__":
    main()
