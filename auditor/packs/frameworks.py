"""Framework packs (NIST SP 800-190, NIST SP 800-53, PCI DSS): requirements mapped onto benchmark controls.

A framework pack is a folder holding ``framework.yaml`` (id, title, version, sections, the
sources its mappings cite) and ``requirements/*.yaml`` (each a mapping with a ``requirements``
list). A requirement names the benchmark controls that evidence it as ``PACK:CONTROL``; every
mapping cites one declared source. Loading validates the files against
``auditor/schemas/framework.schema.json`` and checks that every referenced pack and control
exists, so a typo fails at load with one line naming file, line, requirement and field.

Framework verdicts are a pure function of evaluated control results (:func:`framework_results`),
so the CLI, the renderers and a diff of two results documents all read the same thing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.common.errors import InputError
from auditor.packs.loader import (
    Pack,
    control_sort_key,
    find_pack_paths,
    iter_entries,
    load_checked,
    load_pack,
    one_line_name,
    schema_problem,
)
from auditor.packs.schemas import SOURCE_KINDS, framework_schema  # noqa: F401 (re-exported)

# ---------------------------------------------------------------------------------------------
# validation (the schema: auditor/packs/schemas.py)

_VALIDATORS: dict[str, Any] = {}


def _validators() -> tuple[Any, Any]:
    if not _VALIDATORS:
        import jsonschema

        schema = framework_schema()
        _VALIDATORS["requirements"] = jsonschema.Draft202012Validator(schema)
        _VALIDATORS["framework"] = jsonschema.Draft202012Validator({**schema["$defs"]["framework"],
                                                                    "$defs": schema["$defs"]})
    return _VALIDATORS["framework"], _VALIDATORS["requirements"]


def _raise_schema_error(path: str, data: Any, lines: dict[int, int], validator: Any) -> None:
    problem = schema_problem(data, lines, validator, "requirements")
    if problem is None:
        return
    err, line, requirement, inner = problem
    fld = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in inner).lstrip(".")
    where = path + (f" line {line}" if line else "")
    who = f" requirement {one_line_name(requirement)}" if requirement is not None else ""
    raise InputError(f"{where}:{who}{' field ' + repr(fld) if fld else ''}: {err.message}")


# ---------------------------------------------------------------------------------------------
# model and loading

@dataclass(frozen=True)
class Mapping:
    """One requirement -> control link and the source that states it."""

    pack: str
    control: str
    source: str
    note: str | None = None


@dataclass
class Requirement:
    id: str
    title: str
    section: str
    assessment: str
    controls: list[Mapping]
    data: dict[str, Any]
    file: str
    line: int | None


@dataclass
class Framework:
    id: str
    title: str
    version: str
    path: str
    meta: dict[str, Any]
    sections: list[dict[str, str]]
    sources: dict[str, dict[str, Any]]
    requirements: list[Requirement] = field(default_factory=list)
    sha256: str = ""

    def pack_ids(self) -> list[str]:
        """Benchmark packs this framework's requirements reference, in first-use order."""
        return list(dict.fromkeys(m.pack for r in self.requirements for m in r.controls))

    def section_title(self, section_id: str) -> str:
        return next((s["title"] for s in self.sections if s["id"] == section_id), "")


class PackIndex:
    """Benchmark packs by id, loaded on first use (with the run's parameter overrides) and kept."""

    def __init__(self, packs: Iterable[Pack] = (), overrides: dict[str, dict[str, Any]] | None = None):
        self.packs: dict[str, Pack] = {p.id: p for p in packs}
        self.overrides = overrides or {}
        self._paths: dict[str, str] | None = None

    def get(self, pack_id: str) -> Pack | None:
        if pack_id not in self.packs:
            if self._paths is None:
                self._paths = find_pack_paths()
            if pack_id not in self._paths:
                return None
            self.packs[pack_id] = load_pack(self._paths[pack_id], self.overrides.get(pack_id))
        return self.packs[pack_id]


def packs_and_frameworks(pack_names: Sequence[str], framework_names: Sequence[str],
                         overrides: dict[str, dict[str, Any]] | None = None,
                         evidence_targets: set[str] | None = None) -> tuple[list[Pack], list[Framework]]:
    """What a run evaluates and shows.

    With ``framework_names`` (``--framework``): those frameworks, and the packs they need plus any
    named with ``--pack``. Without: the packs named (when none is, every built-in pack that judges
    a docker.*, node.* or k8s.* target present in ``evidence_targets``, so a Docker host is not
    shown pages of Kubernetes controls that cannot apply), and every built-in framework, judged
    over whatever was evaluated
    (unevaluated mappings are not_assessed).
    """
    from auditor.packs.loader import resolve_packs

    if not framework_names:
        packs = resolve_packs(pack_names or None, overrides)
        if not pack_names and evidence_targets is not None:
            # host.* targets (files, audit rules) are shared by Docker and Kubernetes packs, so
            # they alone do not make a pack relevant.
            present = {t for t in evidence_targets if not t.startswith("host.")}
            packs = [p for p in packs if p.targets() & present] or packs
        return packs, resolve_frameworks(None, PackIndex(packs, overrides))
    named = resolve_packs(pack_names, overrides) if pack_names else []
    index = PackIndex(named, overrides)
    frameworks = resolve_frameworks(framework_names, index)
    chosen = {p.id: p for p in named}
    for fw in frameworks:
        for pack_id in fw.pack_ids():
            pack = index.get(pack_id)
            if pack is not None:
                chosen.setdefault(pack_id, pack)
    return list(chosen.values()), frameworks


def describe_frameworks(paths: Sequence[str] | None = None) -> list[list[Any]]:
    """Rows (id, title, version, requirements, automated, mappings, verified, unsourced, path) for `packs list`."""
    index = PackIndex()
    rows = []
    for path in paths or list(find_framework_paths().values()):
        fw = load_framework(path, index)
        maps = [(m, fw.sources[m.source]) for r in fw.requirements for m in r.controls]
        rows.append([fw.id, fw.title, fw.version, len(fw.requirements),
                     sum(r.assessment == "automated" for r in fw.requirements), len(maps),
                     sum(1 for _, s in maps if s["verified"]), sum(1 for _, s in maps if s["kind"] == "judgement"),
                     fw.path])
    return rows


def is_framework_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "framework.yaml"))


def load_framework(path: str, index: PackIndex | None = None) -> Framework:
    """Load and validate a framework folder (or its ``framework.yaml``); check every mapped control exists."""
    folder = os.path.dirname(path) if os.path.isfile(path) else path
    meta_file = os.path.join(folder, "framework.yaml")
    if not os.path.isfile(meta_file):
        raise InputError(f"{folder}: not a framework pack (no framework.yaml)")
    index = index or PackIndex()
    meta, _lines, raw, _cached = load_checked(meta_file, "framework", lambda p, d, lines: _raise_schema_error(
        p, d, lines, _validators()[0]))
    digest = hashlib.sha256()
    digest.update(raw)
    fw = Framework(id=meta["id"], title=meta["title"], version=meta["version"], path=folder, meta=meta,
                   sections=meta["sections"], sources=meta["sources"])
    section_ids = {s["id"] for s in fw.sections}
    def check(path: str, data: Any, lines: dict[int, int]) -> None:
        _raise_schema_error(path, data, lines, _validators()[1])

    for raw, rfile, line, where, _cached in iter_entries(folder, "requirements", check, digest, section_ids, meta_file):
        fw.requirements.append(Requirement(
            id=raw["id"], title=raw["title"], section=raw["section"], assessment=raw["assessment"],
            controls=_mappings(fw, raw, where, index), data=raw, file=rfile, line=line))
    if not fw.requirements:
        raise InputError(f"{folder}: framework {fw.id} has no requirements (expected requirements/*.yaml)")
    fw.requirements.sort(key=lambda r: control_sort_key(r.id))
    fw.sha256 = digest.hexdigest()
    return fw


def _mappings(fw: Framework, raw: dict[str, Any], where: str, index: PackIndex) -> list[Mapping]:
    out: list[Mapping] = []
    refs: set[str] = set()
    automated = 0
    for n, item in enumerate(raw.get("controls") or []):
        fld = f"requirement {raw['id']} field 'controls[{n}]"
        pack_id, _, control_id = item["control"].partition(":")
        if item["source"] not in fw.sources:
            raise InputError(f"{where}: {fld}.source': {item['source']!r} is not a source declared in framework.yaml "
                             f"(known: {', '.join(sorted(fw.sources))})")
        if item["control"] in refs:
            raise InputError(f"{where}: {fld}.control': {item['control']} is mapped twice")
        refs.add(item["control"])
        pack = index.get(pack_id)
        if pack is None:
            raise InputError(f"{where}: {fld}.control': no pack {pack_id!r} is installed")
        control = next((c for c in pack.controls if c.id == control_id), None)
        if control is None:
            raise InputError(f"{where}: {fld}.control': pack {pack_id} has no control {control_id!r}")
        automated += control.assessment == "automated"
        out.append(Mapping(pack=pack_id, control=control_id, source=item["source"], note=item.get("note")))
    if raw["assessment"] == "automated" and not automated:
        raise InputError(f"{where}: requirement {raw['id']} field 'assessment': automated, but every mapped control "
                         "is manual (declare it manual with an audit text)")
    return out


def find_framework_paths(extra: Iterable[str] = ()) -> dict[str, str]:
    """Map framework id (folder name) -> folder, for the built-in framework packs and any extra folders."""
    return find_pack_paths(extra, marker="framework.yaml")


def resolve_frameworks(names: Sequence[str] | None, index: PackIndex | None = None) -> list[Framework]:
    """Load the frameworks named (ids or folders); every built-in framework when none is named."""
    available = find_framework_paths()
    index = index or PackIndex()
    out = []
    for name in list(names or []) or sorted(available):
        if os.path.isdir(name) or os.path.isfile(name):
            path = name
        elif name in available:
            path = available[name]
        else:
            raise InputError(f"unknown framework {name!r} (available: {', '.join(sorted(available)) or 'none'})")
        out.append(load_framework(path, index))
    return out
