"""Pipeline gates: decide from a results document whether a run breaches what the user demanded.

- ``--fail-under SCORE``: the overall score (``summary.score``, waived controls counted as passed)
  is below SCORE; ``--fail-under ID=SCORE`` does the same for one pack or framework (repeatable).
  A score that could not be computed (no automated control passed or failed) breaches the gate.
- ``--fail-on SEVERITY``: a control that fails (and is not waived) has that severity or a higher one.
- ``--fail-on-regression``: the comparison with the baseline found a regression: a control that
  fails now and did not before, or a subject that newly fails a control (waived ones excepted).

Every breach is reported; any breach means exit code 1 (``ExitCode.GATE_BREACHED``), unless the
evidence was incomplete, which wins (exit 3): a score from incomplete evidence is not a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditor.common.errors import InputError
from auditor.packs.loader import SEVERITIES


@dataclass(frozen=True)
class ScoreGate:
    """``--fail-under``: ``target`` None means the overall score, else a pack or framework id."""

    score: float
    target: str | None = None


@dataclass(frozen=True)
class Gates:
    """Every gate of one run."""

    fail_under: tuple[ScoreGate, ...] = ()
    fail_on: str | None = None
    fail_on_regression: bool = False


def parse_fail_under(values: Sequence[str]) -> tuple[ScoreGate, ...]:
    """Parse ``--fail-under`` values: ``80`` or ``PACK_OR_FRAMEWORK_ID=80``."""
    gates = []
    for raw in values:
        target, sep, number = str(raw).rpartition("=")
        try:
            score = float(number)
        except ValueError:
            score = -1.0
        if not 0 <= score <= 100 or (sep and not target):
            raise InputError(f"--fail-under {raw!r}: expected SCORE or ID=SCORE with SCORE between 0 and 100, "
                             "e.g. 80 or cis-docker-1.6.0=80")
        gates.append(ScoreGate(score=score, target=target or None))
    return tuple(gates)


def parse_fail_on(value: str | None) -> str | None:
    if value is not None and value not in SEVERITIES:
        raise InputError(f"--fail-on {value!r}: choose a severity from {', '.join(SEVERITIES)}")
    return value


def _scored(results: dict[str, Any], target: str) -> dict[str, Any]:
    scored = {p["id"]: p for p in results.get("packs", [])}
    scored.update({f["id"]: f for f in results.get("frameworks") or [] if isinstance(f, dict) and "id" in f})
    if target not in scored:
        raise InputError(f"--fail-under {target}=...: no pack or framework {target!r} in the results "
                         f"(have: {', '.join(sorted(scored)) or 'none'})")
    return scored[target]


def breaches(results: dict[str, Any], gates: Gates) -> list[str]:
    """One message per breached gate (empty when every gate holds)."""
    out = []
    for gate in gates.fail_under:
        scored = results["summary"] if gate.target is None else _scored(results, gate.target)
        score = scored.get("score")
        if score is None or score < gate.score:
            what = "score" if gate.target is None else f"{gate.target} score"
            shown = "n/a" if score is None else f"{score:g}"
            out.append(f"{what} {shown} is below --fail-under {gate.score:g}")
    if gates.fail_on is not None:
        ceiling = SEVERITIES.index(gates.fail_on)
        failing = [c for c in results["controls"]
                   if c["status"] == "fail" and SEVERITIES.index(c["severity"]) <= ceiling]
        if failing:
            names = ", ".join(f"{c['pack']}:{c['id']} ({c['severity']})" for c in failing[:10])
            more = f" and {len(failing) - 10} more" if len(failing) > 10 else ""
            out.append(f"{len(failing)} failing control(s) of severity {gates.fail_on} or higher: {names}{more}")
    if gates.fail_on_regression:
        diff = (results.get("baseline") or {}).get("diff")
        if diff is None:
            raise InputError("--fail-on-regression needs --baseline OLD.json")
        out.extend(regression_breaches(diff))
    return out


def regression_breaches(diff: dict[str, Any]) -> list[str]:
    """The ``--fail-on-regression`` messages for a diff (``auditor diff`` uses it too)."""
    summary = diff["summary"]
    if not summary["regression"]:
        return []
    regressed = [f"{c['pack']}:{c['id']}" for c in diff["controls"]["regressed"]]
    parts = []
    if regressed:
        parts.append(f"{len(regressed)} control(s) now fail: {', '.join(regressed[:10])}"
                     + (f" and {len(regressed) - 10} more" if len(regressed) > 10 else ""))
    if summary["new_unwaived_findings"]:
        parts.append(f"{summary['new_unwaived_findings']} subject(s) newly fail a control")
    return ["regression against the baseline: " + "; ".join(parts)]
