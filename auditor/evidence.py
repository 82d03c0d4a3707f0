"""The evidence bundle: targets -> items, metadata and a sha256 over its content.

See docs/evidence.md for the shape of every target. Collectors fill a :class:`Collected`;
:func:`build_bundle` turns one or more of them into the document that is saved and evaluated.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import hashlib
import json
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from auditor import __version__
from auditor.errors import InputError

KIND = "auditor-evidence"
SCHEMA_VERSION = "1"


@dataclass
class Collected:
    """What one collector gathered: items per target, and what went wrong on the way."""

    targets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    target_errors: dict[str, str] = field(default_factory=dict)

    def add(self, target: str, item: dict[str, Any]) -> None:
        self.targets.setdefault(target, []).append(item)

    def source(self, name: str, status: str = "ok", detail: str = "") -> None:
        self.sources.append({"name": name, "status": status, "detail": detail})

    def error(self, source: str, message: str, targets: tuple[str, ...] = ()) -> None:
        """Record a failed source; `targets` lists whole targets it leaves uncollected."""
        self.errors.append({"source": source, "message": message})
        for target in targets:
            self.target_errors.setdefault(target, message)

    def merge(self, other: Collected) -> None:
        for target, items in other.targets.items():
            self.targets.setdefault(target, []).extend(items)
        self.sources.extend(other.sources)
        self.errors.extend(other.errors)
        for target, message in other.target_errors.items():
            self.target_errors.setdefault(target, message)


# A JSON or YAML escape that may decode to half of a UTF-16 surrogate pair: such a "lone
# surrogate" is a str Python can hold but cannot encode as UTF-8 (writing or hashing it fails).
SURROGATE_ESCAPE = re.compile(r"\\(?:u|U0000)[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(obj: Any) -> Any:
    """`obj` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(obj, str):
        return _LONE_SURROGATE.sub("\ufffd", obj)
    if isinstance(obj, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [without_lone_surrogates(v) for v in obj]
    return obj


def _no_constant(name: str) -> Any:
    raise InputError(f"{name} is not a JSON number")


def read_json_document(path: str, what: str, finite: bool = False) -> Any:
    """json.load of `path` refusing, as InputError, text that cannot be written back: lone
    surrogate escapes (\\udcff), nesting too deep to decode, and with `finite` NaN and Infinity
    (which Python reads but other JSON readers refuse). OSError and JSONDecodeError pass."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        doc = json.loads(text, parse_constant=_no_constant) if finite else json.loads(text)
    except InputError as exc:
        raise InputError(f"{path}: not {what}: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: not {what}: JSON nested too deeply to read") from None
    if SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(f"{path}: not {what}: a string holds a lone surrogate ({exc.object[exc.start]!a}), "
                             "which is not Unicode text") from None
    return doc


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def json_chunks(value: Any, sort_keys: bool = False, depth: int = 3) -> Iterator[str]:
    """The compact JSON text of ``value`` (exactly as ``json.dumps(value, sort_keys=sort_keys,
    separators=(",", ":"), ensure_ascii=False)``) in pieces: dicts and lists down to ``depth``
    levels are opened, what lies below is encoded whole (by the C encoder). A 30 MB bundle is
    hashed or written without ever being one 30 MB string (and a bytes copy of it) beside the
    objects it encodes."""
    if depth and isinstance(value, dict) and all(type(k) is str for k in value):
        yield "{"
        for n, key in enumerate(sorted(value) if sort_keys else value):
            yield ("," if n else "") + json.dumps(key, ensure_ascii=False) + ":"
            yield from json_chunks(value[key], sort_keys, depth - 1)
        yield "}"
    elif depth and isinstance(value, list):
        yield "["
        for n, item in enumerate(value):
            if n:
                yield ","
            yield from json_chunks(item, sort_keys, depth - 1)
        yield "]"
    else:
        yield json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)


def content_sha256(doc: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, compact, UTF-8) of the bundle's content."""
    body = {k: doc[k] for k in ("kind", "schema_version", "metadata", "targets") if k in doc}
    digest = hashlib.sha256()
    for chunk in json_chunks(body, sort_keys=True):
        digest.update(chunk.encode())
    return digest.hexdigest()


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build_bundle(collected: Collected, *, root: str = "/", host: str | None = None,
                 collected_at: str | None = None, incomplete_reason: str | None = None) -> dict[str, Any]:
    """Assemble the evidence document (with its sha256) from what the collectors gathered."""
    metadata = {
        "auditor_version": __version__,
        "host": host or socket.gethostname(),
        "collected_at": collected_at or utc_now(),
        "root": root,
        "complete": not collected.errors and not collected.target_errors and not incomplete_reason,
        "sources": collected.sources,
        "errors": collected.errors,
        "target_errors": dict(sorted(collected.target_errors.items())),
    }
    if incomplete_reason:
        metadata["incomplete_reason"] = incomplete_reason
    doc: dict[str, Any] = {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "metadata": metadata,
        "targets": {k: collected.targets[k] for k in sorted(collected.targets)},
    }
    doc["sha256"] = content_sha256(doc)
    return doc


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while evidence is decoded, judged and written: that
    builds hundreds of thousands of acyclic dicts and lists, and the collections their
    allocations trigger would cost a tenth to a half of the time, freeing nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Documents up to this size (a Docker host's evidence, a small cluster's results) are indented
# for people; larger ones are written compact, because only the C encoder (no indent) is fast:
# indenting a few megabytes would cost more than collecting them. `jq .` indents any of them.
INDENT_LIMIT = 1_000_000


def json_text(doc: Any) -> str:
    """JSON text of a document: indented when small, compact when large; always ends in a newline."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    if len(text) <= INDENT_LIMIT:
        text = json.dumps(doc, ensure_ascii=False, indent=1)
    return text + "\n"


def write_json_atomic(path: str, doc: Any) -> None:
    """Write JSON so the file is either complete or absent (temp file + rename): the text of
    :func:`json_text`, written in pieces (json_chunks), so a large document is never held twice."""
    def write(fh: Any) -> None:
        size = 0
        for chunk in json_chunks(doc):
            data = chunk.encode("utf-8")
            size += len(data)
            fh.write(data)
        if size <= INDENT_LIMIT:  # small: indented for people after all
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
        fh.write(b"\n")

    _write_atomic(path, write)


def write_text_atomic(path: str, text: str | bytes) -> None:
    """Write a file so it is either complete or absent (temp file in the same folder + rename)."""
    _write_atomic(path, lambda fh: fh.write(text.encode("utf-8") if isinstance(text, str) else text))


def _write_atomic(path: str, write: Any) -> None:
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; reports are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_bundle(doc: dict[str, Any], path: str) -> None:
    write_json_atomic(path, doc)


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


def load_bundle(path: str) -> dict[str, Any]:
    """Load and sanity-check an evidence file; raise InputError with a one-line reason."""
    try:
        doc = read_json_document(path, "an evidence bundle")
    except FileNotFoundError:
        raise InputError(f"{path}: no such evidence file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read evidence: {exc}") from None
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
    expected = doc.get("sha256")
    if expected is not None and not isinstance(expected, str):
        raise InputError(f"{path}: field 'sha256' must be a string")
    if expected and expected != content_sha256(doc):
        raise InputError(f"{path}: sha256 does not match the content: the bundle was altered or truncated")
    return doc
