"""The results document: verdicts per control and subject, scores, and where they came from.

Validates against ``auditor/schemas/results.schema.json``. The same evidence and packs give a
byte-identical document apart from ``generated_at``.

Written proportionate (schema 1.1, :func:`compact_results`): each subject once, in a top-level
``subjects`` table that findings point into by index, and what every finding of a control says
alike (``expected``, ``observed``, ``where``, per status) once in the control's
``finding_defaults``. Read
back (:func:`load_results`), the document is expanded to the plain form every reader uses, in
which each finding holds its subject and all its fields; 1.0 files (always plain) still load.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from auditor.common.errors import InputError
from auditor.common.version import __version__
from auditor.evidence.bundle import utc_now
from auditor.evidence.redact import redaction_counts
from auditor.judging.engine import Selection
from auditor.judging.framework_scores import framework_results
from auditor.judging.scoring import COVERAGE_FORMULA, SCORE_FORMULA, in_section, score_controls
from auditor.packs.frameworks import Framework
from auditor.packs.loader import Control, Pack

KIND = "auditor-results"
SCHEMA_VERSION = "1.1"
READABLE_VERSIONS = ("1.0", "1.1")
# Finding fields a control's findings may share through its finding_defaults.
SHARED_FINDING_FIELDS = ("expected", "observed", "where")
SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas",
                           "results.schema.json")

_CONTROL_TEXT_FIELDS = ("rationale", "audit", "remediation", "interpretation", "expected")


def host_rollup(statuses: dict[str, str], roles: dict[str, list[str]]) -> dict[str, Any]:
    """A control's verdict across the hosts of a merged bundle: how many nodes or Docker hosts it
    passed, failed or could not judge ("fails on 3 of 40"), the same per role, and which failed."""
    def tally(names: list[str]) -> dict[str, int]:
        counts = {"total": len(names), "pass": 0, "fail": 0, "error": 0}
        for name in names:
            counts[statuses[name]] += 1
        return counts

    by_role: dict[str, list[str]] = {}
    for name in statuses:
        for role in roles.get(name) or ["unknown"]:
            by_role.setdefault(role, []).append(name)
    return {**tally(list(statuses)), "roles": {role: tally(names) for role, names in sorted(by_role.items())},
            "failing": [h for h, s in statuses.items() if s == "fail"],
            "erroring": [h for h, s in statuses.items() if s == "error"]}


def _control_entry(pack: Pack, control: Control, verdict: dict[str, Any],
                   roles: dict[str, list[str]] | None = None) -> dict[str, Any]:
    findings = verdict["findings"]
    counts = dict(verdict["counts"])
    listed_passes = sum(1 for f in findings if f["status"] == "pass")
    if listed_passes < counts["pass"]:
        counts["pass_listed"] = listed_passes  # the other passing subjects are counted, not listed
    entry: dict[str, Any] = {
        "pack": pack.id,
        "id": control.id,
        "title": control.title,
        "section": control.section,
        "section_title": pack.section_title(control.section),
        "level": control.level,
        "severity": control.severity,
        "weight": control.weight,
        "assessment": verdict.get("assessment", control.assessment),
        "target": control.target,
        "status": verdict["status"],
        "reason": verdict["reason"],
        "subjects": {"total": counts["pass"] + counts["fail"] + counts["error"], **counts},
        "findings": findings,
    }
    if "hosts" in verdict:
        entry["hosts"] = host_rollup(verdict["hosts"], roles or {})
    for name in _CONTROL_TEXT_FIELDS:
        if name in control.data:
            entry[name] = control.data[name]
    entry["references"] = list(control.data.get("references", []))
    if "cis_assessment" in control.data:
        entry["cis_assessment"] = control.data["cis_assessment"]
    if control.data.get("aliases"):  # former ids, so `auditor diff` pairs a renumbered control
        entry["aliases"] = list(control.data["aliases"])
    return entry


def build_results(evidence: dict[str, Any], evaluated: list[tuple[Pack, list[tuple[Control, dict[str, Any]]]]],
                  selection: Selection | None = None, generated_at: str | None = None,
                  frameworks: Sequence[Framework] = ()) -> dict[str, Any]:
    """Assemble the results document from the engine's verdicts (and the frameworks' verdicts over them)."""
    meta = evidence.get("metadata", {})
    parts = [p for p in meta.get("parts") or [] if isinstance(p, dict)]
    roles = {p["host"]: list(p.get("roles") or []) for p in parts if isinstance(p.get("host"), str)}
    redactions = redaction_counts(meta)
    controls: list[dict[str, Any]] = []
    packs_out = []
    host_verdicts: dict[str, list[dict[str, Any]]] = {h: [] for h in roles}
    for pack, verdicts in evaluated:
        entries = [_control_entry(pack, c, v, roles) for c, v in verdicts]
        for control, verdict in verdicts:
            for host, status in (verdict.get("hosts") or {}).items():
                host_verdicts.setdefault(host, []).append({"status": status, "weight": control.weight,
                                                           "assessment": control.assessment})
        controls.extend(entries)
        sections = []
        for section in pack.sections:
            members = [e for e in entries if in_section(e["section"], section["id"])]
            if members:
                sections.append({"id": section["id"], "title": section["title"], **score_controls(members)})
        packs_out.append({
            "id": pack.id, "title": pack.title, "version": pack.version, "kind": pack.kind,
            "sha256": pack.sha256, "parameters": pack.parameters,
            **score_controls(entries), "sections": sections,
        })
    doc = {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at or utc_now(),
        "auditor_version": __version__,
        "evidence": {
            "sha256": evidence.get("sha256"),
            "host": meta.get("host"),
            "collected_at": meta.get("collected_at"),
            "root": meta.get("root"),
            "complete": bool(meta.get("complete", False)),
            "sources": meta.get("sources", []),
            "errors": meta.get("errors", []),
            "target_errors": meta.get("target_errors", {}),
            "targets": {k: len(v) for k, v in sorted(evidence.get("targets", {}).items())},
            **({"redactions": redactions} if redactions is not None else {}),
            **({"unverified": str(evidence["unverified"])} if evidence.get("unverified") else {}),
        },
        "selection": (selection or Selection()).as_dict(),
        "scoring": {"score": SCORE_FORMULA, "coverage": COVERAGE_FORMULA},
        "summary": score_controls(controls),
        "packs": packs_out,
        "controls": controls,
        "frameworks": framework_results(controls, frameworks),
    }
    from auditor.results.vulnerabilities import vulnerability_view

    vulnerabilities = vulnerability_view(evidence)
    if vulnerabilities is not None:  # only when the bundle holds scan results
        doc["vulnerabilities"] = vulnerabilities
    if parts:
        doc["evidence"]["parts"] = [{k: p.get(k) for k in ("host", "kinds", "roles", "source", "sha256",
                                                              "collected_at", "complete")} for p in parts]
        doc["hosts"] = host_scores(parts, host_verdicts)
    return doc


def host_scores(parts: list[dict[str, Any]], verdicts: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each node's or Docker host's own score: the score formula over the controls as judged on
    that host alone (its verdict on a control: fail if one of its subjects fails); worst first."""
    out = []
    for part in parts:
        host = part.get("host")
        if not isinstance(host, str):
            continue
        scored = score_controls(verdicts.get(host, []))
        out.append({"host": host, "kinds": list(part.get("kinds") or []), "roles": list(part.get("roles") or []),
                    "complete": bool(part.get("complete", False)), "score": scored["score"],
                    "counts": {s: scored["counts"].get(s, 0) for s in ("pass", "fail", "error")},
                    "judged": len(verdicts.get(host, []))})
    # worst first: hosts that could not be judged at all (errors only), then the lowest score, the
    # most errors, and by name; hosts with nothing to judge last
    out.sort(key=lambda h: (0 if h["score"] is None and h["counts"]["error"] else 1,
                            h["score"] if h["score"] is not None else 101.0, -h["counts"]["error"], h["host"]))
    return out


def results_schema() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def _fast_validator() -> Any:
    """The results schema compiled to Python by fastjsonschema (about 12x faster than jsonschema on
    a 43k-object run's results: 0.7 s against 9 s), or None without it. It only ever says yes:
    a document it rejects goes to jsonschema, which decides and words the one-line error. The
    schema uses only keywords that mean the same in draft 7 and 2020-12 and no keyword beside a
    $ref (tests/test_results_file.py checks both), so a yes from it is jsonschema's yes."""
    try:
        import fastjsonschema
        schema = {**results_schema(), "$schema": "http://json-schema.org/draft-07/schema#"}
        return fastjsonschema.compile(schema, use_formats=False)
    except Exception:  # noqa: BLE001 - not installed or cannot compile: jsonschema alone
        return None


def validate_results(doc: Any, source: str = "results") -> None:
    """Raise InputError (one line) if ``doc`` is not a results document of this schema version."""
    import jsonschema

    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise InputError(f"{source}: not an auditor results document (kind must be {KIND!r})")
    if doc.get("schema_version") not in READABLE_VERSIONS:
        raise InputError(f"{source}: results schema_version {doc.get('schema_version')!r} is not supported "
                         f"(this auditor reads {', '.join(map(repr, READABLE_VERSIONS))})")
    fast = _fast_validator()
    if fast is not None:
        try:
            fast(doc)
            return
        except Exception:  # noqa: BLE001,S110 - any doubt: jsonschema decides and words the error
            pass
    validator = jsonschema.Draft202012Validator(results_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise InputError(f"{source}: invalid results at {where}: {error.message}")


def load_results(path: str) -> dict[str, Any]:
    from auditor.common.jsonio import read_json_document

    try:
        doc = read_json_document(path, "a results file", finite=True)
    except FileNotFoundError:
        raise InputError(f"{path}: no such results file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read results: {exc}") from None
    if isinstance(doc, dict) and doc.get("kind") == KIND and doc.get("schema_version") in READABLE_VERSIONS:
        _check_compact_parts(doc, path)
        expand_results(doc, path)
    validate_results(doc, path)  # the plain form: every finding with its subject and fields
    return doc


def read_results_file(path: str, sha256: str) -> bytes:
    """The bytes of the results file a run wrote, checked against the SHA-256 it wrote them with
    (the reports print that digest and the PDF attaches these bytes): InputError if it changed."""
    import hashlib

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the results file back for the reports: {exc.strerror}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise InputError(f"{path}: the results file changed while the reports were written")
    return data


def _check_compact_parts(doc: dict[str, Any], source: str) -> None:
    """The 1.1 parts (subjects table, finding_defaults) checked against the schema before they are
    expanded away (the plain document is checked after)."""
    import jsonschema

    schema = results_schema()
    parts: list[tuple[str, Any, dict[str, Any]]] = []
    if "subjects" in doc:
        parts.append(("subjects", doc["subjects"], schema["properties"]["subjects"]))
    control_schema = schema["$defs"]["control"]["properties"]["finding_defaults"]
    for i, control in enumerate(doc.get("controls") if isinstance(doc.get("controls"), list) else []):
        if isinstance(control, dict) and "finding_defaults" in control:
            parts.append((f"controls/{i}/finding_defaults", control["finding_defaults"], control_schema))
    for where, value, part in parts:
        validator = jsonschema.Draft202012Validator({**part, "$defs": schema["$defs"]})
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            inner = "/".join(str(p) for p in error.absolute_path)
            raise InputError(f"{source}: invalid results at {where}{'/' + inner if inner else ''}: {error.message}")


def _subject_key(subject: dict[str, Any]) -> Any:
    """A key equal for equal subjects: their fields (the engine builds them in one order), or
    their canonical JSON when a value is a list or an object (a container's labels)."""
    key = tuple(subject.items())
    try:
        hash(key)
    except TypeError:
        return json.dumps(subject, sort_keys=True, ensure_ascii=False)
    return key


def _subject_table(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Every subject of the document's findings once, in order of first use, and the index of
    each subject object by its id (the document holds them all while it is written, so no id is
    reused meanwhile; equal subjects that are distinct objects get one index)."""
    table: list[dict[str, Any]] = []
    index: dict[Any, int] = {}
    by_id: dict[int, int] = {}
    for control in doc.get("controls", []):
        for finding in control.get("findings") or []:
            value = finding.get("subject")
            if isinstance(value, dict) and id(value) not in by_id:  # subjects are shared by controls
                key_of = _subject_key(value)
                number = index.get(key_of)
                if number is None:
                    number = index[key_of] = len(table)
                    table.append(value)
                by_id[id(value)] = number
    return table, by_id


def _compact_control(control: dict[str, Any], by_id: dict[int, int]) -> dict[str, Any]:
    """A control as it is written: subjects as indexes into the table, shared fields once."""
    findings = control.get("findings") or []
    defaults = _shared_fields(findings)
    dropped = {status: set(fields) - {"subject"} for status, fields in defaults.items()}
    out_findings = []
    for finding in findings:
        drop = dropped.get(finding.get("status"), ())
        out_findings.append({key: by_id[id(value)] if key == "subject" and isinstance(value, dict) else value
                             for key, value in finding.items() if key not in drop})
    entry = {k: (out_findings if k == "findings" else v) for k, v in control.items()}
    if defaults:
        entry["finding_defaults"] = defaults
    return entry


def _compact_head(doc: dict[str, Any], table: list[dict[str, Any]]) -> dict[str, Any]:
    head = {k: v for k, v in doc.items() if k != "controls"}
    head["schema_version"] = SCHEMA_VERSION
    head["subjects"] = table
    return head


def compact_results(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as it is written: subjects in one table, shared finding fields once per control.

    A new top-level dict and new control and finding dicts; every other value is shared with
    ``doc``, which is left as it is. Expanding the result (:func:`expand_results`) gives ``doc``
    back, field for field.
    """
    if "subjects" in doc:  # already compact
        return doc
    table, index = _subject_table(doc)
    compact = _compact_head(doc, table)
    compact["controls"] = [_compact_control(c, index) for c in doc.get("controls", [])]
    return compact


def compact_results_chunks(doc: dict[str, Any]) -> Iterator[str]:
    """The compact JSON text of :func:`compact_results` (exactly json_chunks of it), made one
    control at a time: the compact form of a control (one small dict per finding: 90,000 at 43k
    objects, about 17 MB) exists only while that control is written, never for all at once."""
    from auditor.common.jsonio import json_chunks

    if "subjects" in doc:
        yield from json_chunks(doc)
        return
    table, index = _subject_table(doc)
    yield "{"
    for key, value in _compact_head(doc, table).items():  # lists opened (the subjects table), items whole
        yield json.dumps(key, ensure_ascii=False) + ":"
        yield from json_chunks(value, depth=1)
        yield ","
    yield '"controls":['
    for n, control in enumerate(doc.get("controls", [])):
        if n:
            yield ","
        yield from json_chunks(_compact_control(control, index), depth=1)
    yield "]}"


def write_results_stream(fh: Any, doc: dict[str, Any]) -> tuple[str, int]:
    """Write the results file's bytes for ``doc`` (json_bytes of compact_results) to the binary
    file ``fh`` in pieces, one control at a time; returns their SHA-256 (hex) and size."""
    from auditor.common.jsonio import write_json_stream

    return write_json_stream(fh, lambda: compact_results(doc), compact_results_chunks(doc))


def _shared_fields(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per status, the fields of SHARED_FINDING_FIELDS every finding of that status has with one
    value (two findings of the status or more): {"fail": {"where": ...}, "pass": {...}}."""
    by_status: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        by_status.setdefault(f.get("status"), []).append(f)
    shared: dict[str, dict[str, Any]] = {}
    for status, group in by_status.items():
        if len(group) < 2 or not isinstance(status, str):
            continue
        first = group[0]
        for key in SHARED_FINDING_FIELDS:
            if key in first:
                value = first[key]
                if all(key in f and f[key] == value for f in group):
                    shared.setdefault(status, {})[key] = value
    return shared


def expand_results(doc: Any, source: str = "results") -> Any:
    """The plain form of a results document (in place): each finding holds its subject object and
    every field; the ``subjects`` table and ``finding_defaults`` are gone. A plain document is
    returned as it is; parts of the wrong shape are left for :func:`validate_results` to name.
    InputError (one line) names a finding whose subject index is not in the table."""
    if not isinstance(doc, dict):
        return doc
    table = doc.pop("subjects", None)
    controls = doc.get("controls")
    if not isinstance(controls, list):
        return doc
    table = table if isinstance(table, list) else []
    for c_index, control in enumerate(controls):
        if not isinstance(control, dict):
            continue
        defaults = control.pop("finding_defaults", None)
        defaults = defaults if isinstance(defaults, dict) else {}
        findings = control.get("findings")
        for f_index, finding in enumerate(findings if isinstance(findings, list) else []):
            if not isinstance(finding, dict):
                continue
            subject = finding.get("subject")
            if isinstance(subject, int) and not isinstance(subject, bool):
                if not 0 <= subject < len(table):
                    raise InputError(f"{source}: invalid results at controls/{c_index}/findings/{f_index}/subject: "
                                     f"subject {subject} is not in the subjects table ({len(table)} subjects)")
                finding["subject"] = table[subject]
            shared = defaults.get(finding.get("status")) if isinstance(finding.get("status"), str) else None
            if isinstance(shared, dict):
                for key, value in shared.items():
                    finding.setdefault(key, value)
    return doc
