"""Terminal summary of the waivers applied to a results document (auditor.judging.waivers.apply_waivers)."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from auditor.report.terminal import safe_text


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_waivers_summary(results: dict[str, Any]) -> str:
    """Scores with and without waivers, then applied, expired and unused waivers."""
    w = results["waivers"]
    s = results["summary"]
    lines = [f"Waivers from {safe_text(w['source'])} (as of {w['today']}): {len(w['applied'])} applied, "
             f"{len(w['expired'])} expired, {len(w['unused'])} unused; {s['counts'].get('waived', 0)} control(s) "
             f"waived. Score {_pct(s['score'])} with waivers, {_pct(s.get('score_without_waivers'))} without."]
    rows = []
    for state, entries in (("applied", w["applied"]), ("EXPIRED", w["expired"]), ("unused", w["unused"])):
        for e in entries:
            rows.append([state, e.get("line") or "", safe_text(e["control"], 30), e["findings"], e["expires"],
                         safe_text(e["owner"], 30), safe_text(e.get("ticket"), 20), safe_text(e["reason"], 50)])
    if rows:
        lines.append(tabulate(rows, headers=["waiver", "line", "control", "findings", "expires", "owner", "ticket",
                                             "reason"], tablefmt="simple", disable_numparse=True))
    return "\n".join(lines) + "\n"
