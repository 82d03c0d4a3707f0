"""Scores and coverage: named, documented functions of control verdicts (never of object counts).

score    = 100 x sum(weight x passed) / sum(weight x (passed + failed)), over automated controls
coverage = 100 x (automated controls that reached a verdict: pass, fail or not_applicable)
                 / (automated controls)

Weights come from the pack (per severity, or per control), never from code. A score is null when
no automated control passed or failed; coverage is null when nothing automated was selected.
Both are always shown together, so an audit that could not read half the host never looks
compliant.

Waivers (auditor/judging/waivers.py) add the status ``waived``: a control whose every failing finding is
covered by a waiver in force. Waived controls count as passed in ``score`` and as having a
verdict in ``coverage``. Once waivers are applied, every scored object (``summary``, each pack and
section) also carries ``score_without_waivers``, the same formula with waived controls counted as
failed, and ``counts.waived``; so scores are always shown with and without waivers::

    score_without_waivers = 100 x sum(weight x passed) / sum(weight x (passed + failed + waived))
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SCORE_FORMULA = "score = 100 x sum(weight x passed) / sum(weight x (passed + failed)) over automated controls"
COVERAGE_FORMULA = ("coverage = 100 x automated controls with a verdict (pass, fail, not applicable)"
                    " / automated controls")
WAIVED_SCORE_FORMULA = ("score counts waived controls as passed; score_without_waivers = 100 x sum(weight x passed)"
                        " / sum(weight x (passed + failed + waived))")
STATUS_ORDER = ("pass", "fail", "error", "not_applicable", "manual")


def score_controls(controls: Iterable[dict[str, Any]], waivers: bool = False) -> dict[str, Any]:
    """Score, coverage and status counts of a set of control results.

    With ``waivers`` (set once waivers were applied) the result also has ``score_without_waivers``
    and ``counts.waived``; a ``waived`` control counts as passed in ``score`` either way.
    """
    counts = {s: 0 for s in STATUS_ORDER}
    if waivers:
        counts["waived"] = 0
    passed_w = failed_w = waived_w = 0.0
    automated = reached = 0
    for control in controls:
        status = control["status"]
        counts[status] = counts.get(status, 0) + 1
        if control["assessment"] != "automated":
            continue
        automated += 1
        if status in ("pass", "fail", "not_applicable", "waived"):
            reached += 1
        if status == "pass":
            passed_w += control["weight"]
        elif status == "fail":
            failed_w += control["weight"]
        elif status == "waived":
            waived_w += control["weight"]
    denominator = passed_w + failed_w + waived_w
    out: dict[str, Any] = {
        "score": round(100.0 * (passed_w + waived_w) / denominator, 1) if denominator else None,
        "coverage": round(100.0 * reached / automated, 1) if automated else None,
        "counts": counts,
        "automated": automated,
        "controls": sum(counts.values()),
    }
    if waivers:
        out["score_without_waivers"] = round(100.0 * passed_w / denominator, 1) if denominator else None
    return out


def in_section(control_section: str, section_id: str) -> bool:
    return control_section == section_id or control_section.startswith(section_id + ".")
