"""Errors the CLI turns into one-line messages and documented exit codes."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of every auditor command (documented in the README and docs/ci.md).

    0: success (controls may still fail: gates decide); 1: a gate breached (``--fail-under``,
    ``--fail-on``, ``--fail-on-regression``); 2: invalid input (bad option, pack, evidence, results
    or waivers file), reported before anything is collected where possible; 3: evidence incomplete.
    When several apply: 2 stops the run, so it wins; then 3 wins over 1 (a score from incomplete
    evidence is not a pass, and the breached gates are still reported on stderr); then 1; then 0.
    """

    SUCCESS = 0
    GATE_BREACHED = 1
    INVALID_INPUT = 2
    EVIDENCE_INCOMPLETE = 3
    INTERRUPTED = 130


class AuditorError(Exception):
    """Base class: a problem reported as one line, never a traceback."""

    exit_code = ExitCode.INVALID_INPUT


class InputError(AuditorError):
    """A malformed pack, evidence, results or option: names the file and the place."""
