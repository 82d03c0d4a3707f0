"""Terminal rendering of a diff (auditor.results.diff.diff_results): score deltas, then what changed."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from auditor.report.terminal import SEVERITY_RANK, safe_text

# How each control change list is headed in the table, in display order.
CONTROL_HEADINGS = {
    "regressed": "REGRESSED", "fixed": "FIXED", "to_error": "ERROR", "to_manual": "MANUAL",
    "waived": "WAIVED", "other": "CHANGED", "appeared": "APPEARED", "disappeared": "GONE",
}


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _signed(value: Any) -> str:
    return "" if value is None else f"{value:+.1f}"


def _score_cells(row: dict[str, Any]) -> list[str]:
    s, c = row.get("score") or {}, row.get("coverage") or {}
    return [_num(s.get("old")), _num(s.get("new")), _signed(s.get("delta")),
            _num(c.get("old")), _num(c.get("new")), _signed(c.get("delta"))]


def _row_changed(row: dict[str, Any]) -> bool:
    return row["state"] != "both" or any((row.get(f) or {}).get("delta") not in (None, 0)
                                         for f in ("score", "coverage", "score_without_waivers"))


def render_diff_table(diff: dict[str, Any], max_rows: int = 60) -> str:
    """The diff as text: overall, packs and frameworks, changed sections, control and subject changes."""
    lines = []
    summary = diff["summary"]
    overall = diff["overall"]
    sc, cov = overall.get("score") or {}, overall.get("coverage") or {}
    lines.append(f"Score {_num(sc.get('old'))} -> {_num(sc.get('new'))} ({_signed(sc.get('delta')) or 'n/a'}), "
                 f"coverage {_num(cov.get('old'))} -> {_num(cov.get('new'))} "
                 f"({_signed(cov.get('delta')) or 'n/a'})")
    raw = overall.get("score_without_waivers")
    if raw:
        lines.append(f"Score without waivers {_num(raw.get('old'))} -> {_num(raw.get('new'))} "
                     f"({_signed(raw.get('delta')) or 'n/a'})")
    for warning in diff.get("warnings", []):
        lines.append(f"  ! {warning}")
    if not summary["changed"]:
        lines.append("No change.")
        return "\n".join(lines) + "\n"
    rows = [["pack", r["id"], r["state"], *_score_cells(r)] for r in diff["packs"]]
    rows += [["framework", r["id"], r["state"], *_score_cells(r)] for r in diff.get("frameworks", [])]
    rows += [["section", f"{r['pack']} {r['id']}", r["state"], *_score_cells(r)]
             for r in diff["sections"] if _row_changed(r)]
    if rows:
        lines.append("")
        lines.append(tabulate(rows, headers=["", "id", "", "score was", "now", "delta", "coverage was", "now",
                                             "delta"], tablefmt="simple", disable_numparse=True))
    rows = []
    for key, heading in CONTROL_HEADINGS.items():
        changes = sorted(diff["controls"][key], key=lambda c: SEVERITY_RANK.get(c["severity"], 9))
        for c in changes:
            was = c["old_status"] or "-"
            if c.get("old_id"):
                was += f" (as {c['old_pack']}:{c['old_id']})"
            rows.append([heading, c["severity"], f"{c['pack']}:{c['id']}", safe_text(c["title"], 70),
                         f"{was} -> {c['new_status'] or '-'}"])
    if rows:
        lines.append("")
        lines.append(tabulate(rows[:max_rows], headers=["change", "severity", "control", "title", "status"],
                              tablefmt="simple", disable_numparse=True))
        if len(rows) > max_rows:
            lines.append(f"... and {len(rows) - max_rows} more control changes (see --format json)")
    rows = []
    for key, heading in (("new", "NEW"), ("resolved", "RESOLVED")):
        for f in diff["findings"][key]:
            state = f"{f['before']} -> {f['after']}" + (" (waived)" if f.get("waived") else "")
            rows.append([heading, f"{f['pack']}:{f['control']}", safe_text(f["identity"], 60), state])
    if rows:
        lines.append("")
        lines.append(tabulate(rows[:max_rows], headers=["finding", "control", "subject", "status"],
                              tablefmt="simple", disable_numparse=True))
        if len(rows) > max_rows:
            lines.append(f"... and {len(rows) - max_rows} more subject changes (see --format json)")
    hosts = diff.get("hosts") or {}
    rows = [["APPEARED", safe_text(h["host"], 60), ", ".join(h.get("roles") or []), "-", _num(h.get("score"))]
            for h in hosts.get("appeared", [])]
    rows += [["GONE", safe_text(h["host"], 60), ", ".join(h.get("roles") or []), _num(h.get("score")), "-"]
             for h in hosts.get("disappeared", [])]
    rows += [["SCORE", safe_text(h["host"], 60), "", _num(h.get("old_score")), _num(h.get("new_score"))]
             for h in hosts.get("changed", [])]
    if rows:
        lines.append("")
        lines.append(tabulate(rows[:max_rows], headers=["host", "name", "roles", "score was", "now"],
                              tablefmt="simple", disable_numparse=True))
        if len(rows) > max_rows:
            lines.append(f"... and {len(rows) - max_rows} more host changes (see --format json)")
    lines.append("")
    lines.append(f"{summary['regressed']} regressed, {summary['fixed']} fixed, {summary['to_error']} now error, "
                 f"{summary['to_manual']} now manual, {summary['appeared']} appeared, "
                 f"{summary['disappeared']} gone; subjects: {summary['new_findings']} newly failing, "
                 f"{summary['resolved_findings']} resolved"
                 + ("; REGRESSION" if summary["regression"] else ""))
    vulns = diff.get("vulnerabilities") or {}
    rows = [["FIXED", safe_text(v["image"], 60), safe_text(v["vulnerability"], 80)] for v in vulns.get("fixed", [])]
    rows += [["INTRODUCED", safe_text(v["image"], 60), safe_text(v["vulnerability"], 80)]
             for v in vulns.get("introduced", [])]
    if rows:
        lines.append("")
        lines.append(f"Vulnerabilities: {vulns['fixed_total']} fixed, {vulns['introduced_total']} introduced "
                     f"(images scanned in both runs: {vulns['images_compared']})")
        lines.append(tabulate(rows[:max_rows], headers=["vulnerability", "image", "id and package"],
                              tablefmt="simple", disable_numparse=True))
        if len(rows) > max_rows:
            lines.append(f"... and {len(rows) - max_rows} more (see --format json)")
    return "\n".join(lines) + "\n"
