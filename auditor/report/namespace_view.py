"""The namespace levels section of the reports (results ``namespace_levels``): per namespace, the
Pod Security level and version each mode declares, how many pods and workloads it would admit
and reject, the checks that reject most and the first rejected subjects. Bounded: at 43k objects
the HTML lists up to 500 namespaces (a table each) and the PDF the 40 with most rejections (a row
each); the results file holds every namespace. Values are plain text; the templates escape them."""

from __future__ import annotations

from typing import Any

MODES = ("enforce", "audit", "warn")
HTML_NAMESPACES = 500
PDF_NAMESPACES = 40
CHECKS_SHOWN = 5
NAMES_SHOWN = 60     # unlabelled / not enforcing namespaces named before "and N more"


def _text(value: Any, limit: int = 200) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _names(values: Any, limit: int) -> dict[str, Any]:
    names = [_text(v, 120) for v in values] if isinstance(values, list) else []
    return {"names": names[:limit], "more": max(0, len(names) - limit), "total": len(names)}


def level_text(spec: dict[str, Any]) -> str:
    """"baseline:v1.30" as Pod Security Admission writes a level and version."""
    return f"{_text(spec.get('level'), 20)}:{_text(spec.get('version'), 20)}"


def _mode_row(mode: str, spec: Any, subjects: int, checks: int) -> dict[str, Any]:
    spec = spec if isinstance(spec, dict) else {}
    declared = []
    if spec.get("level_from") == "label":
        declared.append("level" if "level_label" not in spec else f"level {_text(spec['level_label'], 40)!r} invalid")
    if spec.get("version_from") == "label":
        declared.append("version" if "version_label" not in spec
                        else f"version {_text(spec['version_label'], 40)!r} invalid")
    rows = [s for s in spec.get("subjects") or [] if isinstance(s, dict)]
    return {
        "mode": mode, "level": _text(spec.get("level"), 20), "policy": level_text(spec),
        "from": ("label: " + ", ".join(declared)) if declared else "default",
        "judged_version": _text(spec.get("judged_version") or "", 20), "note": _text(spec.get("note") or ""),
        "admitted": _int(spec.get("admitted")), "rejected": _int(spec.get("rejected")),
        "errors": _int(spec.get("errors")),
        "checks": [{"id": _text(c.get("id"), 80), "title": _text(c.get("title")), "subjects": _int(c.get("subjects"))}
                   for c in (spec.get("checks") or [])[:checks] if isinstance(c, dict)],
        "more_checks": max(0, len(spec.get("checks") or []) - checks),
        "subjects": [{"name": _text(s.get("name"), 300), "kind": _text(s.get("kind") or s.get("type"), 40),
                      "where": (f"{_text(s.get('file'), 200)}:{_int(s.get('line'))}" if s.get("file") else ""),
                      "checks": [_text(c, 80) for c in s.get("checks") or []],
                      "unknown": [_text(c, 80) for c in s.get("unknown") or []]}
                     for s in rows[:subjects]],
        "more_subjects": max(0, _int(spec.get("rejected")) + _int(spec.get("errors")) - min(len(rows), subjects)),
    }


def namespace_rows(results: dict[str, Any], limit: int = HTML_NAMESPACES, subjects: int = 10,
                   checks: int = CHECKS_SHOWN) -> dict[str, Any] | None:
    """What the reports show of ``results["namespace_levels"]``; None when the run had no namespaces."""
    view = results.get("namespace_levels")
    if not isinstance(view, dict):
        return None
    namespaces = [n for n in view.get("namespaces") or [] if isinstance(n, dict)]
    rows = []
    for ns in namespaces[:limit]:
        modes = ns.get("modes") if isinstance(ns.get("modes"), dict) else {}
        rows.append({
            "name": _text(ns.get("name"), 120), "labelled": bool(ns.get("labelled")),
            "pods": _int(ns.get("pods")), "workloads": _int(ns.get("workloads")),
            "invalid": [{"label": _text(i.get("label"), 80), "value": _text(i.get("value"), 80),
                         "message": _text(i.get("message"))}
                        for i in ns.get("invalid_labels") or [] if isinstance(i, dict)],
            "modes": [_mode_row(m, modes.get(m), subjects, checks) for m in MODES],
        })
    defaults = view.get("defaults") if isinstance(view.get("defaults"), dict) else {}
    policy = defaults.get("policy") if isinstance(defaults.get("policy"), dict) else {}
    totals = view.get("totals") if isinstance(view.get("totals"), dict) else {}
    return {
        "rows": rows, "more": max(0, len(namespaces) - limit), "total": len(namespaces),
        "html_limit": HTML_NAMESPACES,
        "pack": _text(view.get("pack"), 80), "pack_version": _text(view.get("pack_version"), 20),
        "defaults": ", ".join(f"{m} {level_text(policy[m])}" for m in MODES if isinstance(policy.get(m), dict)),
        "defaults_configured": bool(defaults.get("configured")), "defaults_note": _text(defaults.get("note"), 600),
        "unlabelled": _names(view.get("unlabelled"), NAMES_SHOWN),
        "not_enforcing": _names(view.get("not_enforcing"), NAMES_SHOWN),
        "undeclared": _names(view.get("undeclared"), NAMES_SHOWN),
        "exempt": _names(view.get("exempt"), NAMES_SHOWN),
        "totals": [{"mode": m, "rejected": _int((totals.get(m) or {}).get("rejected")),
                    "errors": _int((totals.get(m) or {}).get("errors")),
                    "namespaces": _int((totals.get(m) or {}).get("namespaces_rejecting"))} for m in MODES],
        "subjects_listed": _int(view.get("subjects_listed")),
    }
