"""OSCAL Assessment Results (JSON, OSCAL 1.0.6) from a results document, for GRC tools.

Pure: a function of the results document only. The same results give the same OSCAL document
(every UUID is a version-5 UUID derived from the evidence sha256, the generation time and the
object's identity). The mapping:

* one ``result`` per run: ``start`` = evidence collection time, ``end`` = results generation time,
  ``reviewed-controls`` = the framework requirements judged (control ids as NIST's 800-53 OSCAL
  catalog spells them, ``ac-6.10``; other frameworks ``<framework>-<requirement>``);
* one ``observation`` per evaluated automated control (method TEST), its verdict, subject counts and
  the first failing subjects with what was observed; the evidence bundle is its relevant evidence;
* one ``finding`` per benchmark control with a verdict and per framework requirement with a
  verdict (pass, fail, not applicable, waived), target status ``satisfied`` / ``not-satisfied``
  and links to the observations it rests on. Requirements and controls that are manual, in error
  or not assessed get no finding (OSCAL has no state for "could not tell"); they are counted in
  the result's props.

Validated in tests against NIST's published schema (``auditor/schemas/oscal_assessment-results_schema-1.0.6.json``).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

from auditor.common.errors import InputError
from auditor.common.text import escape_strings
from auditor.common.version import __version__

OSCAL_VERSION = "1.0.6"
SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas",
                           "oscal_assessment-results_schema-1.0.6.json")
NS = "https://auditor.invalid/ns/oscal"  # namespace of our props
_UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://auditor.invalid/oscal")
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_MAX_SUBJECTS = 5
_STATE = {"pass": ("satisfied", "pass"), "fail": ("not-satisfied", "fail"),
          "not_applicable": ("satisfied", "other"), "waived": ("not-satisfied", "other")}


def _uuid(*parts: Any) -> str:
    return str(uuid.uuid5(_UUID_NS, "\x1f".join(str(p) for p in parts)))


def _token(text: str) -> str:
    """An OSCAL token (XML NCName): letters, digits, ``.``, ``-``, ``_``; starting with a letter or ``_``."""
    token = re.sub(r"[^\w.\-]", "_", text)
    return token if re.match(r"[^\W\d]", token) else "_" + token


def control_token(framework_id: str, requirement_id: str) -> str:
    """OSCAL control id of a framework requirement: ``AC-6(10)`` -> ``ac-6.10`` for NIST SP 800-53."""
    if framework_id.startswith("nist-sp-800-53"):
        match = re.match(r"^([A-Za-z]{2})-(\d+)(?:\((\d+)\))?$", requirement_id)
        if match:
            family, number, enhancement = match.groups()
            return f"{family.lower()}-{number}" + (f".{enhancement}" if enhancement else "")
    return _token(f"{framework_id}-{requirement_id}")


def _stamp(value: Any, fallback: str) -> str:
    return value if isinstance(value, str) and _STAMP.match(value) else fallback


def _prop(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "ns": NS, "value": str(value)}


def _observation(control: dict[str, Any], seed: str, collected: str, evidence_ref: str) -> dict[str, Any]:
    subjects = control.get("subjects") or {}
    failing = [f for f in control.get("findings", []) if f.get("status") in ("fail", "error")]
    lines = []
    for finding in failing[:_MAX_SUBJECTS]:
        subject = finding.get("subject") or {}
        seen = json.dumps(finding.get("observed"), ensure_ascii=False, sort_keys=True)[:300]
        lines.append(f"{subject.get('name')}: {finding.get('status')}, expected {finding.get('expected') or '-'}, "
                     f"observed {seen} at {finding.get('where') or '-'}"
                     if finding.get("status") == "fail" else f"{subject.get('name')}: error, {finding.get('message')}")
    if len(failing) > _MAX_SUBJECTS:
        lines.append(f"... and {len(failing) - _MAX_SUBJECTS} more")
    description = (f"{control['pack']} {control['id']}: {control['title']}. Verdict {control['status']}"
                   + (f" ({control['reason']})" if control.get("reason") else "")
                   + f"; subjects {subjects.get('total', 0)}, failing {subjects.get('fail', 0)}, "
                     f"errors {subjects.get('error', 0)}.")
    obs: dict[str, Any] = {
        "uuid": _uuid(seed, "observation", control["pack"], control["id"]),
        "title": f"{control['pack']}:{control['id']}",
        "description": description,
        "props": [_prop("pack", control["pack"]), _prop("control-id", control["id"]),
                  _prop("status", control["status"]), _prop("severity", control.get("severity", ""))],
        "methods": ["TEST"],
        "types": ["finding"] if control["status"] == "fail" else ["control-objective"],
        "relevant-evidence": [{"href": evidence_ref, "description": "auditor evidence bundle (sha256 in back-matter)"}],
        "collected": collected,
    }
    if lines:
        obs["remarks"] = "\n".join(lines)
    return obs


def _finding(seed: str, kind: str, target_id: str, title: str, description: str, status: str,
             observation_uuids: list[str], remarks: str | None) -> dict[str, Any]:
    state, reason = _STATE[status]
    finding: dict[str, Any] = {
        "uuid": _uuid(seed, "finding", kind, target_id),
        "title": title,
        "description": description,
        "props": [_prop("status", status)],
        "target": {"type": "objective-id", "target-id": target_id, "status": {"state": state, "reason": reason}},
    }
    if status in ("not_applicable", "waived"):
        finding["target"]["status"]["remarks"] = ("not applicable: nothing to judge" if status == "not_applicable"
                                                  else "failing findings are covered by waivers in force")
    if observation_uuids:
        finding["related-observations"] = [{"observation-uuid": u} for u in observation_uuids]
    if remarks:
        finding["remarks"] = remarks
    return finding


def render_oscal(results: dict[str, Any]) -> dict[str, Any]:
    """The OSCAL assessment-results document for a results document; every string with its control
    and bidi characters as visible escapes (auditor.common.text)."""
    return escape_strings(_render_oscal(results))  # type: ignore[return-value]


def _render_oscal(results: dict[str, Any]) -> dict[str, Any]:
    evidence = results.get("evidence") or {}
    generated = _stamp(results.get("generated_at"), _stamp(evidence.get("collected_at"), "1970-01-01T00:00:00Z"))
    collected = _stamp(evidence.get("collected_at"), generated)
    seed = f"{evidence.get('sha256')}|{results.get('generated_at')}"
    evidence_uuid = _uuid(seed, "resource", "evidence")
    plan_uuid = _uuid(seed, "resource", "plan")
    controls = results.get("controls") or []
    observed = {(c["pack"], c["id"]): _observation(c, seed, collected, f"#{evidence_uuid}")
                for c in controls if c.get("assessment") == "automated" and c.get("status") != "manual"}
    findings = []
    for c in controls:
        key = (c["pack"], c["id"])
        if c["status"] in _STATE and key in observed:
            findings.append(_finding(seed, "control", _token(f"{c['pack']}-{c['id']}"), f"{c['pack']}:{c['id']}",
                                     c["title"], c["status"], [observed[key]["uuid"]], c.get("reason")))
    selected: list[dict[str, str]] = []
    skipped = 0
    for fw in results.get("frameworks") or []:
        for req in fw.get("requirements", []):
            target = control_token(fw["id"], req["id"])
            selected.append({"control-id": target})
            if req["status"] not in _STATE:
                skipped += 1
                continue
            uuids = [observed[(m["pack"], m["id"])]["uuid"] for m in req.get("controls", [])
                     if (m["pack"], m["id"]) in observed]
            findings.append(_finding(seed, fw["id"], target, f"{fw['id']} {req['id']}: {req['title']}",
                                     req.get("statement") or req["title"], req["status"], uuids, req.get("reason")))
    reviewed: dict[str, Any] = {"description": "Framework requirements judged from benchmark control verdicts "
                                               "(see the results document's frameworks)."}
    reviewed["control-selections"] = [{"include-controls": selected} if selected else {"include-all": {}}]
    summary = results.get("summary") or {}
    props = [_prop("score", summary.get("score")), _prop("coverage", summary.get("coverage")),
             _prop("requirements-without-finding", skipped)]
    props += [_prop(f"framework-score.{_token(fw['id'])}", fw.get("score")) for fw in results.get("frameworks") or []]
    result: dict[str, Any] = {
        "uuid": _uuid(seed, "result"),
        "title": "auditor run on " + str(evidence.get("host") or "unknown host"),
        "description": ("Benchmark controls evaluated from one evidence bundle, and the framework requirements "
                        "they evidence. " + (results.get("scoring") or {}).get("score", "")),
        "start": collected,
        "end": generated,
        "props": props,
        "reviewed-controls": reviewed,
    }
    if observed:
        result["observations"] = list(observed.values())
    if findings:
        result["findings"] = findings
    packs = ", ".join(f"{p['id']} {p['version']}" for p in results.get("packs") or []) or "none"
    return {"assessment-results": {
        "uuid": _uuid(seed, "assessment-results"),
        "metadata": {"title": f"Compliance assessment of {evidence.get('host') or 'unknown host'}",
                     "last-modified": generated, "version": str(results.get("auditor_version") or __version__),
                     "oscal-version": OSCAL_VERSION,
                     "props": [_prop("tool", "auditor"), _prop("results-schema-version",
                                                               results.get("schema_version"))]},
        "import-ap": {"href": f"#{plan_uuid}"},
        "results": [result],
        "back-matter": {"resources": [
            {"uuid": plan_uuid, "title": "Assessment plan: the packs evaluated",
             "description": f"Packs: {packs}. Selection: {json.dumps(results.get('selection'), sort_keys=True)}."},
            {"uuid": evidence_uuid, "title": "Evidence bundle",
             "description": f"Collected {evidence.get('collected_at')} from {evidence.get('host')}"
                            f"{'' if evidence.get('complete') else ' (incomplete)'}.",
             **({"rlinks": [{"href": f"urn:sha256:{evidence['sha256']}",
                             "hashes": [{"algorithm": "SHA-256", "value": evidence["sha256"]}]}]}
                if evidence.get("sha256") else {})},
        ]},
    }}


def oscal_schema() -> dict[str, Any]:
    """NIST's OSCAL 1.0.6 assessment-results JSON Schema, its one Unicode pattern made readable by ``re``.

    The schema writes NCName tokens as ``\\p{L}`` / ``\\p{N}`` classes, which Python's ``re`` lacks;
    they become ``[^\\W\\d_]`` (Unicode letters) and ``\\d`` (Unicode digits).
    """
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        text = fh.read()
    return json.loads(text.replace(r"\\p{L}", r"[^\\W\\d_]").replace(r"\\p{N}", r"\\d"))


def validate_oscal(doc: dict[str, Any]) -> None:
    """Raise InputError (one line) when ``doc`` does not validate against the OSCAL schema."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(oscal_schema()).iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise InputError(f"OSCAL output invalid at {where}: {error.message}")
