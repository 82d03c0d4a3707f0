"""Find, load and validate check packs.

A pack is a folder holding ``pack.yaml`` (id, title, version, sections, weights, parameters) and
``controls/*.yaml`` (each a mapping with a ``controls`` list). Every file is validated against the
pack JSON Schema, which is generated from the operators table so the docs, the validator and the
engine cannot drift. A problem is reported as one line naming file, line, control and field.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from auditor.common.errors import InputError
from auditor.packs.conditions import compile_condition
from auditor.packs.schemas import SEVERITIES, condition_schema, controls_schema, pack_schema  # noqa: F401 (re-exported)


def builtin_pack_dirs() -> list[str]:
    """Folders searched for packs: the installed copy, then a checkout's ``benchmarks/``."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = [os.path.join(here, "benchmarks"), os.path.join(os.path.dirname(here), "benchmarks")]
    return [d for d in dict.fromkeys(candidates) if os.path.isdir(d)]






# ---------------------------------------------------------------------------------------------
# loading

class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader that remembers the line where each mapping starts."""

    lines: dict[int, int]


def _construct_map(loader: _LineLoader, node: yaml.MappingNode):  # type: ignore[no-untyped-def]
    data: dict[Any, Any] = {}
    loader.lines[id(data)] = node.start_mark.line + 1
    yield data
    data.update(loader.construct_mapping(node))


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def load_yaml(path: str, raw: bytes | None = None) -> tuple[Any, dict[int, int]]:
    """Load one YAML file (or its bytes `raw`, already read); return the data and a map id(mapping) -> line."""
    from auditor.common.safeyaml import YamlLimitError, check_text, load_single, located

    try:
        if raw is None:
            with open(path, "rb") as fh:
                raw = fh.read()
        text = raw.decode("utf-8")
        check_text(text)  # before libyaml composes it: deep nesting would overflow its C stack
        loader = _LineLoader(text)
        loader.lines = {}
        try:
            data = load_single(loader, path, text)
        finally:
            loader.dispose()
    except YamlLimitError as exc:
        raise InputError(located(path, exc)) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except RecursionError:
        raise InputError(f"{path}: not read: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}{where}: invalid YAML: {problem}") from None
    except ValueError as exc:  # PyYAML's int() of a number longer than Python converts
        if isinstance(exc, InputError) or "digits" not in str(exc):
            raise  # e.g. a bad date: the caller names its line
        from auditor.common.jsonio import integer_limit_text

        raise InputError(f"{path}: not read: {integer_limit_text(exc)}") from None
    return data, loader.lines


# Called with (kind, bytes, data, lines) for every file validated, while auditor.packs.rebuild_cache builds the cache.
RECORD: Any = None


def load_checked(path: str, kind: str, check: Any) -> tuple[Any, dict[int, int], bytes, bool]:
    """Data, lines, bytes and whether it came from the cache, of a pack or framework file of
    ``kind`` (pack, controls, framework, requirements), validated by ``check(path, data, lines)``
    (which raises InputError) unless the very same bytes are in the shipped cache of validated
    built-in files (auditor/packs/cache.py)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if RECORD is None:
        from auditor.packs.cache import lookup

        hit = lookup(kind, raw)
        if hit is not None:
            return hit[0], hit[1], raw, True
    data, lines = load_yaml(path, raw)
    check(path, data, lines)
    if RECORD is not None:
        RECORD(kind, raw, data, lines)
    return data, lines, raw, False


def _validator(schema: dict[str, Any]):  # type: ignore[no-untyped-def]
    import jsonschema

    return jsonschema.Draft202012Validator(schema)


_VALIDATORS: dict[str, Any] = {}


def _validators() -> dict[str, Any]:
    if not _VALIDATORS:  # built on first need: jsonschema is only imported to validate a file
        _VALIDATORS["pack"] = _validator(pack_schema())
        _VALIDATORS["controls"] = _validator(controls_schema())
    return _VALIDATORS


def schema_problem(data: Any, lines: dict[int, int], validator: Any, list_key: str
                   ) -> tuple[Any, int | None, Any, list[Any]] | None:
    """The most telling schema error of ``data`` (None when valid), with the line it is on, the
    ``id`` of the ``list_key`` entry (control, requirement) it lies in, and the field path inside
    that entry, so a message can name file, line, entry and field."""
    import jsonschema.exceptions

    err = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if err is None:
        return None
    # descend into the deepest error of a oneOf so the message names the real field
    while err.context:
        err = jsonschema.exceptions.best_match(err.context)
    parts = list(err.absolute_path)
    entry_id, line, node = None, None, data
    for part in parts:
        if isinstance(node, dict) and id(node) in lines:
            line = lines[id(node)]
        if not isinstance(node, (dict, list)):
            break
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if entry_id is None and parts[:1] == [list_key] and isinstance(node, dict) and "id" in node:
            entry_id = node.get("id")
    if isinstance(node, dict) and id(node) in lines:
        line = lines[id(node)]
    return err, line, entry_id, parts[2:] if parts[:1] == [list_key] else parts


def one_line_name(value: Any) -> str:
    """An id or key as written, or quoted with escapes when it is not one printable line."""
    return value if isinstance(value, str) and value.isprintable() else repr(value)


def _schema_error(path: str, data: Any, lines: dict[int, int], validator: Any) -> None:
    problem = schema_problem(data, lines, validator, "controls")
    if problem is None:
        return
    err, line, control_id, inner = problem
    field_path = one_line_name(".".join(str(p) for p in inner))
    where = f"{path}" + (f" line {line}" if line else "")
    who = f" control {one_line_name(control_id)}" if control_id is not None else ""
    fld = f" field '{field_path}'" if field_path else ""
    raise InputError(f"{where}:{who}{fld}: {err.message}")


@dataclass
class Control:
    pack_id: str
    id: str
    title: str
    section: str
    assessment: str
    severity: str
    weight: float
    level: int | None
    data: dict[str, Any]
    file: str
    line: int | None
    params: dict[str, Any] = field(default_factory=dict, repr=False)
    _compiled: tuple[Any, Any] | None = field(default=None, repr=False)

    @property
    def target(self) -> str | None:
        return self.data.get("target")

    @property
    def target_names(self) -> list[str]:
        """The targets the control judges: one, or several comma-separated (Roles and ClusterRoles alike)."""
        return [name.strip() for name in (self.target or "").split(",") if name.strip()]

    def compile(self, where_text: str = "") -> tuple[Any, Any]:
        """The compiled ``where`` and ``check`` conditions (None when absent), compiled once.

        A pack is compiled as it loads, so a bad condition fails there naming ``where_text``;
        only files from the validated cache (auditor/packs/cache.py, compiled when it was built)
        with no parameter overrides are compiled on first use, so controls a run never evaluates
        cost nothing."""
        if self._compiled is None:
            compiled = []
            for fld in ("where", "check"):
                if fld not in self.data:
                    compiled.append(None)
                    continue
                try:
                    compiled.append(compile_condition(self.data[fld], self.params))
                except InputError as exc:
                    where = where_text or self.file + (f" line {self.line}" if self.line else "")
                    raise InputError(f"{where}: control {self.id} field '{fld}': {exc}") from None
            self._compiled = (compiled[0], compiled[1])
        return self._compiled

    @property
    def where(self) -> Any:
        return self.compile()[0]

    @property
    def check(self) -> Any:
        return self.compile()[1]


@dataclass
class Pack:
    id: str
    title: str
    version: str
    kind: str
    path: str
    meta: dict[str, Any]
    sections: list[dict[str, str]]
    controls: list[Control] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""

    def targets(self) -> set[str]:
        """Evidence targets the pack's automated controls judge."""
        return {name for c in self.controls for name in c.target_names}

    def section_title(self, section_id: str) -> str:
        for section in self.sections:
            if section["id"] == section_id:
                return section["title"]
        return ""


DEFAULT_WEIGHTS = {"critical": 4.0, "high": 3.0, "medium": 2.0, "low": 1.0, "info": 0.0}


def iter_entries(folder: str, kind: str, check: Any, digest: Any, section_ids: set[str],
                 declared_in: str) -> Iterator[tuple[dict[str, Any], str, int | None, str, bool]]:
    """(entry, file, line, "FILE line N", from the validated cache) for every entry of
    ``FOLDER/KIND/*.yaml`` (controls of a pack, requirements of a framework): each file checked
    by ``check(file, data, lines)`` and added to ``digest``; a duplicate id or an undeclared
    section is an InputError naming the place."""
    noun = kind.rstrip("s")
    seen: dict[str, str] = {}
    for path in sorted(glob.glob(os.path.join(folder, kind, "*.yaml"))):
        data, lines, raw_bytes, cached = load_checked(path, kind, check)
        digest.update(raw_bytes)
        for raw in data[kind]:
            line = lines.get(id(raw))
            where = path + (f" line {line}" if line else "")
            entry_id = raw["id"]
            if entry_id in seen:
                raise InputError(f"{where}: {noun} {entry_id} field 'id': duplicate id "
                                 f"(first defined in {seen[entry_id]})")
            seen[entry_id] = where
            if raw["section"] not in section_ids:
                raise InputError(f"{where}: {noun} {entry_id} field 'section': {raw['section']!r} is not a section "
                                 f"declared in {declared_in}")
            yield raw, path, line, where, cached


def resolve_parameters(meta: dict[str, Any], params: dict[str, Any], pack_file: str,
                       overridden: set[str]) -> dict[str, Any]:
    """The parameters after each one's ``accepts`` test and ``aliases`` (``latest`` -> ``v1.37``).

    A value a parameter does not accept is an InputError naming the pack, the parameter and the
    value (``--set`` when it was given there, the pack file when it is the pack's own default)."""
    out = dict(params)
    for name, spec in (meta.get("parameters") or {}).items():
        value = out[name]
        accepts = spec.get("accepts")
        if accepts is not None and not _accepted(value, accepts):
            where = f"--set {meta['id']}.{name}" if name in overridden else f"{pack_file}: parameter {name} default"
            raise InputError(f"{where}: {one_line_name(value) if isinstance(value, str) else repr(value)} "
                             f"is not accepted (expected {accepts.get('description') or accepts['pattern']})")
        aliases = spec.get("aliases") or {}
        if isinstance(value, str) and value in aliases:
            out[name] = aliases[value]
    return out


def parameter_accepts(spec: dict[str, Any], value: Any) -> bool:
    """Whether a parameter (its spec in pack.yaml) accepts ``value``: its ``accepts`` test, or any
    value when it declares none."""
    accepts = spec.get("accepts")
    return accepts is None or _accepted(value, accepts)


def _accepted(value: Any, accepts: dict[str, Any]) -> bool:
    """Whether ``value`` passes ``accepts``: a string matching its ``pattern`` (linear-time engine)."""
    from auditor.common.linear_regex import RegexRefused, compile_linear

    try:
        pattern = compile_linear(accepts["pattern"])
    except RegexRefused as exc:
        raise InputError(f"parameter pattern {accepts['pattern']!r}: {exc}") from None
    return isinstance(value, str) and pattern.search(value) is not None


def load_pack(path: str, overrides: dict[str, Any] | None = None) -> Pack:
    """Load, validate and compile a pack folder (or its ``pack.yaml``)."""
    folder = os.path.dirname(path) if os.path.isfile(path) else path
    pack_file = os.path.join(folder, "pack.yaml")
    if not os.path.isfile(pack_file):
        raise InputError(f"{folder}: not a pack (no pack.yaml)")
    digest = hashlib.sha256()
    meta, _lines, raw, _cached = load_checked(pack_file, "pack", lambda p, d, lines: _schema_error(p, d, lines,
                                                                                        _validators()["pack"]))
    digest.update(raw)
    params = {name: spec["default"] for name, spec in (meta.get("parameters") or {}).items()}
    for name, value in (overrides or {}).items():
        if name not in params:
            raise InputError(f"{pack_file}: pack {meta['id']} has no parameter {name!r} "
                             f"(known: {', '.join(sorted(params)) or 'none'})")
        params[name] = value
    params = resolve_parameters(meta, params, pack_file, set(overrides or ()))
    weights = {**DEFAULT_WEIGHTS, **(meta.get("weights") or {})}
    section_ids = {s["id"] for s in meta["sections"]}
    pack = Pack(id=meta["id"], title=meta["title"], version=meta["version"], kind=meta["kind"], path=folder,
                meta=meta, sections=meta["sections"], parameters=params)
    def check(path: str, data: Any, lines: dict[int, int]) -> None:
        _schema_error(path, data, lines, _validators()["controls"])

    for raw, cfile, line, where, cached in iter_entries(folder, "controls", check, digest, section_ids, pack_file):
        cid = raw["id"]
        control = Control(pack_id=pack.id, id=cid, title=raw["title"], section=raw["section"],
                          assessment=raw["assessment"], severity=raw["severity"],
                          weight=float(raw.get("weight", weights[raw["severity"]])), level=raw.get("level"),
                          data=raw, file=cfile, line=line, params=params)
        if overrides or not cached:
            control.compile(where)
        pack.controls.append(control)
    if not pack.controls:
        raise InputError(f"{folder}: pack {pack.id} has no controls (expected controls/*.yaml)")
    pack.controls.sort(key=lambda c: control_sort_key(c.id))
    pack.sha256 = digest.hexdigest()
    return pack


def control_sort_key(control_id: str) -> tuple[Any, ...]:
    """Sort ids such as 1.1.10 after 1.1.9."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in control_id.split("."))


def find_pack_paths(extra: Iterable[str] = (), marker: str = "pack.yaml") -> dict[str, str]:
    """Map pack id -> folder for the built-in packs (folders holding ``marker``) and any extra folders."""
    found: dict[str, str] = {}
    for base in builtin_pack_dirs():
        for pack_yaml in sorted(glob.glob(os.path.join(base, "*", marker))):
            folder = os.path.dirname(pack_yaml)
            found.setdefault(os.path.basename(folder), folder)
    for path in extra:
        found[os.path.basename(os.path.normpath(path))] = path
    return found


def resolve_packs(names: Iterable[str] | None, overrides: dict[str, dict[str, Any]] | None = None) -> list[Pack]:
    """Load the packs named (ids or folder paths); all built-in packs when none is named."""
    available = find_pack_paths()
    overrides = overrides or {}
    chosen = list(names or []) or sorted(available)
    packs = []
    for name in chosen:
        if os.path.isdir(name) or os.path.isfile(name):
            path = name
        elif name in available:
            path = available[name]
        else:
            raise InputError(f"unknown pack {name!r} (available: {', '.join(sorted(available)) or 'none'})")
        pack_id = os.path.basename(os.path.normpath(path if os.path.isdir(path) else os.path.dirname(path)))
        packs.append(load_pack(path, overrides.get(pack_id)))
    return packs
