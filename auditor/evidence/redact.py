"""The redaction stage: every collector's output passes through it before it becomes a bundle.

By structure, where the shape of the evidence says a value is secret: values under secret-like
keys (daemon.json, log options, kubelet config, component flags), argument vectors (`Args`,
`Cmd`, `command`, `args`, `argv`, health checks, top's process rows), environment lists (Docker
`Config.Env`, Kubernetes `env` of every container kind, wherever it is nested), name/value pairs
whose name is secret-like (probe and lifecycle-hook HTTP headers), the
`kubectl.kubernetes.io/last-applied-configuration` annotation, ConfigMap and Secret values.
By content, every remaining string (keys included) through :func:`redact_text`.

What checks need survives: names stay where values go, `env_secret_like` lists the variables
that look secret, and each item lists the field paths that were redacted (`redacted`), so a pack
can learn that a secret was there and where, never its value. The bundle's metadata counts the
redactions by target and field path (``metadata.redactions``).
"""

from __future__ import annotations

import json
from typing import Any

from auditor.common.secrets import (
    REDACTED,
    SECRET_NAME,
    argv_word_matters,
    redact_argv,
    redact_text,
    secret_key,
    secret_value,
)

__all__ = ["REDACTED", "redact_item", "redact_loaded", "redact_metadata_text", "redact_targets", "redact_text",
           "redaction_counts", "redaction_summary"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Fields the auditor itself derives: lists of names and counts by kind ("Secret": 12), never values.
_DERIVED = frozenset({"env_secret_like", "redacted", "kinds"})
# Kinds whose values are configuration or secrets as a whole: keys stay, values go.
_VALUE_KINDS = {"ConfigMap": ("data", "binaryData"), "Secret": ("data", "stringData")}
_ENV_KEYS = frozenset({"env", "Env"})


class _Walk:
    """One item's walk: the path to where we are, and the paths redacted."""

    __slots__ = ("path", "found")

    def __init__(self) -> None:
        self.path: list[str] = []
        self.found: list[str] = []

    def note(self, *more: str) -> None:
        parts = [*self.path, *more]
        text = ""
        for part in parts:
            text += part if part == "[]" or not text else "." + part
        self.found.append(text)

    # ------------------------------------------------------------ values

    def text(self, value: str, *more: str) -> str:
        out = redact_text(value)
        if out is not value and out != value:
            self.note(*more)
            return out
        if REDACTED in value:
            self.note(*more)  # already redacted by the collector: still counted, still visible
        elif len(value) > 1 and value[0] in "{[" and value[-1] in "}]":
            return self.embedded(value, *more)
        return value

    def embedded(self, value: str, *more: str) -> str:
        """A JSON document inside a string (annotations, labels): redacted as structure."""
        try:
            inner = json.loads(value)
        except ValueError:
            return value
        before = len(self.found)
        self.path.extend(more)
        try:
            out = self.walk(inner)
        finally:
            del self.path[len(self.path) - len(more):]
        return json.dumps(out, separators=(",", ":"), ensure_ascii=False) if len(self.found) > before else value

    def walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return self.mapping(obj)
        if isinstance(obj, list):
            return self.sequence(obj)
        return obj

    def sequence(self, items: list[Any]) -> list[Any]:
        if not _needs(items):
            return items
        if items and all(isinstance(v, str) for v in items):
            argv = redact_argv(items, deep=False)
            out = []
            for before, after in zip(items, argv, strict=True):
                if after is not before and after != before:
                    self.note("[]")
                    out.append(after)
                else:
                    out.append(self.text(before, "[]"))
            return out
        self.path.append("[]")
        try:
            return [self.walk(v) if _needs(v) else v for v in items]
        finally:
            self.path.pop()

    def mapping(self, obj: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        whole = _VALUE_KINDS.get(obj["kind"]) if isinstance(obj.get("kind"), str) else None
        pair = "name" in obj and "value" in obj and isinstance(obj.get("name"), str)
        for key, value in obj.items():
            if not _key_matters(key) and key not in _ENV_KEYS and not whole and not pair and not _needs(value):
                out[key] = value
                continue
            new_key = redact_text(key) if isinstance(key, str) else key
            if new_key != key:
                self.note(REDACTED)
                new_key = _free_key(out, new_key)
            # paths name the key as it is kept: a key that carried a secret is named redacted
            out[new_key] = self.field(obj, key, value, whole, pair, new_key if isinstance(new_key, str) else str(key))
        return out

    def field(self, obj: dict[str, Any], key: str, value: Any, whole: tuple[str, ...] | None, pair: bool,
              shown: str) -> Any:
        key_text = key
        key = shown  # for every path noted below; `key_text` decides what the field is
        if key_text in _DERIVED:
            return value
        if key_text == LAST_APPLIED and isinstance(value, str) and value:
            if value != REDACTED:
                self.note(LAST_APPLIED)
            return REDACTED
        if whole and key_text in whole and isinstance(value, dict):
            if value:
                self.note(key)
            return {redact_text(k) if isinstance(k, str) else k: REDACTED for k in value}
        if pair and key_text == "value" and value not in (None, "", REDACTED) and _secret_pair(obj["name"], self.path):
            self.note("value")
            return REDACTED
        if key_text in _ENV_KEYS and isinstance(value, list):
            return self.env(key, value)
        if secret_key(key_text):
            if secret_value(value):
                self.note(key)
                return REDACTED
            if isinstance(value, list) and value and all(not isinstance(v, (dict, list)) for v in value):
                redacted = [REDACTED if secret_value(v) else v for v in value]
                if redacted != value:
                    self.note(key, "[]")
                return redacted
        if isinstance(value, str):
            return self.text(value, key)
        if isinstance(value, (dict, list)):
            self.path.append(key)
            try:
                return self.walk(value)
            finally:
                self.path.pop()
        return value

    def env(self, key: str, entries: list[Any]) -> list[Any]:
        """Docker `NAME=value` strings keep the name; Kubernetes `{name, value}` lose the value."""
        out: list[Any] = []
        for entry in entries:
            if isinstance(entry, str):
                name, sep, rest = entry.partition("=")
                if sep:
                    self.note(key, "[]")
                    entry = name
                kept = redact_text(entry)
                if kept != entry and not sep:
                    self.note(key, "[]")
                out.append(kept)
            elif isinstance(entry, dict):
                var = dict(entry)
                if var.get("value") not in (None, "", REDACTED):
                    self.note(key, "[]", "value")
                    var["value"] = REDACTED
                self.path.extend((key, "[]"))
                try:
                    out.append(self.mapping(var))
                finally:
                    del self.path[-2:]
            else:
                out.append(entry)
        return out


_SECRET_HEADER_PATHS = ("httpHeaders", "headers")


def _secret_pair(name: str, path: list[str]) -> bool:
    # {name, value} pairs: HTTP headers of probes and hooks, and anything else named like a secret.
    return secret_key(name) or bool(SECRET_NAME.search(name)) or (
        len(path) >= 2 and path[-2] in _SECRET_HEADER_PATHS and name.lower() in ("x-api-key", "x-auth-token"))


def _free_key(taken: dict[str, Any], key: str) -> str:
    candidate, n = key, 1
    while candidate in taken:
        n += 1
        candidate = f"{key}-{n}"
    return candidate


_KEYS: dict[Any, bool] = {}
_STRINGS: dict[str, bool] = {}


def _key_matters(key: Any) -> bool:
    """Whether a key needs a look by name (cached: keys repeat across every item)."""
    known = _KEYS.get(key)
    if known is None:
        known = _KEYS[key] = (not isinstance(key, str) or key in _DERIVED or key == LAST_APPLIED
                              or secret_key(key) or redact_text(key) != key)
    return known


def _string_matters(text: str) -> bool:
    known = _STRINGS.get(text)
    if known is None:
        if len(_STRINGS) > 1 << 20:
            _STRINGS.clear()
        known = _STRINGS[text] = (redact_text(text) != text or REDACTED in text or argv_word_matters(text)
                                  or (len(text) > 1 and text[0] in "{[" and text[-1] in "}]"))
    return known


# Dicts the fast pass found nothing in, by id, during one redact_targets (the dicts themselves are
# kept too, so no id is reused meanwhile): items share dicts (a Kubernetes container item holds
# its pod's container dicts, a workload's pod the template's), each is looked at once. Only dicts
# of a few keys or more, where a look costs more than the lookup.
_CLEAN: dict[int, Any] | None = None
_CLEAN_MIN_KEYS = 4


def _needs(obj: Any) -> bool:
    """Whether any rule could change `obj` (or it holds a collector's redaction to count): the
    fast pass, with no path kept and nothing copied; only what it says yes to is walked."""
    kind = type(obj)
    if kind is str:
        return _string_matters(obj)
    if kind is dict:
        clean = _CLEAN
        if clean is not None and len(obj) >= _CLEAN_MIN_KEYS:
            if id(obj) in clean:
                return False
            if _dict_needs(obj):
                return True
            clean[id(obj)] = obj
            return False
        return _dict_needs(obj)
    if kind is list:
        for value in obj:
            if _needs(value):
                return True
        return False
    return False


def _dict_needs(obj: dict[Any, Any]) -> bool:
    """:func:`_needs` of a dict."""
    if ("value" in obj and "name" in obj) or (
            obj.get("kind") in _VALUE_KINDS and any(k in obj for k in _VALUE_KINDS[obj["kind"]])):
        return True
    for key, value in obj.items():
        if _KEYS.get(key, True) and _key_matters(key):
            return True
        kind = type(value)
        if kind is str:
            if _STRINGS.get(value, True) and _string_matters(value):
                return True
        elif kind is list and key in _ENV_KEYS and any(type(e) is str and "=" in e for e in value):
            return True  # NAME=value: the value goes
        elif (kind is dict or kind is list) and _needs(value):
            return True
    return False


def redact_item(item: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """One evidence item without secrets, and the field paths that were redacted (with repeats)."""
    if not _needs(item):
        return item, []
    walk = _Walk()
    out = walk.mapping(item)
    return out, walk.found


def redact_targets(targets: dict[str, list[Any]]) -> dict[str, int]:
    """Redact every item of every target in place; return redaction counts by "target:path".

    Each redacted item gets `redacted`: the sorted field paths that lost a value."""
    global _CLEAN
    counts: dict[str, int] = {}
    _CLEAN = {}
    try:
        for target, items in targets.items():
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                new, found = redact_item(item)
                if found:
                    paths = sorted(set(found) | set(new.get("redacted") or ()))
                    new["redacted"] = paths
                    for path in found:
                        name = f"{target}:{path}"
                        counts[name] = counts.get(name, 0) + 1
                items[index] = new
    finally:
        _CLEAN = None
    return counts


def redact_metadata_text(value: Any) -> Any:
    """Error messages, reasons and source names (daemon and API answers quote what they were
    sent: a URL with credentials, a flag): every string through :func:`redact_text`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_metadata_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_metadata_text(v) for v in value]
    return value


def redaction_summary(counts: dict[str, int]) -> dict[str, Any]:
    """The bundle metadata's account of redaction: a total and counts by field path, no values."""
    return {"total": sum(counts.values()), "by_field": dict(sorted(counts.items()))}


def redaction_counts(metadata: Any) -> dict[str, Any] | None:
    """The bundle metadata's `redactions`, if it has a well-formed one (a total and counts by
    field path), else None (a bundle from before the redaction stage, or a hand-made one)."""
    found = metadata.get("redactions") if isinstance(metadata, dict) else None
    if not isinstance(found, dict):
        return None
    by_field = found.get("by_field")
    if not isinstance(by_field, dict) or not all(isinstance(k, str) and type(v) is int and v >= 0
                                                 for k, v in by_field.items()):
        return None
    return redaction_summary(by_field)


def redact_loaded(bundle: dict[str, Any]) -> dict[str, Any]:
    """A loaded bundle through the redaction stage again, in place, before it is evaluated: one
    written by an older auditor, by hand or by another tool may carry what this stage removes, and
    nothing evaluated from it may carry a secret into results or reports. `metadata.redactions`
    adds what this pass found to what the bundle recorded (the bundle's sha256 stays the file's)."""
    targets = bundle.get("targets")
    meta = bundle.get("metadata")
    if not isinstance(targets, dict) or not isinstance(meta, dict):
        return bundle
    counts = dict((redaction_counts(meta) or {"by_field": {}})["by_field"])
    for name, n in redact_targets(targets).items():
        counts[name] = counts.get(name, 0) + n
    for key in ("sources", "errors", "target_errors", "incomplete_reason"):
        if key in meta:
            meta[key] = redact_metadata_text(meta[key])
    meta["redactions"] = redaction_summary(counts)
    return bundle
