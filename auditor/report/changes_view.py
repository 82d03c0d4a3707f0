"""A diff document (auditor.results.diff.diff_results) as the HTML and PDF renderers show it.

Used twice: the "Changes since baseline" chapter of a report (``results["baseline"]``) and the
report of ``auditor diff --format html,pdf``. Both read the diff document only (docs/diff.md).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Control change categories in display order, with their headings.
CATEGORY_LABELS = (("regressed", "Regressed"), ("fixed", "Fixed"), ("to_error", "Now error"),
                   ("to_manual", "Now manual"), ("waived", "Now waived"), ("other", "Other change"),
                   ("appeared", "Appeared"), ("disappeared", "Disappeared"))
# Subject rows printed per list in the PDF; the full lists are in the attached JSON and the HTML.
PRINT_FINDING_ROWS = 40
SCORE_ROWS = (("score", "Score"), ("score_without_waivers", "Score without waivers"), ("coverage", "Coverage"))


def _signed(value: Any) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{value:+.1f}"


def _delta_class(value: Any, better_up: bool = True) -> str:
    """Green when a change is an improvement, red when it is a deterioration, plain otherwise."""
    if not isinstance(value, (int, float)) or value == 0:
        return "d0"
    return "dup" if (value > 0) == better_up else "ddown"


def _score_cells(row: dict[str, Any]) -> list[dict[str, Any]]:
    from auditor.report.formatting import fmt_pct

    cells = []
    for name, label in SCORE_ROWS:
        value = row.get(name)
        if isinstance(value, dict):
            cells.append({"name": name, "label": label, "old": fmt_pct(value.get("old")),
                          "new": fmt_pct(value.get("new")), "delta": _signed(value.get("delta")),
                          "cls": _delta_class(value.get("delta"))})
    return cells


def _scored(row: dict[str, Any], label: str) -> dict[str, Any]:
    cells = {c["name"]: c for c in _score_cells(row)}
    blank = {"old": "", "new": "", "delta": "", "cls": "d0"}
    return {"label": label, "title": str(row.get("title", "")), "state": str(row.get("state", "")),
            "score": cells.get("score", blank), "coverage": cells.get("coverage", blank),
            "changed": row.get("state") != "both" or any(
                c["delta"] not in ("n/a", "+0.0") for c in cells.values())}


def _status_view(status: Any) -> dict[str, str]:
    from auditor.report.formatting import status_class, status_label

    if status is None:
        return {"label": "-", "cls": "st-none"}
    return {"label": status_label(status), "cls": status_class(status)}


def changes_view(diff: dict[str, Any], anchors: dict[tuple[str, str], str] | None = None,
                 pdf: bool = False) -> dict[str, Any]:
    """Everything the changes template shows; ``anchors`` links control ids to their details."""
    from auditor.report.formatting import as_text, status_label
    from auditor.report.terminal import SEVERITY_RANK

    anchors = anchors or {}
    summary = diff.get("summary") or {}
    overall = diff.get("overall") or {}
    counts = overall.get("counts") or {}
    count_rows = [{"status": status_label(s), "old": v.get("old"), "new": v.get("new"),
                   "delta": v.get("delta") or 0} for s, v in counts.items() if isinstance(v, dict)]
    scored = [_scored(r, "pack") | {"id": str(r.get("id", ""))} for r in diff.get("packs") or []]
    scored += [_scored(r, "framework") | {"id": str(r.get("id", ""))} for r in diff.get("frameworks") or []]
    sections = [_scored(r, "section") | {"id": f"{r.get('pack', '')} {r.get('id', '')}"}
                for r in diff.get("sections") or []]
    changed_sections = [s for s in sections if s["changed"]]
    categories = []
    for key, label in CATEGORY_LABELS:
        rows = []
        changes = (diff.get("controls") or {}).get(key) or []
        for c in sorted(changes, key=lambda c: SEVERITY_RANK.get(str(c.get("severity")), 9)):
            ref = (str(c.get("pack", "")), str(c.get("id", "")))
            was = ""
            if c.get("old_id"):
                was = f"as {c.get('old_pack', '')}:{c['old_id']}"
            rows.append({"ref": f"{ref[0]}:{ref[1]}", "anchor": anchors.get(ref), "title": str(c.get("title") or ""),
                         "severity": str(c.get("severity", "")), "old": _status_view(c.get("old_status")),
                         "new": _status_view(c.get("new_status")), "was": was})
        if rows:
            categories.append({"key": key, "label": label, "rows": rows})
    findings = []
    for key, label in (("new", "New"), ("resolved", "Resolved")):
        rows = (diff.get("findings") or {}).get(key) or []
        shown = rows[:PRINT_FINDING_ROWS] if pdf else rows
        findings.append({"key": key, "label": label, "total": len(rows), "more": len(rows) - len(shown), "rows": [
            {"ref": f"{f.get('pack', '')}:{f.get('control', '')}",
             "anchor": anchors.get((str(f.get("pack", "")), str(f.get("control", "")))),
             "identity": str(f.get("identity", "")), "before": _status_view(f.get("before"))["label"]
             if f.get("before") != "absent" else "absent", "after": _status_view(f.get("after"))["label"]
             if f.get("after") != "absent" else "absent",
             "waived": bool(f.get("waived")), "observed": as_text(f["observed"]) if "observed" in f else "",
             "expected": as_text(f["expected"]) if "expected" in f else ""} for f in shown]})
    return {
        "summary": summary, "regression": bool(summary.get("regression")), "changed": bool(summary.get("changed")),
        "overall": _score_cells(overall), "counts": count_rows,
        "sides": _sides(diff.get("old") or {}, diff.get("new") or {}),
        "scored": scored, "sections": changed_sections, "sections_unchanged": len(sections) - len(changed_sections),
        "categories": categories, "findings": findings,
        "warnings": [as_text(w) for w in diff.get("warnings") or []],
        "tally": _tally(summary),
    }


def _side_value(value: Any) -> str:
    from auditor.report.formatting import as_text

    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "yes" if value is True else "no" if value is False else "" if value is None else as_text(value)


def _sides(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, baseline, now) rows describing the two documents compared."""
    names = (("host", "Host"), ("collected_at", "Evidence collected"), ("generated_at", "Results generated"),
             ("evidence_sha256", "Evidence sha256"), ("auditor_version", "Auditor"), ("packs", "Packs"),
             ("waivers", "Waivers applied"), ("complete", "Evidence complete"))
    return [(label, _side_value(old.get(key)), _side_value(new.get(key))) for key, label in names
            if key in old or key in new]


def _tally(summary: dict[str, Any]) -> str:
    parts = [f"{summary.get(k, 0)} {label.lower()}" for k, label in CATEGORY_LABELS if summary.get(k)]
    parts.append(f"{summary.get('new_findings', 0)} newly failing subjects")
    parts.append(f"{summary.get('resolved_findings', 0)} resolved")
    return ", ".join(parts)


def serialize_diff(diff: dict[str, Any]) -> bytes:
    """The bytes of a diff document as `auditor diff --format json` prints it."""
    return (json.dumps(diff, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def diff_context(diff: dict[str, Any], diff_bytes: bytes, pdf: bool, source_names: tuple[str, str],
                 diff_name: str) -> dict[str, Any]:
    """The context of the standalone diff report (template diff.html.j2)."""
    from auditor.report.formatting import fmt_pct, gauge

    sha = hashlib.sha256(diff_bytes).hexdigest()
    new = diff.get("new") or {}
    overall = diff.get("overall") or {}
    score = overall.get("score") or {}
    coverage = overall.get("coverage") or {}
    old_name, new_name = source_names
    return {
        "title": f"Audit comparison: {old_name} -> {new_name}",
        "old_name": old_name, "new_name": new_name, "host": str(new.get("host") or "unknown host"),
        "report_id": "D-" + sha[:12].upper(), "diff_sha256": sha, "diff_name": diff_name,
        "auditor_version": _auditor_version(), "generated_at": str(new.get("generated_at") or ""),
        "gauge": gauge(score.get("new"), coverage.get("new")),
        "score_old": fmt_pct(score.get("old")), "score_new": fmt_pct(score.get("new")),
        "score_delta": _signed(score.get("delta")), "score_cls": _delta_class(score.get("delta")),
        "changes": changes_view(diff, None, pdf),
    }


def _auditor_version() -> str:
    from auditor.common.version import __version__

    return str(__version__)
