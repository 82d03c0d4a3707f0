"""CSV: one row per finding (controls without findings get one row), safe to open in a spreadsheet.

The last column, ``defaulted``, names the fields a verdict read from Kubernetes API defaults
filled into a manifest (docs/kubernetes-defaults.md), "; "-separated.

Control and bidi characters are written as escapes (\\x1b, \\u202e). A cell that a spreadsheet
would read as a formula (starting with = + - @, a tab or a carriage
return, or their full-width forms) is prefixed with an apostrophe, so it stays text.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from auditor.common.text import escape_controls
from auditor.report.formatting import as_text, defaulted_fields

COLUMNS = ("pack", "control", "title", "section", "level", "severity", "control_status", "finding_status",
           "subject_type", "subject_name", "subject_id", "file", "line", "expected", "observed", "where",
           "message", "waived", "reason", "defaulted")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value: Any) -> str:
    """A cell as inert text: control and bidi characters as visible escapes (tab and newline
    kept), formulas with a leading apostrophe."""
    text = escape_controls("" if value is None else as_text(value) if not isinstance(value, str) else value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(results: dict[str, Any]) -> str:
    """CSV of a results document: a header row, then one row per finding."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for c in results.get("controls", []):
        if not isinstance(c, dict):
            continue
        base = [c.get("pack"), c.get("id"), c.get("title"), c.get("section"), c.get("level"), c.get("severity"),
                c.get("status")]
        findings = [f for f in c.get("findings", []) or [] if isinstance(f, dict)]
        if not findings:
            writer.writerow([neutralise(v) for v in base + [""] * 11 + [c.get("reason"), ""]])
            continue
        for f in findings:
            s = f.get("subject") if isinstance(f.get("subject"), dict) else {}
            row = base + [f.get("status"), s.get("type"), s.get("name"), s.get("id"), s.get("file"), s.get("line"),
                          f.get("expected"), f["observed"] if "observed" in f else None, f.get("where"),
                          f.get("message"), "yes" if f.get("waived") else "", c.get("reason"),
                          "; ".join(defaulted_fields(f))]
            writer.writerow([neutralise(v) for v in row])
    return out.getvalue()
