"""Regenerate auditor/data/pack-cache.json from the built-in pack and framework files:

    python3 -m auditor.packs.rebuild_cache

Every file is parsed and validated on the way (the loaders' RECORD mode skips the cache being
replaced); tests/test_packs.py fails while the shipped cache is stale.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from auditor.packs.cache import CACHE_FILE, FORMAT, entry, schema_fingerprint


def build() -> dict[str, Any]:
    """The cache document for the built-in packs and frameworks, each file validated on the way."""
    from auditor.packs.frameworks import find_framework_paths, load_framework
    from auditor.packs.loader import find_pack_paths, load_pack

    recorded: dict[str, Any] = {}
    import auditor.packs.loader as packs

    def record(kind: str, raw: bytes, data: Any, lines: dict[int, int]) -> None:
        recorded[hashlib.sha256(raw).hexdigest()] = entry(kind, data, lines)

    packs.RECORD = record
    try:
        for path in find_pack_paths().values():
            load_pack(path)
        for path in find_framework_paths().values():
            load_framework(path)
    finally:
        packs.RECORD = None
    return {"format": FORMAT, "schema": schema_fingerprint(), "files": dict(sorted(recorded.items()))}


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def main() -> int:
    text = render(build())  # from the YAML itself (RECORD mode skips the cache being replaced)
    with open(CACHE_FILE, "w", encoding="utf-8") as fh:
        fh.write(text)
    sys.stderr.write(f"wrote {CACHE_FILE}: {len(json.loads(text)['files'])} files\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
