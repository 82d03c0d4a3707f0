"""The evidence bundle: targets -> items, metadata and a sha256 over its content.

See docs/evidence.md for the shape of every target. Collectors fill a :class:`Collected`;
:func:`build_bundle` turns one or more of them into the document that is saved and evaluated.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import socket
import tempfile
from typing import Any

from auditor.collect.collected import Collected
from auditor.common.errors import InputError
from auditor.common.jsonio import (
    INDENT_LIMIT,
    PRIVATE_MODE,
    json_chunks,
    read_json_document,
    write_json_atomic,
    write_stream_atomic,
)
from auditor.common.text import json_escape_controls
from auditor.common.version import __version__
from auditor.evidence.redact import redact_metadata_text, redact_targets, redaction_summary

KIND = "auditor-evidence"
SCHEMA_VERSION = "1"


_HASHED_KEYS = ("kind", "schema_version", "metadata", "targets")


def _canonical_chunks(doc: dict[str, Any]) -> Any:
    """The canonical JSON (sorted keys, compact) of the bundle's content, in pieces."""
    return json_chunks({k: doc[k] for k in _HASHED_KEYS if k in doc}, sort_keys=True)


def content_sha256(doc: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, compact, UTF-8) of the bundle's content."""
    digest = hashlib.sha256()
    for chunk in _canonical_chunks(doc):
        digest.update(chunk.encode())
    return digest.hexdigest()


# The saved text of the last large bundle built, as (its sha256, an unlinked temporary file): the
# hash encodes the whole content once (30 MB at 43,000 objects), and the same text, with the
# sha256 added, is the evidence file; saving that bundle copies it instead of encoding it again.
_KEPT: tuple[str, Any] | None = None


def _hash_keeping_text(doc: dict[str, Any]) -> str:
    """:func:`content_sha256` of ``doc``, keeping its canonical text (controls escaped as
    json_text escapes them) when it is larger than INDENT_LIMIT, so :func:`save_bundle` can
    write it: a bundle that large is saved compact anyway, and sorted keys are as valid."""
    global _KEPT
    if _KEPT is not None:
        _KEPT[1].close()
        _KEPT = None
    digest, size = hashlib.sha256(), 0
    spool = None
    try:
        spool = tempfile.TemporaryFile(prefix="auditor-evidence-")
        for chunk in _canonical_chunks(doc):
            data = chunk.encode()
            digest.update(data)
            escaped = json_escape_controls(chunk)
            spool.write(data if escaped is chunk else escaped.encode())
            size += len(data)
        spool.flush()
    except OSError:  # no room for the temporary copy: the hash alone, the file encoded when saved
        if spool is not None:
            spool.close()
        return content_sha256(doc)
    if size > INDENT_LIMIT:
        _KEPT = (digest.hexdigest(), spool)
    else:
        spool.close()
    return digest.hexdigest()


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build_bundle(collected: Collected, *, root: str = "/", host: str | None = None,
                 collected_at: str | None = None, incomplete_reason: str | None = None) -> dict[str, Any]:
    """Assemble the evidence document (with its sha256) from what the collectors gathered.

    Everything passes the redaction stage first (:mod:`auditor.evidence.redact`): the targets'
    items and the text of every error and reason; `metadata.redactions` counts what it redacted."""
    targets = {k: collected.targets[k] for k in sorted(collected.targets)}
    counts = redact_targets(targets)
    metadata = {
        "auditor_version": __version__,
        "host": host or socket.gethostname(),
        "collected_at": collected_at or utc_now(),
        "root": root,
        "complete": not collected.errors and not collected.target_errors and not incomplete_reason,
        "sources": redact_metadata_text(collected.sources),
        "errors": redact_metadata_text(collected.errors),
        "target_errors": redact_metadata_text(dict(sorted(collected.target_errors.items()))),
        "redactions": redaction_summary(counts),
    }
    if incomplete_reason:
        metadata["incomplete_reason"] = redact_metadata_text(incomplete_reason)
    doc: dict[str, Any] = {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "metadata": metadata,
        "targets": targets,
    }
    doc["sha256"] = _hash_keeping_text(doc)
    return doc


def save_bundle(doc: dict[str, Any], path: str) -> None:
    """Write the bundle atomically, readable by its owner only (0600, whatever the umask)."""
    kept = _KEPT
    if kept is not None and doc.get("sha256") == kept[0] and set(doc) - {"unverified"} == {*_HASHED_KEYS, "sha256"}:
        write_stream_atomic(path, lambda fh: _copy_kept(kept[1], kept[0], fh), mode=PRIVATE_MODE)
        return
    write_json_atomic(path, {k: v for k, v in doc.items() if k != "unverified"}, mode=PRIVATE_MODE)


def _copy_kept(spool: Any, sha256: str, out: Any) -> None:
    """The kept canonical text, its closing brace replaced by the sha256 field."""
    spool.seek(0, 2)
    left = spool.tell() - 1
    spool.seek(0)
    while left > 0:
        block = spool.read(min(left, 1 << 20))
        if not block:
            raise OSError("the kept evidence text is shorter than written")
        out.write(block)
        left -= len(block)
    out.write(f',"sha256":{json.dumps(sha256)}}}\n'.encode())


# The metadata fields evaluation and the reports read, and the JSON types they must have.
_METADATA_TYPES: dict[str, tuple[type, ...]] = {"host": (str,), "collected_at": (str,), "root": (str,),
                                                "complete": (bool,), "sources": (list,), "errors": (list,),
                                                "target_errors": (dict,), "incomplete_reason": (str,)}


def _check_metadata(path: str, meta: dict[str, Any]) -> None:
    for name, types in _METADATA_TYPES.items():
        if name in meta and not isinstance(meta[name], types) and (meta[name] is not None or types[0] in (list, dict)):
            kind = {dict: "an object", list: "a list", bool: "true or false"}.get(types[0], "a string")
            raise InputError(f"{path}: metadata.{name} must be {kind}")
    for name, required in (("sources", ("name", "status")), ("errors", ("source", "message"))):
        for index, entry in enumerate(meta.get(name) or []):
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()) \
                    or not all(k in entry for k in required):
                raise InputError(f"{path}: metadata.{name}[{index}] must be an object of strings with "
                                 f"{' and '.join(required)}")
    if not all(isinstance(v, str) for v in (meta.get("target_errors") or {}).values()):
        raise InputError(f"{path}: metadata.target_errors must map target names to strings")


UNVERIFIED_OPTION = "--accept-unverified"


def load_bundle(path: str, *, accept_unverified: bool = False) -> dict[str, Any]:
    """Load and sanity-check an evidence file; raise InputError with a one-line reason.

    A bundle whose sha256 is missing, empty or wrong is refused; with ``accept_unverified`` it is
    loaded and carries ``doc["unverified"]`` (the reason, outside the hashed content), which the
    results and every report show."""
    try:
        doc = read_json_document(path, "an evidence bundle")
    except FileNotFoundError:
        raise InputError(f"{path}: no such evidence file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read evidence: {exc}") from None
    return check_bundle(doc, path, accept_unverified=accept_unverified)


def check_bundle(doc: Any, path: str, *, accept_unverified: bool = False) -> dict[str, Any]:
    """Sanity-check a loaded evidence document (kind, version, shapes, sha256); InputError names `path`."""
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise InputError(f"{path}: not an auditor evidence bundle (kind must be {KIND!r})")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"{path}: evidence schema_version {doc.get('schema_version')!r} is not supported "
                         f"(this auditor reads {SCHEMA_VERSION!r})")
    targets = doc.get("targets")
    if not isinstance(targets, dict) or not all(isinstance(v, list) for v in targets.values()):
        raise InputError(f"{path}: field 'targets' must map target names to lists of items")
    if not isinstance(doc.get("metadata"), dict):
        raise InputError(f"{path}: field 'metadata' must be an object")
    _check_metadata(path, doc["metadata"])
    for target, items in targets.items():
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("subject"), dict):
                raise InputError(f"{path}: targets.{target}[{index}]: an item must be an object with a 'subject'")
    doc.pop("unverified", None)  # only this loader says so, never the file
    problem = integrity_problem(doc)
    if problem:
        if not accept_unverified:
            raise InputError(f"{path}: {problem}: refused (evaluate it anyway, marked unverified in the results "
                             f"and every report, with {UNVERIFIED_OPTION})")
        doc["unverified"] = problem
    return doc


def integrity_problem(doc: dict[str, Any]) -> str | None:
    """Why a bundle's sha256 does not vouch for its content (missing, empty, not a string, wrong), or None."""
    if "sha256" not in doc or doc["sha256"] is None:
        return "no sha256: the bundle cannot be verified"
    expected = doc["sha256"]
    if not isinstance(expected, str):
        return "field 'sha256' is not a string: the bundle cannot be verified"
    if not expected.strip():
        return "sha256 is empty: the bundle cannot be verified"
    try:
        actual = content_sha256(doc)
    except (TypeError, ValueError):
        return "the content cannot be hashed: the bundle cannot be verified"
    if expected != actual:
        return "sha256 does not match the content: the bundle was altered or truncated"
    return None
