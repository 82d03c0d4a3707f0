"""Formatting shared by every renderer: status and severity labels, colours and order, percent
text, gauges and bars, subject labels, and printable text (control characters replaced).

Pure functions of values in a results document; the views (context, changes_view, framework_view,
waiver_view) and the CSV, JUnit and SARIF writers import from here, never from each other.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from auditor.common.text import has_controls, replace_controls
from auditor.report.terminal import SEVERITY_RANK

# Known statuses in display order; any other status is shown after them with a neutral style.
STATUS_ORDER = ("fail", "error", "waived", "pass", "not_applicable", "manual")
STATUS_LABELS = {"pass": "Pass", "fail": "Fail", "error": "Error", "not_applicable": "Not applicable",
                 "manual": "Manual", "waived": "Waived", "not_assessed": "Not assessed"}
STATUS_COLORS = {"pass": "#1a7f37", "fail": "#c62828", "error": "#b35900", "not_applicable": "#8c959f",
                 "manual": "#2f6fb3", "waived": "#7b4bc4", "not_assessed": "#6e7781"}
OTHER_COLOR = "#57606a"
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
SEVERITY_COLORS = {"critical": "#8b1a1a", "high": "#c62828", "medium": "#b35900", "low": "#9a7d0a",
                   "info": "#57606a"}
# Statuses whose control is a problem to list among the failing controls.
PROBLEM_STATUSES = ("fail", "error")
PRINT_VALUE_CHARS = 400
_CSS_TOKEN = re.compile(r"[^a-z0-9_-]+")


def printable(value: Any) -> Any:
    """Every value a template prints: control and bidi characters (NUL, ESC of terminal escapes,
    U+202E, ...) become U+FFFD, so neither the HTML nor the PDF's text layer carries them to a
    terminal that shows it (auditor.common.text)."""
    if not isinstance(value, str) or not has_controls(value):
        return value
    import markupsafe

    cleaned = replace_controls(value)
    # markup built by our own code (charts) stays markup; plain strings stay plain (escaped later)
    return markupsafe.Markup(cleaned) if isinstance(value, markupsafe.Markup) else cleaned


def as_text(value: Any) -> str:
    """Any JSON value as one readable string: strings as they are, the rest as compact JSON."""
    import jinja2

    if value is None:
        return "null"
    if isinstance(value, jinja2.Undefined):  # a field a malformed (but schema-valid) results file lacks
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def defaulted_fields(finding: dict[str, Any]) -> list[str]:
    """The fields a finding's verdict read from Kubernetes API defaults filled into a manifest
    (results field ``defaulted``, docs/kubernetes-defaults.md); [] when none."""
    fields = finding.get("defaulted")
    return [str(p) for p in fields] if isinstance(fields, list) else []


def defaulted_note(finding: dict[str, Any]) -> str:
    """"API default, not in the manifest: a, b" naming :func:`defaulted_fields`; "" when none."""
    fields = defaulted_fields(finding)
    return f"API default, not in the manifest: {', '.join(fields)}" if fields else ""


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_label(status: Any) -> str:
    status = str(status)
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


def status_class(status: Any) -> str:
    """A CSS class for a status: known ones by name, anything else one neutral class."""
    return f"st-{status}" if status in STATUS_LABELS else "st-other"


def status_color(status: Any) -> str:
    return STATUS_COLORS.get(str(status), OTHER_COLOR)


def severity_rank(severity: Any) -> int:
    return SEVERITY_RANK.get(str(severity), len(SEVERITY_RANK))


def filter_token(value: Any) -> str:
    """A value reduced to a safe token for data attributes the filter script compares."""
    return _CSS_TOKEN.sub("-", str(value).lower())


def fmt_pct(value: Any) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{value:.1f}"


def ordered_statuses(counts: dict[str, Any]) -> list[str]:
    known = [s for s in STATUS_ORDER if s in counts]
    return known + sorted(s for s in counts if s not in STATUS_ORDER)


def _arc(cx: float, cy: float, r: float, fraction: float) -> str:
    """SVG path of a clockwise arc from 12 o'clock covering ``fraction`` of the circle."""
    fraction = max(0.0, min(1.0, fraction))
    if fraction >= 0.9999:  # a full circle cannot be one arc: draw two halves
        return (f"M {cx:.2f} {cy - r:.2f} A {r:.2f} {r:.2f} 0 1 1 {cx:.2f} {cy + r:.2f} "
                f"A {r:.2f} {r:.2f} 0 1 1 {cx:.2f} {cy - r:.2f}")
    angle = 2 * math.pi * fraction
    x, y = cx + r * math.sin(angle), cy - r * math.cos(angle)
    large = 1 if fraction > 0.5 else 0
    return f"M {cx:.2f} {cy - r:.2f} A {r:.2f} {r:.2f} 0 {large} 1 {x:.2f} {y:.2f}"


def score_color(score: Any) -> str:
    if not isinstance(score, (int, float)):
        return OTHER_COLOR
    if score >= 80:
        return STATUS_COLORS["pass"]
    if score >= 50:
        return "#b35900"
    return STATUS_COLORS["fail"]


def gauge(score: Any, coverage: Any) -> dict[str, Any]:
    """Geometry of the score donut (outer ring) and coverage ring (inner)."""
    s = score / 100.0 if isinstance(score, (int, float)) else 0.0
    c = coverage / 100.0 if isinstance(coverage, (int, float)) else 0.0
    return {"score_path": _arc(80, 80, 66, s) if s > 0 else "", "coverage_path": _arc(80, 80, 50, c) if c > 0 else "",
            "color": score_color(score), "score": fmt_pct(score), "coverage": fmt_pct(coverage)}


def status_bar(counts: dict[str, Any], width: float = 600.0) -> list[dict[str, Any]]:
    """Segments of a stacked bar of status counts (x, width, colour, label, count)."""
    statuses = [s for s in ordered_statuses(counts) if isinstance(counts.get(s), int) and counts[s] > 0]
    total = sum(counts[s] for s in statuses)
    out, x = [], 0.0
    for s in statuses:
        w = width * counts[s] / total if total else 0.0
        out.append({"status": s, "label": status_label(s), "count": counts[s], "x": round(x, 2), "w": round(w, 2),
                    "color": status_color(s), "cls": status_class(s)})
        x += w
    return out


def subject_label(subject: dict[str, Any]) -> str:
    name = str(subject.get("name", "(no subject)"))
    if subject.get("host") and str(subject["host"]) != name:  # a merged bundle: which node or Docker host
        name = f"{subject['host']}: {name}"
    if subject.get("file"):
        where = str(subject["file"]) + (f":{subject['line']}" if subject.get("line") is not None else "")
        if where != name:
            return f"{name} ({where})"
    return name
