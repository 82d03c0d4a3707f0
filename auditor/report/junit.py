"""JUnit XML: one test case per control, one test suite per pack (GitLab and Jenkins read it).

fail -> <failure>, error -> <error>, not applicable / manual / waived / anything else that is not
a verdict -> <skipped> with the reason. Text is XML-escaped by ElementTree; control and bidi
characters (which XML 1.0 cannot carry, or a viewer would obey) are shown as \\xNN / \\uNNNN.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from auditor.common.text import escape_controls
from auditor.report.formatting import as_text, defaulted_note, subject_label

_XML_INVALID = re.compile("[\ufffe\uffff]")
MAX_LISTED = 200


def xml_text(value: Any) -> str:
    """Text XML 1.0 can hold and a viewer shows: control, bidi and non-characters as escapes."""
    text = escape_controls("" if value is None else str(value))
    return _XML_INVALID.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _finding_line(f: dict[str, Any]) -> str:
    subject = f.get("subject") if isinstance(f.get("subject"), dict) else {}
    parts = [f"{f.get('status', '')}: {subject.get('type', '')} {subject_label(subject)}"]
    if "expected" in f:
        parts.append(f"expected {as_text(f['expected'])}")
    if "observed" in f:
        parts.append(f"observed {as_text(f['observed'])}")
    if f.get("where"):
        parts.append(f"where {f['where']}")
    note = defaulted_note(f)  # judged on API defaults filled into a manifest
    if note:
        parts.append(note)
    if f.get("message"):
        parts.append(str(f["message"]))
    if f.get("waived"):
        parts.append("waived " + as_text(f.get("waiver")))
    return "; ".join(parts)


def _body(control: dict[str, Any], statuses: tuple[str, ...]) -> str:
    lines = [f"{control.get('title', '')}", f"severity {control.get('severity')}, level {control.get('level')}"]
    if control.get("reason"):
        lines.append(f"reason: {control['reason']}")
    bad = [f for f in control.get("findings", []) if isinstance(f, dict) and f.get("status") in statuses]
    lines += [_finding_line(f) for f in bad[:MAX_LISTED]]
    if len(bad) > MAX_LISTED:
        lines.append(f"... and {len(bad) - MAX_LISTED} more (see the results JSON)")
    if control.get("remediation"):
        lines.append(f"remediation: {control['remediation']}")
    return "\n".join(lines)


def render_junit(results: dict[str, Any]) -> str:
    """JUnit XML of a results document: a test suite per pack, a test case per control."""
    root = ET.Element("testsuites", name="auditor")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    by_pack: dict[str, list[dict[str, Any]]] = {}
    for control in results.get("controls", []):
        if isinstance(control, dict):
            by_pack.setdefault(str(control.get("pack", "")), []).append(control)
    timestamp = xml_text(results.get("generated_at", ""))
    for pack_id, controls in by_pack.items():
        suite = ET.SubElement(root, "testsuite", name=xml_text(pack_id), timestamp=timestamp,
                              hostname=xml_text((results.get("evidence") or {}).get("host") or ""))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for control in controls:
            status = str(control.get("status", ""))
            section = str(control.get("section", ""))
            case = ET.SubElement(suite, "testcase", classname=xml_text(f"{pack_id}.{section}"),
                                 name=xml_text(f"{control.get('id', '')} {control.get('title', '')}"), time="0")
            counts["tests"] += 1
            if status == "fail":
                counts["failures"] += 1
                el = ET.SubElement(case, "failure", type=xml_text(str(control.get("severity", ""))),
                                   message=xml_text(f"{(control.get('subjects') or {}).get('fail', 0)} of "
                                                    f"{(control.get('subjects') or {}).get('total', 0)} subjects fail"))
                el.text = xml_text(_body(control, ("fail",)))
            elif status == "error":
                counts["errors"] += 1
                el = ET.SubElement(case, "error", type="error", message=xml_text(control.get("reason") or "not judged"))
                el.text = xml_text(_body(control, ("error",)))
            elif status != "pass":
                counts["skipped"] += 1
                reason = f"{status}: {control.get('reason') or ''}".rstrip(": ")
                ET.SubElement(case, "skipped", message=xml_text(reason))
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
