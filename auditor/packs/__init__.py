"""Stage 3, packs: find, load and validate benchmark packs (controls and their conditions) and
framework packs (requirements mapped onto controls); built-in ones come from a shipped cache."""

from auditor.packs.loader import SEVERITIES, Control, Pack, find_pack_paths, load_pack, resolve_packs

__all__ = ["SEVERITIES", "Control", "Pack", "find_pack_paths", "load_pack", "resolve_packs"]
