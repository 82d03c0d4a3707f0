"""The waivers of a results document as the HTML and PDF reports show them.

Read from ``results["waivers"]`` (written by ``auditor.judging.waivers.apply_waivers``, docs/waivers.md):
which waivers were applied, which had expired (their findings stay failures) and which covered
nothing. A waiver record on a finding becomes one line: who accepted what, why, ticket and expiry.
"""

from __future__ import annotations

from typing import Any

WAIVER_STATES = (("applied", "Applied"), ("expired", "Expired"), ("unused", "Unused"))


def waiver_line(record: Any) -> str:
    """A waiver record as one readable line: owner, ticket, expiry, reason (the subject selector too)."""
    from auditor.report.formatting import as_text

    if not isinstance(record, dict):
        return as_text(record)
    parts = [f"by {as_text(record.get('owner', '?'))}"]
    if record.get("ticket"):
        parts.append(f"ticket {as_text(record['ticket'])}")
    parts.append(f"until {as_text(record.get('expires', '?'))}")
    if record.get("subject"):
        parts.append(f"subjects {as_text(record['subject'])}")
    known = {"index", "line", "control", "subject", "reason", "owner", "ticket", "expires", "findings", "controls"}
    parts.extend(f"{k} {as_text(v)}" for k, v in record.items() if k not in known)
    return ", ".join(parts) + f": {as_text(record.get('reason', ''))}"


def waivers_view(results: dict[str, Any], anchors: dict[tuple[str, str], str]) -> dict[str, Any] | None:
    """The waivers chapter: file, date, and every waiver by state (None when no waivers were applied)."""
    from auditor.report.formatting import as_text, fmt_pct

    section = results.get("waivers")
    if not isinstance(section, dict):
        return None
    summary = results.get("summary") or {}
    rows = []
    for state, label in WAIVER_STATES:
        for entry in section.get(state) or []:
            if not isinstance(entry, dict):
                continue
            controls = []
            for ref in entry.get("controls") or []:
                pack, _, cid = str(ref).rpartition(":")
                controls.append((str(ref), anchors.get((pack, cid))))
            rows.append({"state": state, "label": label, "line": as_text(entry.get("line", "")),
                         "control": as_text(entry.get("control", "")),
                         "subject": as_text(entry["subject"]) if entry.get("subject") else "every subject",
                         "findings": entry.get("findings", 0), "controls": controls,
                         "owner": as_text(entry.get("owner", "")), "ticket": as_text(entry.get("ticket") or ""),
                         "expires": as_text(entry.get("expires", "")), "reason": as_text(entry.get("reason", ""))})
    counts = {state: len(section.get(state) or []) for state, _ in WAIVER_STATES}
    return {"source": as_text(section.get("source", "")), "sha256": as_text(section.get("sha256", "")),
            "today": as_text(section.get("today", "")), "rows": rows, "counts": counts,
            "score": fmt_pct(summary.get("score")),
            "score_without_waivers": fmt_pct(summary.get("score_without_waivers")),
            "waived_controls": (summary.get("counts") or {}).get("waived", 0),
            "formula": as_text((results.get("scoring") or {}).get("waivers", ""))}
