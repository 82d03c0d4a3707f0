"""Validated pack files, shipped pre-parsed: the built-in packs load without YAML or jsonschema.

Every run needs the built-in packs and frameworks; parsing their YAML and validating it against
the JSON Schemas costs more than evaluating a small folder of manifests. ``auditor/data/
pack-cache.json`` holds, for every built-in pack and framework file, its parsed data and entry
lines, keyed by the SHA-256 of the file's bytes and tagged with the fingerprint of the schemas it
was validated against. A file whose bytes or schema differ (an edited pack, a user's own pack)
is simply not in the cache and is parsed and validated as before, so the cache can make loading
faster but never changes what is loaded. ``tests/test_packs.py`` fails when the cache is stale.

What it buys: loading every built-in pack and framework takes about 0.1 s from the cache against
1.0 s parsed and validated (this machine, 2 cores), most of a small audit's run; shown by
tests/perf/bench_manifests.py (the 270-manifest audit) and by `auditor packs list`.

Regenerate after editing a pack or framework file:  python3 -m auditor.packs.rebuild_cache
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

CACHE_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "pack-cache.json")
FORMAT = 1
# the list each kind of file holds, whose entries' lines are kept
ENTRY_LISTS = {"pack": None, "controls": "controls", "framework": None, "requirements": "requirements"}

_loaded: dict[str, Any] | None = None


def schema_fingerprint() -> str:
    """SHA-256 of the schemas pack and framework files are validated against (and the format)."""
    from auditor.packs.schemas import controls_schema, framework_schema, pack_schema

    schemas = {"format": FORMAT, "pack": pack_schema(), "controls": controls_schema(),
               "framework": framework_schema()}
    return hashlib.sha256(json.dumps(schemas, sort_keys=True).encode()).hexdigest()


def _cache() -> dict[str, Any]:
    global _loaded
    if _loaded is None:
        _loaded = {}
        try:
            with open(CACHE_FILE, encoding="utf-8") as fh:
                doc = json.load(fh)
            if isinstance(doc, dict) and doc.get("schema") == schema_fingerprint():
                _loaded = doc.get("files") or {}
        except (OSError, ValueError):
            pass  # no cache (or a broken one): every file is parsed and validated
    return _loaded


@contextlib.contextmanager
def bypass() -> Iterator[None]:
    """Within this block every file is parsed and validated, as `auditor packs validate` does."""
    global _loaded
    saved, _loaded = _loaded, {}
    try:
        yield
    finally:
        _loaded = saved


def lookup(kind: str, raw: bytes) -> tuple[Any, dict[int, int]] | None:
    """(data, lines by id) of a file already validated as ``kind``, or None."""
    entry = _cache().get(hashlib.sha256(raw).hexdigest())
    if entry is None or entry.get("kind") != kind:
        return None
    data = json.loads(entry["data"])  # a fresh copy: callers may keep and change what they load
    lines = {id(data): entry["line"]} if entry.get("line") else {}
    list_key = ENTRY_LISTS[kind]
    if list_key:
        lines.update((id(item), line) for item, line in zip(data[list_key], entry["entry_lines"], strict=True)
                     if line)
    return data, lines


def entry(kind: str, data: Any, lines: dict[int, int]) -> dict[str, Any]:
    """The cache entry of a validated file."""
    list_key = ENTRY_LISTS[kind]
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if json.loads(text) != data:
        raise ValueError("data does not survive JSON (dates or non-string keys?)")
    out: dict[str, Any] = {"kind": kind, "data": text, "line": lines.get(id(data))}
    if list_key:
        out["entry_lines"] = [lines.get(id(item)) for item in data[list_key]]
    return out
