"""Hostile inputs shared by tests/test_security_*.py and the fuzzer: hostile strings, CLI runs in a
bounded child process, and a tally of what was tried (inputs, faults, canaries)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Strings that must stay inert in every output: markup, script, CSS and link schemes, spreadsheet
# formulas, terminal escapes (clear screen, window title, OSC 8 link), bidi overrides, NUL.
HOSTILE = [
    "<script>alert('xss')</script>",
    "</style><img src=x onerror=alert(1)>",
    "\" onmouseover=\"alert(1)",
    "url(file:///etc/passwd)",
    "javascript:alert(1)",
    "http://evil.invalid/x",
    "file:///etc/shadow",
    "=HYPERLINK(\"http://evil.invalid\",\"click\")",
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\x1b[2J\x1b[1;31mPWNED\x1b[0m",
    "\x1b]0;owned-title\x07",
    "\x1b]8;;http://evil.invalid\x1b\\link\x1b]8;;\x1b\\",
    "\u202eevil\u202c",
    "nul\x00byte",
    "{{ 7*7 }}{% raw %}",
]
BIG = "M" * 1_000_000

# Markers whose raw presence in an output means a hostile string was not neutralised.
# (Escaped, as &lt;img ... &gt; or &#34; onmouseover=..., they are text and harmless.)
RAW_MARKUP = ("<script>alert", "<img src=x", '" onmouseover="alert')


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(args: list[str], *, timeout: float = 120, memory_mb: int = 3072, env: dict[str, str] | None = None,
            cwd: str | None = None) -> Run:
    """`python -m auditor ARGS` in a child with a time limit and an address-space limit."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    full_env = {**os.environ, "AUDITOR_NO_PDF": "1", "PYTHONPATH": ROOT, **(env or {})}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, timeout=timeout,
                          env=full_env, cwd=cwd or ROOT, preexec_fn=limit, check=False)
    return Run(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"),
               time.perf_counter() - start)


def assert_one_line_error(run: Run) -> None:
    """No traceback, and the message is one line."""
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("auditor: ")]
    assert lines, run.stderr[-2000:]


TALLY_FILE = os.environ.get("AUDITOR_SECURITY_TALLY")


def tally(kind: str, count: int = 1) -> None:
    """Count inputs tried, faults injected, canaries planted (appended to $AUDITOR_SECURITY_TALLY)."""
    if TALLY_FILE:
        with open(TALLY_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"kind": kind, "count": count}) + "\n")
