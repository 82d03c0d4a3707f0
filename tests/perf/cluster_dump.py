"""The 43k-object cluster dump the benchmarks measure on: the file given, or one made by the
shared generator (`../shared/bench/make_cluster.py` beside the checkout) when it does not exist."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

MAKE_CLUSTER = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "shared", "bench", "make_cluster.py")
if not os.path.exists(MAKE_CLUSTER):
    MAKE_CLUSTER = "/work/shared/bench/make_cluster.py"


def make_dump(path: str, quiet: bool = False) -> str:
    """`path`, written by the generator first if it is not there yet."""
    if not os.path.exists(path):
        subprocess.run([sys.executable, MAKE_CLUSTER, path], check=True,
                       stdout=subprocess.DEVNULL if quiet else None)
    return path


def dump_from_argv(prefix: str) -> str:
    """The dump named by the script's first argument, or a new one in a temporary folder."""
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.mkdtemp(prefix=prefix), "dump.json")
    return make_dump(path)
