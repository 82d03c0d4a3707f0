"""Errors the CLI turns into one-line messages and documented exit codes."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of every auditor command (documented in the README)."""

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
