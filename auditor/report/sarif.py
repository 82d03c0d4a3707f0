"""SARIF 2.1.0: one rule per control, one result per failing or unjudged finding.

Findings whose subject carries ``file`` (and ``line``), such as Kubernetes manifests, get a
physical location, so code-scanning tools annotate the line; other subjects (a container, the
daemon) get a logical location named after the subject.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from auditor.common.text import escape_strings
from auditor.report.formatting import as_text, defaulted_fields, defaulted_note, subject_label

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# SARIF levels by control severity: failures of critical/high controls are errors.
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}


def _rule(control: dict[str, Any]) -> dict[str, Any]:
    severity = str(control.get("severity", ""))
    help_text = "\n\n".join(f"{k.capitalize()}: {control[k]}" for k in ("rationale", "remediation", "audit")
                            if control.get(k))
    return {
        "id": f"{control.get('pack')}/{control.get('id')}",
        "name": str(control.get("id", "")),
        "shortDescription": {"text": str(control.get("title", ""))},
        "fullDescription": {"text": str(control.get("rationale") or control.get("title", ""))},
        "help": {"text": help_text or str(control.get("title", ""))},
        "defaultConfiguration": {"level": LEVELS.get(severity, "warning")},
        "properties": {"severity": severity, "level": control.get("level"), "pack": control.get("pack"),
                       "section": control.get("section"), "security-severity": SECURITY_SEVERITY.get(severity, "5.0"),
                       "tags": ["compliance", str(control.get("pack", ""))],
                       "references": [as_text(r) for r in control.get("references", []) or []]},
    }


def _result(control: dict[str, Any], index: int, finding: dict[str, Any]) -> dict[str, Any]:
    subject = finding.get("subject") if isinstance(finding.get("subject"), dict) else {}
    status = finding.get("status")
    severity = str(control.get("severity", ""))
    if status == "error":
        text = f"{control.get('title')}: could not judge {subject_label(subject)}: {finding.get('message', '')}"
    else:
        text = (f"{control.get('title')}: {subject.get('type', '')} {subject_label(subject)}: "
                f"expected {as_text(finding.get('expected'))}, observed {as_text(finding.get('observed'))}")
        if finding.get("where"):
            text += f" (at {finding['where']})"
    identity = "\x1f".join(str(x) for x in (control.get("pack"), control.get("id"), subject.get("type"),
                                            subject.get("id") or subject.get("name"), subject.get("file", "")))
    out: dict[str, Any] = {
        "ruleId": f"{control.get('pack')}/{control.get('id')}", "ruleIndex": index,
        "level": "error" if status == "error" else LEVELS.get(severity, "warning"),
        "kind": "fail",
        "message": {"text": text},
        "partialFingerprints": {"auditorSubject/v1": hashlib.sha256(identity.encode("utf-8")).hexdigest()},
        "properties": {"status": status, "subject": subject},
    }
    defaulted = defaulted_fields(finding)
    if defaulted:  # judged on API defaults, not on the manifest as written
        out["properties"]["defaulted"] = defaulted
        out["message"]["text"] += f" ({defaulted_note(finding)})"
    if subject.get("file"):
        line = subject.get("line")
        region = {"startLine": line} if isinstance(line, int) and line > 0 else None
        location: dict[str, Any] = {"artifactLocation": {"uri": str(subject["file"])}}
        if region:
            location["region"] = region
        out["locations"] = [{"physicalLocation": location}]
    else:
        out["locations"] = [{"logicalLocations": [{"name": subject_label(subject),
                                                    "kind": str(subject.get("type", "resource"))}]}]
    if finding.get("waived"):
        out["suppressions"] = [{"kind": "external", "status": "accepted",
                                "justification": as_text((finding.get("waiver") or {}).get("reason", "waived")
                                                         if isinstance(finding.get("waiver"), dict) else "waived")}]
    return out


def render_sarif(results: dict[str, Any]) -> str:
    """SARIF 2.1.0 log of a results document (JSON text)."""
    rules, results_out = [], []
    for control in results.get("controls", []):
        if not isinstance(control, dict):
            continue
        index = len(rules)
        rules.append(_rule(control))
        for finding in control.get("findings", []) or []:
            if isinstance(finding, dict) and finding.get("status") in ("fail", "error"):
                results_out.append(_result(control, index, finding))
    evidence = results.get("evidence") or {}
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "auditor", "version": str(results.get("auditor_version", "")),
                                "informationUri": "https://auditor.invalid/", "rules": rules}},
            "results": results_out,
            "invocations": [{"executionSuccessful": bool(evidence.get("complete")),
                             "endTimeUtc": str(results.get("generated_at", ""))}],
            "properties": {"host": evidence.get("host"), "evidenceSha256": evidence.get("sha256"),
                           "score": (results.get("summary") or {}).get("score"),
                           "coverage": (results.get("summary") or {}).get("coverage")},
        }],
    }
    # every string with its control and bidi characters as visible escapes (auditor.common.text)
    return json.dumps(escape_strings(log), indent=1, ensure_ascii=False) + "\n"
