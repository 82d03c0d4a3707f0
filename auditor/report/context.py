"""The view of a results document that the HTML and PDF templates render.

Everything here is derived from the results document alone (renderers are pure). Values stay
data: the templates escape every string (Jinja2 autoescape), and nothing in this module builds
markup. Statuses, severities and extra fields the renderer does not know yet (for example a later
``waived`` status or a ``frameworks`` list) are shown generically instead of failing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from auditor.common.text import json_escape_controls
from auditor.report.changes_view import changes_view
from auditor.report.formatting import (
    OTHER_COLOR,
    PRINT_VALUE_CHARS,
    PROBLEM_STATUSES,
    SEVERITY_COLORS,
    SEVERITY_ORDER,
    as_text,
    defaulted_note,
    filter_token,
    fmt_pct,
    gauge,
    ordered_statuses,
    score_color,
    severity_rank,
    status_bar,
    status_class,
    status_label,
    subject_label,
)
from auditor.report.framework_view import framework_views
from auditor.report.hosts_view import control_hosts_text, host_noun, hosts_rows
from auditor.report.namespace_view import HTML_NAMESPACES, PDF_NAMESPACES, namespace_rows
from auditor.report.redaction_view import redaction_line
from auditor.report.subjects_view import HTML_SUBJECTS, PDF_SUBJECTS, select_subjects
from auditor.report.terminal import pack_version_label
from auditor.report.vulnerability_view import vulnerability_rows
from auditor.report.waiver_view import waiver_line, waivers_view

_CONTROL_KNOWN = {"pack", "id", "title", "section", "section_title", "level", "severity", "weight", "assessment",
                  "cis_assessment", "target", "status", "reason", "subjects", "findings", "rationale", "audit",
                  "remediation", "interpretation", "expected", "references", "status_without_waivers", "hosts"}
_FINDING_KNOWN = {"subject", "status", "expected", "observed", "where", "message", "waived", "waiver", "defaulted",
                  "expired_waiver"}
_SUBJECT_KNOWN = {"type", "name", "host", "id", "path", "file", "line"}
_TOP_KNOWN = {"kind", "schema_version", "generated_at", "auditor_version", "evidence", "selection", "scoring",
              "summary", "packs", "controls", "frameworks", "waivers", "baseline", "hosts", "vulnerabilities",
              "namespace_levels"}


# Images of the vulnerability table printed in the PDF (worst first); the HTML lists up to 300.
PDF_VULN_IMAGES = 60

# Hosts of a merged bundle printed in the PDF's hosts table (worst first); the HTML lists them all.
PDF_HOSTS = 100


def serialize_results(results: dict[str, Any]) -> bytes:
    """The bytes `auditor` writes for a results document (the same as the .results.json file):
    DEL, C1 and bidi characters as \\u escapes, so the file shown on a terminal carries none raw."""
    from auditor.results.document import compact_results

    return (json_escape_controls(json.dumps(compact_results(results), indent=1, ensure_ascii=False))
            + "\n").encode("utf-8")
































def _score_rows(packs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One chart row per pack and per section: score bar, coverage tick."""
    rows = []
    for pack in packs:
        label = f"{pack.get('title', pack.get('id'))} {pack.get('version', '')}".strip()
        rows.append({"kind": "pack", "label": label, "score": pack.get("score"), "coverage": pack.get("coverage"),
                     "color": score_color(pack.get("score")), "text": fmt_pct(pack.get("score"))})
        for section in pack.get("sections", []):
            rows.append({"kind": "section", "label": f"{section.get('id')}  {section.get('title', '')}",
                         "score": section.get("score"), "coverage": section.get("coverage"),
                         "color": score_color(section.get("score")), "text": fmt_pct(section.get("score"))})
    for i, row in enumerate(rows):
        row["y"] = i * 22
        row["w"] = round(3.2 * row["score"], 1) if isinstance(row["score"], (int, float)) else 0
        row["cx"] = round(3.2 * row["coverage"], 1) if isinstance(row["coverage"], (int, float)) else None
    return rows


def _extras(data: dict[str, Any], known: set[str]) -> list[tuple[str, str]]:
    """Fields this renderer does not know, as (name, text) pairs, so nothing is silently dropped."""
    return [(str(k), as_text(v)) for k, v in data.items() if k not in known]




def _observed_text(finding: dict[str, Any]) -> str:
    """What a finding saw; when the check read fields the API server's defaults filled into a
    manifest (docs/kubernetes-defaults.md), it says so, naming them."""
    note = defaulted_note(finding)
    return f"{as_text(finding['observed'])} ({note})" if note else as_text(finding["observed"])


def _finding_view(finding: dict[str, Any]) -> dict[str, Any]:
    subject = finding.get("subject") if isinstance(finding.get("subject"), dict) else {}
    status = finding.get("status", "error")
    waived = bool(finding.get("waived"))
    shown = "waived" if waived and status == "fail" else status
    waiver = finding.get("waiver")
    expired = finding.get("expired_waiver")
    return {
        "status": shown, "status_label": status_label(shown), "cls": status_class(shown),
        "subject_type": str(subject.get("type", "")), "subject": subject_label(subject),
        "short": subject_label({k: v for k, v in subject.items() if k != "file"}), "location": _location(subject),
        "subject_id": str(subject.get("id", "")), "path": str(subject.get("path", "")),
        "expected": as_text(finding["expected"]) if "expected" in finding else "",
        "observed": _observed_text(finding) if "observed" in finding else "",
        "has_observed": "observed" in finding,
        "where": str(finding.get("where", "")), "message": str(finding.get("message", "")),
        "waiver": waiver_line(waiver) if waiver is not None else "",
        "expired_waiver": waiver_line(expired) if expired is not None else "",
        "extras": _extras(finding, _FINDING_KNOWN) + _extras(subject, _SUBJECT_KNOWN | _said_by_name(subject)),
    }


def _said_by_name(subject: dict[str, Any]) -> set[str]:
    """Subject fields its label already says (a Kubernetes subject "ns/name:container" of type
    Kind), so a listed finding does not repeat them."""
    name, said = str(subject.get("name", "")), set()
    if subject.get("namespace") and name.startswith(f"{subject['namespace']}/"):
        said.add("namespace")
    if subject.get("kind") and subject.get("kind") == subject.get("type"):
        said.add("kind")
    if subject.get("container") and name.endswith(f":{subject['container']}"):
        said.add("container")
    return said


# The PDF's control table folds this many consecutive not applicable controls of a pack, or more, into one row.
NA_RUN = 3


def print_rows(controls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The PDF control table's rows: each control, except that a run of NA_RUN or more consecutive
    not applicable controls of one pack is one row ("4.2.3 - 4.2.14, 12 controls"); the HTML and
    the results file list each of them."""
    rows: list[dict[str, Any]] = []
    for c in controls:
        last = rows[-1] if rows else None
        if c["status"] == "not_applicable" and last and last.get("na") is not None and last["pack"] == c["pack"]:
            last["na"].append(c)
            continue
        rows.append({"pack": c["pack"], "control": c, "na": [c] if c["status"] == "not_applicable" else None})
    out = []
    for row in rows:
        if row["na"] is not None and len(row["na"]) >= NA_RUN:
            out.append({"pack": row["pack"], "control": row["control"], "run": row["na"]})
        else:
            out.extend({"pack": c["pack"], "control": c, "run": None} for c in (row["na"] or [row["control"]]))
    return out


def _location(subject: dict[str, Any]) -> str:
    if not subject.get("file"):
        return ""
    return str(subject["file"]) + (f":{subject['line']}" if subject.get("line") is not None else "")


def shared_parts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What every listed finding of a control says alike (observed value, where, expected, the
    file it is in, extra fields such as an image), to print once above the list instead of on
    every line (empty when fewer than two rows)."""
    if len(rows) < 2:
        return {}
    shared = {}
    for key in ("expected", "observed", "where", "location"):
        values = {r[key] for r in rows}
        if len(values) == 1 and (key != "observed" or all(r["has_observed"] for r in rows)):
            shared[key] = rows[0][key]
    if not shared.get("location"):
        shared.pop("location", None)
        folder = _common_folder([r["location"] for r in rows])
        if folder:
            shared["folder"] = folder
    # extra fields (a container's image, labels) every listed finding has with one value
    extras = [dict(r["extras"]) for r in rows]
    # a name given twice stays on each line
    if all(len(e) == len(r["extras"]) for e, r in zip(extras, rows, strict=True)):
        alike = [(k, v) for k, v in rows[0]["extras"] if all(e.get(k) == v for e in extras[1:])]
        if alike:
            shared["extras"] = alike
    return shared


def own_extras(row: dict[str, Any], shared: dict[str, Any]) -> list[tuple[str, str]]:
    """The extra fields of a listed finding that the shared line above the list does not say."""
    said = {k for k, _ in shared.get("extras", ())}
    return [(k, v) for k, v in row["extras"] if k not in said]


def _common_folder(locations: list[str]) -> str:
    """The folder every location is in ("deploy/" of "deploy/a.yaml:3", "deploy/b.yaml:9"), or ""."""
    if not locations or not all(locations):
        return ""
    folders = {loc.rpartition("/")[0] for loc in locations}
    if len(folders) == 1:
        folder = folders.pop()
        return folder + "/" if folder else ""
    import os

    try:
        common = os.path.commonpath(list(folders))
    except ValueError:
        return ""
    return common.rstrip("/") + "/" if common not in ("", "/") else ""


def subject_runs(rows: list[dict[str, Any]], shared: dict[str, Any], expected: Any) -> list[dict[str, Any]]:
    """The listed findings grouped by status and subject type ("FAIL Deployment: a · b · c", list order kept),
    when each says nothing but its subject beyond what is shared (the PDF prints them as running
    text: twenty names in a few lines, not a column of them); empty otherwise."""
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        own = ((r["expected"] and r["expected"] != expected and "expected" not in shared)
               or (r["has_observed"] and "observed" not in shared) or (r["where"] and "where" not in shared)
               or r["message"] or r["waiver"] or r["expired_waiver"] or r["own_extras"])
        if own:
            return []
        if "location" in shared:
            name = r["short"]
        elif "folder" in shared:
            name = f"{r['short']} ({r['location'][len(shared['folder']):]})"
        else:
            name = r["subject"]
        key = (r["status_label"], r["subject_type"])
        if key not in runs:
            runs[key] = {"status_label": r["status_label"], "cls": r["cls"], "type": r["subject_type"], "names": []}
        runs[key]["names"].append(name)
    return list(runs.values())


def _bad_text(failing: int, unchecked: int) -> str:
    """What the failing / total count holds: subjects that failed, and ones that could not be checked."""
    if unchecked and failing:
        return f"{failing} failing and {unchecked} not checked (error) of"
    if unchecked:
        return f"{unchecked} not checked (error) of"
    return f"{failing} failing of"


def _control_view(index: int, control: dict[str, Any], limit: int, noun: str = "hosts") -> dict[str, Any]:
    status = str(control.get("status", "error"))
    subjects = control.get("subjects") or {}
    sel = select_subjects(control.get("findings"), subjects, limit)
    findings = [_finding_view(f) for f in sel.listed]  # rows for the listed subjects only
    shared = shared_parts(findings)
    for row in findings:
        row["own_extras"] = own_extras(row, shared)
    runs = subject_runs(findings, shared, control.get("expected"))
    failing, unchecked = int(subjects.get("fail", 0)), int(subjects.get("error", 0))
    bad = failing + unchecked
    severity = str(control.get("severity", ""))
    return {
        "anchor": f"ctl-{index}", "pack": str(control.get("pack", "")), "id": str(control.get("id", "")),
        "key": f"{control.get('pack', '')}:{control.get('id', '')}", "title": str(control.get("title", "")),
        "section": str(control.get("section", "")), "section_title": str(control.get("section_title", "")),
        "level": control.get("level"), "severity": severity, "severity_rank": severity_rank(severity),
        "severity_token": filter_token(severity), "weight": control.get("weight"),
        "assessment": str(control.get("assessment", "")), "target": control.get("target"),
        "status": status, "status_label": status_label(status), "cls": status_class(status),
        "without_waivers": str(control["status_without_waivers"]) if "status_without_waivers" in control else "",
        "status_token": filter_token(status), "pack_token": filter_token(control.get("pack", "")),
        "reason": control.get("reason"), "bad": bad, "bad_text": _bad_text(failing, unchecked),
        "hosts_text": control_hosts_text(control, noun),
        "total": int(subjects.get("total", len(control.get("findings") or []))),
        "subjects": subjects, "findings": findings, "shared": shared, "runs": runs, "more": sel.more,
        "problems": sel.problems,
        "passing": sel.passing, "other_findings": sel.other, "namespaces": sel.namespaces,
        "other_namespaces": sel.other_namespaces, "other_namespaced": sel.other_namespaced,
        "rationale": control.get("rationale"), "audit": control.get("audit"),
        "remediation": control.get("remediation"), "interpretation": control.get("interpretation"),
        "expected": control.get("expected"), "cis_assessment": control.get("cis_assessment"),
        "references": [as_text(r) for r in control.get("references", []) or []],
        "search": " ".join([str(control.get("pack", "")), str(control.get("id", "")), str(control.get("title", "")),
                            str(control.get("section_title", "")), severity, status]
                           + [f["subject"] for f in findings]).lower(),
        "extras": _extras(control, _CONTROL_KNOWN),
    }


def _groups(packs: list[dict[str, Any]], controls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Controls grouped pack -> section (the pack's own section order), each control once."""
    by_pack: dict[str, list[dict[str, Any]]] = {}
    for c in controls:
        by_pack.setdefault(c["pack"], []).append(c)
    out = []
    pack_meta = {str(p.get("id")): p for p in packs}
    for pack_id in list(pack_meta) + [p for p in by_pack if p not in pack_meta]:
        members = by_pack.get(pack_id, [])
        if not members:
            continue
        meta = pack_meta.get(pack_id, {})
        sections: dict[str, dict[str, Any]] = {}
        for c in members:
            top = c["section"].split(".")[0]
            title = next((str(s.get("title", "")) for s in meta.get("sections", []) if str(s.get("id")) == top),
                         c["section_title"])
            group = sections.setdefault(top, {"id": top, "title": title, "controls": []})
            group["controls"].append(c)
        out.append({"id": pack_id, "title": str(meta.get("title", pack_id)), "version": pack_version_label(meta),
                    "anchor": f"pack-{len(out)}", "sections": [dict(s, anchor=f"sec-{len(out)}-{i}")
                                                              for i, s in enumerate(sections.values())]})
    return out


def _target_label(results: dict[str, Any]) -> str:
    targets = (results.get("evidence") or {}).get("targets") or {}
    kinds = sorted({str(t).split(".")[0] for t in targets})
    if len(kinds) > 1 and "host" in kinds:  # host files support the Docker or node audit: not a target of its own
        kinds.remove("host")
    names = {"docker": "Docker", "host": "host", "k8s": "Kubernetes", "kubernetes": "Kubernetes", "node": "node"}
    return ", ".join(names.get(k, k) for k in kinds) or "unknown target"


def build_context(results: dict[str, Any], results_bytes: bytes | None = None,
                  results_name: str = "results.json", pdf: bool = False,
                  subjects_limit: int | None = None, results_sha256: str | None = None) -> dict[str, Any]:
    """Everything the report template shows, computed once from the results document: plain
    data (marshal sends it to the PDF helper as it is).

    ``subjects_limit``: failing subjects listed per control (default 50 in the HTML, 20 in the
    PDF); the others are counted, with a pointer to the results file that holds them all.
    ``results_sha256``: the SHA-256 of the results file's bytes, when the caller knows it (else
    computed from ``results_bytes``, or from the document as auditor writes it).
    """
    limit = subjects_limit if subjects_limit is not None else (PDF_SUBJECTS if pdf else HTML_SUBJECTS)
    if results_sha256 is not None:
        results_sha = results_sha256
    else:
        data = results_bytes if results_bytes is not None else serialize_results(results)
        results_sha = hashlib.sha256(data).hexdigest()
    evidence = results.get("evidence") or {}
    summary = results.get("summary") or {}
    packs = [dict(p, version_label=pack_version_label(p)) for p in results.get("packs", []) if isinstance(p, dict)]
    noun = host_noun(results)
    controls = [_control_view(i, c, limit, noun) for i, c in enumerate(results.get("controls", []))
                if isinstance(c, dict)]
    failing = sorted((c for c in controls if c["status"] in PROBLEM_STATUSES),
                     key=lambda c: (c["status"] != "fail", c["severity_rank"], -(c["weight"] or 0), -c["bad"]))
    severities_failing = {s: 0 for s in SEVERITY_ORDER}
    for c in failing:
        if c["status"] == "fail":
            severities_failing[c["severity"]] = severities_failing.get(c["severity"], 0) + 1
    statuses = ordered_statuses({c["status"]: 1 for c in controls} | dict(summary.get("counts") or {}))
    frameworks = [f for f in results.get("frameworks", []) or [] if isinstance(f, dict)]
    host = str(evidence.get("host") or "unknown host")
    anchors = {(c["pack"], c["id"]): c["anchor"] for c in controls}
    baseline = results.get("baseline") if isinstance(results.get("baseline"), dict) else None
    diff = baseline.get("diff") if baseline and isinstance(baseline.get("diff"), dict) else None
    if pdf:  # the PDF prints the details of these controls only: no link to anything else
        anchors = {(c["pack"], c["id"]): c["anchor"] for c in controls if c["status"] not in ("pass", "not_applicable")}
    target = _target_label(results)
    generated = str(results.get("generated_at", ""))
    return {
        "title": f"Compliance report: {target} on {host}",
        "target": target, "host": host, "generated_at": generated,
        "collected_at": str(evidence.get("collected_at") or ""),
        "auditor_version": str(results.get("auditor_version", "")),
        "schema_version": str(results.get("schema_version", "")),
        "report_id": "R-" + results_sha[:12].upper(),
        "results_sha256": results_sha, "results_name": results_name,
        "evidence": evidence, "evidence_sha256": str(evidence.get("sha256") or "(none)"),
        "complete": bool(evidence.get("complete")),
        "unverified": as_text(evidence.get("unverified") or ""),
        "redaction": redaction_line(evidence),
        "sources": [s for s in evidence.get("sources", []) or [] if isinstance(s, dict)],
        "evidence_errors": [e for e in evidence.get("errors", []) or [] if isinstance(e, dict)],
        "target_errors": sorted((str(k), as_text(v)) for k, v in (evidence.get("target_errors") or {}).items()),
        "targets": sorted((str(k), as_text(v)) for k, v in (evidence.get("targets") or {}).items()),
        "selection": [(str(k), as_text(v)) for k, v in (results.get("selection") or {}).items()
                      if v not in (None, [], {}, "")],
        "scoring": results.get("scoring") or {},
        "summary": summary, "gauge": gauge(summary.get("score"), summary.get("coverage")),
        "status_bar": status_bar(summary.get("counts") or {}),
        "severities_failing": [{"severity": s, "count": n, "color": SEVERITY_COLORS.get(s, OTHER_COLOR)}
                               for s, n in severities_failing.items()],
        "score_rows": _score_rows(packs),
        "packs": packs, "pack_ids": [(str(p.get("id")), filter_token(p.get("id"))) for p in packs],
        "statuses": [(s, status_label(s), filter_token(s)) for s in statuses],
        "severities": [(s, filter_token(s)) for s in SEVERITY_ORDER],
        "controls": controls, "print_rows": print_rows(controls), "failing": failing,
        "groups": _groups(packs, controls),
        "frameworks": [{"id": str(f.get("id", "")), "title": str(f.get("title", "")),
                        "version": str(f.get("version", "")), "anchor": f"fw-{i}",
                        "score": fmt_pct(f.get("score")), "coverage": fmt_pct(f.get("coverage")),
                        "score_without_waivers": fmt_pct(f.get("score_without_waivers")),
                        "requirements": as_text(f.get("requirements_total", len(f.get("requirements") or [])))}
                       for i, f in enumerate(frameworks)],
        "framework_views": framework_views(frameworks, anchors),
        "waivers": waivers_view(results, anchors),
        "with_waivers": "score_without_waivers" in summary,
        "baseline_source": as_text(baseline.get("source", "")) if baseline else "",
        "changes": changes_view(diff, anchors, pdf) if diff is not None else None,
        "top_extras": _extras(results, _TOP_KNOWN),
        "keywords": ", ".join(["compliance", "audit", target] + [str(p.get("id")) for p in packs]),
        "subject": "Scored compliance results of " + ", ".join(
            f"{p.get('title')} {p.get('version')}" for p in packs) + f" for {host}",
        "subjects_limit": limit, "print_value_chars": PRINT_VALUE_CHARS,
        "hosts": hosts_rows(results, PDF_HOSTS if pdf else None), "hosts_total": len(results.get("hosts") or []),
        "host_noun": noun,
        "vulns": vulnerability_rows(results, limit=PDF_VULN_IMAGES if pdf else 300),
        "nslevels": namespace_rows(results, limit=PDF_NAMESPACES if pdf else HTML_NAMESPACES,
                                   subjects=3 if pdf else 10, checks=3 if pdf else 5),
    }
