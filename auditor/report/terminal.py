"""Terminal summary: a tabulate table per pack and section, then the failing controls."""

from __future__ import annotations

import re
from typing import Any

from tabulate import tabulate

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def safe_text(value: Any, limit: int = 120) -> str:
    """Text fit for a terminal: control characters (ANSI escapes included) shown, never obeyed."""
    text = "" if value is None else str(value)
    text = _CONTROL_CHARS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _row(label: str, title: str, scored: dict[str, Any]) -> list[Any]:
    c = scored["counts"]
    return [label, safe_text(title, 52), _pct(scored["score"]), _pct(scored["coverage"]),
            c["pass"], c["fail"], c["error"], c["not_applicable"], c["manual"]]


def render_table(results: dict[str, Any], max_failures: int = 60) -> str:
    """The summary shown after an audit."""
    headers = ["section", "title", "score", "coverage", "pass", "fail", "error", "n/a", "manual"]
    lines = []
    ev = results["evidence"]
    lines.append(f"host {safe_text(ev.get('host'))}  evidence {str(ev.get('sha256') or '')[:12]}  "
                 f"collected {ev.get('collected_at')}  {'complete' if ev.get('complete') else 'INCOMPLETE'}")
    for err in ev.get("errors", []):
        lines.append(f"  ! {safe_text(err.get('source'))}: {safe_text(err.get('message'), 200)}")
    for pack in results["packs"]:
        rows = [_row(s["id"], s["title"], s) for s in pack["sections"]]
        rows.append(_row("total", f"{pack['title']} {pack['version']}", pack))
        lines.append("")
        lines.append(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    summary = results["summary"]
    lines.append("")
    lines.append(f"Score {_pct(summary['score'])} / 100, coverage {_pct(summary['coverage'])} %  "
                 f"({results['scoring']['score']})")
    failing = [c for c in results["controls"] if c["status"] in ("fail", "error")]
    failing.sort(key=lambda c: (c["status"] != "fail", SEVERITY_RANK.get(c["severity"], 9), -c["weight"]))
    if failing:
        rows = []
        one_pack = len(results["packs"]) == 1
        for c in failing[:max_failures]:
            subjects = c["subjects"]
            bad = subjects["fail"] if c["status"] == "fail" else subjects["error"]
            control = c["id"] if one_pack else f"{c['pack']}:{c['id']}"
            rows.append([c["status"].upper(), c["severity"], control, safe_text(c["title"], 90),
                         f"{bad}/{subjects['total']}" if subjects["total"] else safe_text(c.get("reason"), 40)])
        lines.append("")
        lines.append(tabulate(rows, headers=["status", "severity", "control", "title", "subjects"],
                              tablefmt="simple", disable_numparse=True))
        if len(failing) > max_failures:
            lines.append(f"... and {len(failing) - max_failures} more failing or errored controls "
                         f"(see the results JSON)")
    return "\n".join(lines) + "\n"
