"""Benchmark: a fleet of Docker hosts is collected in parallel, so it takes about
max(host time) x N / pool, not the sum of the hosts' times (issue 12).

The hosts: the system dockerd on its unix socket, a second real dockerd (own data root and
socket), and N slow hosts: loopback TCP addresses that relay to the system dockerd and hold each
chunk of every answer back by --delay seconds (a daemon far away or overloaded). Each fleet is
audited by `auditor audit --docker-host ... --docker-parallel P` as a user runs it (core run:
results only, and the default run with HTML and PDF once). Printed: one slow host alone, then the
fleet at several pool sizes beside max x ceil(N / P).

    python3 tests/perf/bench_fleet.py [--slow 8] [--delay 0.2] [--pools 1,2,4,8]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE), os.path.dirname(os.path.dirname(HERE))]

import dockerd  # noqa: E402
import relay  # noqa: E402
from bench_default_run import auditor, mib, run_measured  # noqa: E402

SYSTEM_SOCKET = "/var/run/docker.sock"


@contextlib.contextmanager
def slow_relay(delay: float):
    """A loopback TCP address relaying to the system dockerd, each answer chunk held back."""
    with relay.loopback_to_unix(SYSTEM_SOCKET, delay_back=delay) as port:
        yield f"tcp://127.0.0.1:{port}"


def audit(hosts: list[str], pool: int, out: str, reports: bool = False) -> dict:
    args = ["audit", "--pack", "cis-docker-1.6.0", "--timeout", "30", "--docker-parallel", str(pool), "-o", out]
    for h in hosts:
        args += ["--docker-host", h]
    if not reports:
        args += ["--no-html", "--no-pdf"]
    return run_measured(auditor(*args))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slow", type=int, default=8, help="slow hosts (default 8)")
    ap.add_argument("--delay", type=float, default=0.2, help="seconds each answer chunk is held back")
    ap.add_argument("--pools", default="1,2,4,8")
    args = ap.parse_args()
    if not dockerd.answers(dockerd.SYSTEM_HOST):
        raise SystemExit("no system dockerd at " + dockerd.SYSTEM_HOST)
    work = tempfile.mkdtemp(prefix="bench-fleet-")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    try:
        with contextlib.ExitStack() as stack:
            second = stack.enter_context(dockerd.second_dockerd({"icc": False}))
            slow = [stack.enter_context(slow_relay(args.delay)) for _ in range(args.slow)]
            one = audit([slow[0]], 1, os.path.join(work, "one"))
            fast = audit([dockerd.SYSTEM_HOST, second], 2, os.path.join(work, "two"))
            print(f"  one slow host alone ({args.delay:g} s per answer chunk)   {one['wall']:6.2f} s")
            print(f"  the two real daemons together                 {fast['wall']:6.2f} s")
            fleet = [dockerd.SYSTEM_HOST, second, *slow]
            n = len(fleet)
            for pool in (int(p) for p in args.pools.split(",")):
                r = audit(fleet, pool, os.path.join(work, f"p{pool}"))
                expect = one["wall"] * math.ceil(args.slow / pool)
                print(f"  fleet of {n} hosts, --docker-parallel {pool:2d}        {r['wall']:6.2f} s  "
                      f"(max x ceil(slow/pool) = {expect:5.2f} s; sum of hosts {one['wall'] * args.slow:5.2f} s)  "
                      f"peak {mib(r['peak'])}  exit {r['code']}")
            r = audit(fleet, 8, os.path.join(work, "default"), reports=True)
            print(f"  fleet of {n} hosts, default run (HTML and PDF)    {r['wall']:6.2f} s  peak {mib(r['peak'])}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
