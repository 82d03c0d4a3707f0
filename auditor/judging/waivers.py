"""Waivers: accepted deviations, kept as data, applied to a results document after evaluation.

A waivers file (YAML, validated against ``auditor/schemas/waivers.schema.json``)::

    waivers:
      - control: cis-docker-1.6.0:5.10     # or just "5.10" (any pack); a control's alias works too
        subject:                           # optional: which subjects; every key given must match
          name: "legacy-*"                 # glob on the subject name
          type: container
          namespace: payments              # Kubernetes subjects
          container: app                   # a container name (Kubernetes container, Docker container)
          image: "registry.example/legacy:*"
          path: /etc/docker/*              # files and paths
          labels: {team: payments}         # every label must be present and match (glob)
        reason: host networking needed by the legacy load balancer
        owner: alice@example.com
        ticket: SEC-123                    # optional
        expires: 2026-12-31                # last day the waiver holds (UTC)
      - vulnerability: CVE-2019-18224      # one vulnerability (glob) of scanned images, no control
        subject: {image: "registry.example/web:*"}   # optional: which images (glob on tag, id or digest)
        reason: not reachable: the library is never loaded
        owner: bob@example.com
        expires: 2026-09-30

:func:`apply_waivers` is pure: it returns a new document in which every failing finding covered by
a waiver in force is marked ``"waived": true`` with the waiver (``"waiver": {...}``) and stays
visible; a control whose every failing finding is waived gets the status ``waived``. A waiver past
its expiry date waives nothing: its findings stay failures and carry ``"expired_waiver"``. Errors
are never waived (a subject that could not be judged is not an accepted deviation). Scores are
recomputed with waived controls counted as passed; the score without waivers is kept beside them
(see :mod:`auditor.judging.scoring`). The document's ``waivers`` section lists applied, expired and unused
waivers. Framework verdicts in the document (``frameworks``) are recomputed from the waived controls
(:func:`auditor.judging.framework_scores.refresh_frameworks`), with their score without waivers beside them.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from auditor.common.errors import InputError
from auditor.common.linear_regex import RegexRefused, compile_glob, glob_match
from auditor.judging.scoring import WAIVED_SCORE_FORMULA, in_section, score_controls
from auditor.packs.loader import load_yaml

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas",
                           "waivers.schema.json")
CONTROL_REF = r"^([a-z0-9][a-z0-9.-]*:)?[A-Za-z0-9][A-Za-z0-9._-]*$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
SELECTOR_KEYS = ("type", "name", "namespace", "container", "image", "path", "labels")


def waivers_schema() -> dict[str, Any]:
    """JSON Schema of a waivers file (published as ``auditor/schemas/waivers.schema.json``)."""
    text = {"type": "string", "minLength": 1}
    glob = {"type": "string", "minLength": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://auditor.invalid/schemas/waivers.schema.json",
        "title": "auditor waivers file",
        "type": "object",
        "required": ["waivers"],
        "additionalProperties": False,
        "properties": {"waivers": {"type": "array", "items": {
            "type": "object",
            "required": ["reason", "owner", "expires"],
            # a control (with an optional subject), or a single vulnerability of scanned images
            "oneOf": [{"required": ["control"], "not": {"required": ["vulnerability"]}},
                      {"required": ["vulnerability"], "not": {"required": ["control"]}}],
            "additionalProperties": False,
            "properties": {
                "control": {"type": "string", "pattern": CONTROL_REF},
                "vulnerability": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:*?-]*$"},
                "subject": {
                    "type": "object", "minProperties": 1, "additionalProperties": False,
                    "properties": {
                        **{k: glob for k in SELECTOR_KEYS if k != "labels"},
                        "labels": {"type": "object", "minProperties": 1,
                                   "additionalProperties": {"type": "string"}},
                    },
                },
                "reason": text,
                "owner": text,
                "ticket": text,
                "expires": {"type": "string", "pattern": DATE_PATTERN},
            },
        }}},
    }


@dataclass(frozen=True)
class Waiver:
    """One waiver of a file: what it covers, why, who, until when, and where it is written."""

    control: str
    reason: str
    owner: str
    expires: dt.date
    subject: dict[str, Any] = field(default_factory=dict)
    ticket: str | None = None
    line: int | None = None
    index: int = 0
    vulnerability: str | None = None   # a vulnerability waiver (control is then "")

    def record(self) -> dict[str, Any]:
        """The waiver as it appears in results (findings, ``waivers`` section)."""
        out: dict[str, Any] = {"index": self.index}
        if self.vulnerability:
            out["vulnerability"] = self.vulnerability
        else:
            out["control"] = self.control
        if self.subject:
            out["subject"] = self.subject
        out.update(reason=self.reason, owner=self.owner)
        if self.ticket:
            out["ticket"] = self.ticket
        out["expires"] = self.expires.isoformat()
        if self.line:
            out["line"] = self.line
        return out

    def covers_control(self, control: dict[str, Any]) -> bool:
        """Whether this waiver names the control (by id or declared alias, optionally pack-qualified)."""
        if self.vulnerability:
            return False  # applied to the scan facts before judging (see vulnerability_waivers)
        pack, sep, cid = self.control.rpartition(":")
        names = {control["id"], *(str(a) for a in control.get("aliases") or [])}
        if sep:
            return (pack == control["pack"] and cid in names) or self.control in names
        return cid in {n.rpartition(":")[2] for n in names}

    def covers_subject(self, subject: dict[str, Any]) -> bool:
        """Whether every selector key given matches the finding's subject."""
        for key, pattern in self.subject.items():
            if key == "labels":
                labels = subject.get("labels") or {}
                if not isinstance(labels, dict) or not all(
                        k in labels and glob_match(str(labels[k]), str(v)) for k, v in pattern.items()):
                    return False
                continue
            value = _selector_value(key, subject)
            if value is None or not glob_match(str(value), str(pattern)):
                return False
        return True

    def in_force(self, today: dt.date) -> bool:
        return today <= self.expires


def _selector_value(key: str, subject: dict[str, Any]) -> Any:
    """The subject field a selector key compares with (a Docker container is named by its name, ...)."""
    if key in subject:
        return subject[key]
    stype = subject.get("type")
    if key == "container" and stype == "container":
        return subject.get("name")
    if key == "image" and stype == "image":
        return subject.get("name")
    if key == "path" and stype in ("file", "path"):
        return subject.get("name")
    return None


@dataclass(frozen=True)
class WaiverSet:
    """The waivers of one file, in file order."""

    source: str
    sha256: str
    waivers: tuple[Waiver, ...]


# ---------------------------------------------------------------------------------------------
# loading

_VALIDATOR: list[Any] = []


def _line_of(data: Any, lines: dict[int, int], path: list[Any]) -> int | None:
    """Line of the deepest mapping on ``path`` that the loader recorded."""
    line, node = lines.get(id(data)), data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        line = lines.get(id(node), line)
    return line


def _bad_date_line(path: str) -> tuple[int, str] | None:
    """Line and text of the first date-looking value that is not a real date (YAML refuses those)."""
    with open(path, encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            for found in re.findall(r"\b\d{4}-\d{1,2}-\d{1,2}\b", text):
                try:
                    dt.date.fromisoformat("-".join(p.zfill(2) for p in found.split("-")))
                except ValueError:
                    return number, found
    return None


# A waivers file is written by people: a few hundred entries are a few hundred kilobytes.
MAX_WAIVERS_BYTES = 4 << 20


def _globs(subject: dict[str, Any]) -> list[tuple[str, str]]:
    """(selector, glob) of every pattern of a waiver's subject (labels included)."""
    out = []
    for key, pattern in subject.items():
        if key == "labels" and isinstance(pattern, dict):
            out.extend((f"labels.{k}", str(v)) for k, v in pattern.items())
        else:
            out.append((key, str(pattern)))
    return out


def load_waivers(path: str) -> WaiverSet:
    """Load and validate a waivers file; a problem is one InputError naming file and line."""
    import jsonschema

    try:
        size = os.stat(path).st_size
    except OSError:
        size = 0  # load_yaml says why it cannot be read
    if size > MAX_WAIVERS_BYTES:
        raise InputError(f"{path}: {size / (1 << 20):.1f} MiB is over the size limit of a waivers file "
                         f"({MAX_WAIVERS_BYTES >> 20} MiB)")
    try:
        data, lines = load_yaml(path)
    except ValueError as exc:  # YAML's own date constructor refuses 2026-02-30 with a bare ValueError
        if isinstance(exc, InputError):
            raise
        bad = _bad_date_line(path)
        where = f" line {bad[0]}" if bad else ""
        raise InputError(f"{path}{where}: invalid date{' ' + bad[1] if bad else ''}: {exc}") from None
    if isinstance(data, dict):
        for item in data.get("waivers") or []:
            # YAML reads an unquoted 2026-12-31 as a date: keep it as the ISO text the schema checks
            if isinstance(item, dict) and isinstance(item.get("expires"), (dt.date, dt.datetime)):
                item["expires"] = item["expires"].isoformat()
    if not _VALIDATOR:
        _VALIDATOR.append(jsonschema.Draft202012Validator(waivers_schema()))
    errors = list(_VALIDATOR[0].iter_errors(data))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        parts = list(err.absolute_path)
        line = _line_of(data, lines, parts)
        who = f" waiver {parts[1] + 1}" if len(parts) >= 2 and parts[0] == "waivers" else ""
        fld = ".".join(str(p) for p in parts[2:]) if who else ".".join(str(p) for p in parts)
        raise InputError(f"{path}{f' line {line}' if line else ''}:{who}{f' field {fld!r}' if fld else ''}: "
                         f"{err.message}")
    waivers = []
    for index, item in enumerate(data["waivers"], 1):
        line = lines.get(id(item))
        try:
            expires = dt.date.fromisoformat(item["expires"])
        except ValueError:
            raise InputError(f"{path}{f' line {line}' if line else ''}: waiver {index} field 'expires': "
                             f"{item['expires']!r} is not a date") from None
        for key, glob in _globs(item.get("subject") or {}):
            try:
                compile_glob(glob)
            except RegexRefused as exc:
                raise InputError(f"{path}{f' line {line}' if line else ''}: waiver {index} field 'subject.{key}': "
                                 f"pattern {glob!r}: {exc}") from None
        waivers.append(Waiver(control=item.get("control", ""), vulnerability=item.get("vulnerability"),
                              reason=item["reason"], owner=item["owner"], expires=expires,
                              subject=dict(item.get("subject") or {}), ticket=item.get("ticket"), line=line,
                              index=index))
    with open(path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    return WaiverSet(source=path, sha256=digest, waivers=tuple(waivers))


# ---------------------------------------------------------------------------------------------
# applying

def _rescore(doc: dict[str, Any]) -> None:
    """Recompute summary, pack and section scores with waivers (and keep the score without them)."""
    controls = doc["controls"]
    for pack in doc["packs"]:
        members = [c for c in controls if c["pack"] == pack["id"]]
        pack.update(score_controls(members, waivers=True))
        for section in pack["sections"]:
            section.update(score_controls([c for c in members if in_section(c["section"], section["id"])],
                                          waivers=True))
    doc["summary"] = score_controls(controls, waivers=True)


def apply_waivers(results: dict[str, Any], waivers: WaiverSet, today: dt.date) -> dict[str, Any]:
    """A copy of ``results`` with ``waivers`` applied as of the date ``today`` (see the module docstring).

    Within one control, a failing finding takes the first waiver in force (file order) covering it;
    failing findings that only expired waivers cover keep ``fail`` and carry ``expired_waiver``.
    """
    if "waivers" in results:
        raise InputError("results already have waivers applied; apply waivers to results without them")
    doc = copy.deepcopy(results)
    used: dict[int, dict[str, Any]] = {}
    for control in doc["controls"]:
        candidates = [w for w in waivers.waivers if w.covers_control(control)]
        if not candidates:
            continue
        waived = 0
        failing = [f for f in control["findings"] if f["status"] == "fail"]
        for finding in failing:
            covering = [w for w in candidates if w.covers_subject(finding["subject"])]
            active = next((w for w in covering if w.in_force(today)), None)
            chosen = active or (covering[0] if covering else None)
            if chosen is None:
                continue
            tally = used.setdefault(chosen.index, {"findings": 0, "controls": []})
            tally["findings"] += 1
            ref = f"{control['pack']}:{control['id']}"
            if ref not in tally["controls"]:
                tally["controls"].append(ref)
            if active is not None:
                finding["waived"] = True
                finding["waiver"] = active.record()
                waived += 1
            else:
                finding["expired_waiver"] = chosen.record()
        if failing:
            control["subjects"]["waived"] = waived
        if control["status"] == "fail" and failing and waived == len(failing):
            control["status"] = "waived"
            control["status_without_waivers"] = "fail"
    _rescore(doc)
    for image in (doc.get("vulnerabilities") or {}).get("images") or []:
        for vuln in image.get("waived") or []:
            tally = used.setdefault(vuln["waiver"]["index"], {"findings": 0, "controls": [], "vulnerabilities": 0})
            tally["vulnerabilities"] = tally.get("vulnerabilities", 0) + 1
    applied, expired, unused = [], [], []
    for waiver in waivers.waivers:
        tally = used.get(waiver.index, {"findings": 0, "controls": []})
        entry = {**waiver.record(), **tally}
        if not waiver.in_force(today):
            expired.append(entry)
        elif tally["findings"] or tally.get("vulnerabilities"):
            applied.append(entry)
        else:
            unused.append(entry)
    doc["waivers"] = {"source": waivers.source, "sha256": waivers.sha256, "today": today.isoformat(),
                      "applied": applied, "expired": expired, "unused": unused}
    doc["scoring"] = {**doc["scoring"], "waivers": WAIVED_SCORE_FORMULA}
    if doc.get("frameworks"):
        from auditor.judging.framework_scores import refresh_frameworks

        refresh_frameworks(doc)  # requirement verdicts follow the waived control statuses
    return doc


def today_utc() -> dt.date:
    """The date waivers are judged against: today in UTC, so a run means the same anywhere."""
    return dt.datetime.now(dt.timezone.utc).date()


def dump_schema() -> str:
    """The published schema text (tests compare it with the file)."""
    return json.dumps(waivers_schema(), indent=1, sort_keys=True)


def vulnerability_waivers(waivers: WaiverSet | None, today: dt.date) -> list[dict[str, Any]]:
    """The single-vulnerability waivers of a set, as plain data for the scan matching
    (:func:`auditor.evidence.scan_match.match_scans`): id glob, image glob, in force, record."""
    if waivers is None:
        return []
    return [{"vulnerability": w.vulnerability, "image": w.subject.get("image"), "in_force": w.in_force(today),
             "record": w.record()} for w in waivers.waivers if w.vulnerability]
