"""The manifests collector: Kubernetes objects from YAML and JSON files and folders.

Reads multi-document YAML (Helm-rendered output included), JSON, and `kubectl get -o json|yaml`
List objects; every object keeps the file and line it was written at. A broken file or document
is recorded as an error naming file and line, and everything else is still judged; this
collector never raises on bad input. See docs/evidence-kubernetes.md.

Speed: YAML goes through libyaml (``yaml.CSafeLoader``); line numbers come from the nodes the C
composer builds anyway. JSON is decoded by the C scanner item by item, so a 27 MB `kubectl get
-A -o json` dump costs about what ``json.load`` costs, with each item's line on top.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Hashable, Iterator
from json.decoder import scanstring
from typing import Any

import yaml

from auditor.collect.collected import Collected
from auditor.collect.host import file_type
from auditor.collect.k8s_objects import Location, counted_only, deferred_unless_needed, objects_to_targets
from auditor.common.jsonio import SURROGATE_ESCAPE, without_lone_surrogates
from auditor.common.safeyaml import (
    FastSafeLoader,
    Unsupported,
    YamlLimitError,
    check_node,
    check_text,
    has_aliases,
    json_key,
    located,
    plain_constructor,
)
from auditor.speed.gc_pause import paused_gc
from auditor.speed.second_core import run_split

MAX_FILE_BYTES = 64 * 2**20
EXTENSIONS = (".yaml", ".yml", ".json")
SOURCE = "manifests"

_WS = re.compile(r"[ \t\n\r]*")
_DOC_START = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)
_DECODER = json.JSONDecoder()


class ManifestError(Exception):
    """A problem in one file or document, already worded as 'FILE line N column C: what'."""


# ---------------------------------------------------------------------------------------------
# YAML

def _text_scalar(loader: yaml.CSafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


class _Loader(FastSafeLoader):
    """libyaml, safe tags only; values kept JSON-shaped so the bundle can always be written.

    Documents are built by :func:`auditor.common.safeyaml.plain_constructor` (the same data, about
    twice as fast); these constructors serve the documents it leaves to PyYAML (merge keys,
    sets, unusual tags)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML's, with each key made a string before it is stored: `1` and `true` stay two
        # keys ("1", "true") as in JSON, instead of colliding as Python's 1 == True.
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep=deep)  # raises PyYAML's error
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                        "found unhashable key", key_node.start_mark)
            mapping[key if type(key) is str else json_key(key)] = self.construct_object(value_node, deep=deep)
        return mapping


# Timestamps stay the text they were written as (an API server returns strings too); binary
# stays base64 text; sets become lists of their members.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _text_scalar)
_Loader.add_constructor("tag:yaml.org,2002:binary", _text_scalar)
_Loader.add_constructor("tag:yaml.org,2002:set", lambda loader, node: list(loader.construct_mapping(node)))


def _scalars(loader: _Loader) -> dict[str, Any]:
    """Constructors of the non-string scalar tags, for the fast path (same results as above)."""
    return {"tag:yaml.org,2002:null": loader.construct_yaml_null, "tag:yaml.org,2002:bool": loader.construct_yaml_bool,
            "tag:yaml.org,2002:int": loader.construct_yaml_int, "tag:yaml.org,2002:float": loader.construct_yaml_float,
            "tag:yaml.org,2002:str": loader.construct_yaml_str,
            "tag:yaml.org,2002:timestamp": lambda node: node.value, "tag:yaml.org,2002:binary": lambda node: node.value}


def _mark_text(path: str, mark: Any, line_offset: int) -> str:
    if mark is None:
        return path
    return f"{path} line {mark.line + 1 + line_offset} column {mark.column + 1}"


def _yaml_error(path: str, exc: yaml.YAMLError, line_offset: int) -> tuple[str, int | None]:
    """One-line message and the 0-based absolute line of the problem."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    what = f"{problem} ({context})" if context else problem
    line = mark.line + line_offset if mark is not None else None
    return f"{_mark_text(path, mark, line_offset)}: not valid YAML: {what}", line


def _reset(loader: _Loader) -> None:
    # construct_document leaves its state behind when a constructor raised.
    loader.state_generators = []
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.deep_construct = False


def _item_lines(node: yaml.Node, line_offset: int) -> list[int] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "items" and isinstance(value, yaml.SequenceNode):
            return [n.start_mark.line + 1 + line_offset for n in value.value]
    return None


def yaml_documents(text: str, path: str, errors: list[str]) -> Iterator[tuple[Any, int, list[int] | None]]:
    """(document, 1-based line of its first key, lines of its `items` or None) for each document.

    A syntax error ends the document it is in: the error is appended to `errors` and reading
    resumes at the next `---` line after the problem, so the other documents are still read.
    """
    try:
        check_text(text)  # before libyaml composes it: deep nesting would overflow its C stack
    except YamlLimitError as exc:
        errors.append(located(path, exc) + ": not read")
        return
    # Without an alias nothing is shared, and deeper nesting than Python can construct is caught
    # below; text that may hold one is built with the limits checked on the way.
    guarded = has_aliases(text)
    start, line_offset = 0, 0
    while True:
        loader = _Loader(text[start:] if start else text)
        build = plain_constructor(_scalars(loader), guarded)
        resume_after: int | None = None
        try:
            while True:
                try:
                    if not loader.check_node():
                        break
                    node = loader.get_node()
                except yaml.YAMLError as exc:
                    message, resume_after = _yaml_error(path, exc, line_offset)
                    errors.append(message)
                    if resume_after is None:
                        return
                    break
                if node is None:
                    continue
                try:
                    try:
                        data = build(node)
                    except Unsupported:  # PyYAML's constructor for this document, limits first
                        if guarded:
                            check_node(node)
                        data = loader.construct_document(node)
                except YamlLimitError as exc:
                    _reset(loader)
                    errors.append(f"{_mark_text(path, node.start_mark, line_offset)}: document not read: {exc}")
                    continue
                except yaml.YAMLError as exc:  # e.g. an unknown tag: this document only
                    _reset(loader)
                    errors.append(_yaml_error(path, exc, line_offset)[0])
                    continue
                except (TypeError, ValueError, RecursionError) as exc:
                    _reset(loader)
                    errors.append(f"{_mark_text(path, node.start_mark, line_offset)}: cannot read document: {exc}")
                    continue
                yield data, node.start_mark.line + 1 + line_offset, _item_lines(node, line_offset)
        finally:
            loader.dispose()
        if resume_after is None:
            return
        nxt = _next_document(text, resume_after)
        if nxt is None:
            return
        start, line_offset = nxt


def _next_document(text: str, after_line: int) -> tuple[int, int] | None:
    """(offset, 0-based line) of the first `---` line below line `after_line` (0-based)."""
    pos = 0
    for _ in range(after_line + 1):
        pos = text.find("\n", pos) + 1
        if pos == 0:
            return None
    match = _DOC_START.search(text, pos)
    if match is None:
        return None
    return match.start(), text.count("\n", 0, match.start())


# ---------------------------------------------------------------------------------------------
# JSON

class _Lines:
    """Line numbers of increasing offsets in a text, counting newlines once overall."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1

    def at(self, pos: int) -> int:
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def _expect(text: str, pos: int, chars: str) -> str:
    if pos >= len(text) or text[pos] not in chars:
        raise json.JSONDecodeError(f"Expecting {' or '.join(repr(c) for c in chars)}", text, pos)
    return text[pos]


def _first_key(text: str, pos: int) -> int:
    """Offset of an object's first key (the object's '{' when it is empty or not an object)."""
    if pos >= len(text) or text[pos] != "{":  # a truncated array ends here: the decoder names the error
        return pos
    inner = _skip(text, pos + 1)
    return inner if inner < len(text) and text[inner] == '"' else pos


def _json_array(text: str, pos: int, lines: _Lines, keep: Any = None) -> tuple[list[Any], list[int], int]:
    """Decode the array at `pos` element by element, noting the line of each element; each
    element is passed through `keep` (when given) as soon as it is decoded, with the text and the
    element's span in it: keep(value, text, start, end)."""
    values: list[Any] = []
    value_lines: list[int] = []
    pos = _skip(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return values, value_lines, pos + 1
    while True:
        value_lines.append(lines.at(_first_key(text, pos)))
        start = pos
        value, pos = _DECODER.raw_decode(text, pos)
        values.append(value if keep is None else keep(value, text, start, pos))
        pos = _skip(text, pos)
        if _expect(text, pos, ",]") == "]":
            return values, value_lines, pos + 1
        pos = _skip(text, pos + 1)


def json_documents(text: str, keep: Any = None) -> list[tuple[Any, int, list[int] | None]]:
    """Like :func:`yaml_documents` for one JSON text (an object, a List, or an array of objects).

    The top-level object is walked key by key so that the elements of its `items` array are
    decoded one at a time with their positions known; everything else goes to the C decoder.
    Raises json.JSONDecodeError.
    """
    lines = _Lines(text)
    pos = _skip(text, 0)
    if pos < len(text) and text[pos] == "[":
        values, value_lines, end = _json_array(text, pos, lines, keep)
        _end_of_text(text, end)
        return [(v, line, None) for v, line in zip(values, value_lines, strict=True)]
    if pos >= len(text) or text[pos] != "{":
        value, end = _DECODER.raw_decode(text, pos)  # a scalar: decoded for its error or its value
        _end_of_text(text, end)
        return [(value, lines.at(pos), None)]
    doc_line = lines.at(_first_key(text, pos))
    doc: dict[str, Any] = {}
    item_lines: list[int] | None = None
    pos = _skip(text, pos + 1)
    if _expect(text, pos, '"}') == '"':
        while True:
            key, pos = scanstring(text, pos + 1)
            pos = _skip(text, pos)
            _expect(text, pos, ":")
            pos = _skip(text, pos + 1)
            if key == "items" and pos < len(text) and text[pos] == "[":
                doc[key], item_lines, pos = _json_array(text, pos, lines, keep)
            else:
                doc[key], pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos)
            if _expect(text, pos, ",}") == "}":
                break
            pos = _skip(text, pos + 1)
            _expect(text, pos, '"')
    _end_of_text(text, pos + 1)
    return [(doc, doc_line, item_lines)]


def _end_of_text(text: str, pos: int) -> None:
    pos = _skip(text, pos)
    if pos != len(text):
        raise json.JSONDecodeError("Extra data", text, pos)


# ---------------------------------------------------------------------------------------------
# files

def _read_text(path: str, named: bool = True) -> str:
    """The text of a manifest file. A file found by walking a folder must be a regular file: a
    FIFO or device there is refused without blocking; a path named on the command line may be a
    pipe (`<(helm template ...)`), read as given."""
    try:
        fd = os.open(path, os.O_RDONLY | (0 if named else os.O_NONBLOCK) | getattr(os, "O_NOCTTY", 0))
        with open(fd, "rb") as fh:
            st = os.fstat(fd)
            if not named and not stat.S_ISREG(st.st_mode):
                raise ManifestError(f"{path}: not a regular file ({file_type(st.st_mode)}), not read")
            if st.st_size > MAX_FILE_BYTES:
                raise ManifestError(f"{path}: file too large ({st.st_size} bytes; the limit is {MAX_FILE_BYTES} "
                                    "bytes)")
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ManifestError(f"{path}: file too large (more than {MAX_FILE_BYTES} bytes)")
    if b"\x00" in data:
        raise ManifestError(f"{path}: binary file (NUL bytes), not YAML or JSON")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ManifestError(f"{path} line {line}: not UTF-8 text (binary file?)") from None


def read_manifest_file(path: str, objects: list[tuple[Any, Location | None]], errors: list[str],
                       notes: list[str], named: bool = True) -> int:
    """Append the Kubernetes objects of one file to `objects`; problems go to `errors` (broken
    input) or `notes` (documents that are not Kubernetes objects). Returns the object count.
    `named`: the path was given by the user (not found in a folder), so it may be a pipe."""
    try:
        text = _read_text(path, named)
    except ManifestError as exc:
        errors.append(str(exc))
        return 0
    documents: Any
    if text.lstrip()[:1] in ("{", "["):
        try:
            documents = json_documents(text, keep=deferred_unless_needed)  # see deferred_unless_needed
        except (json.JSONDecodeError, RecursionError) as exc:
            if path.endswith(".json") or not isinstance(exc, json.JSONDecodeError):
                is_json_error = isinstance(exc, json.JSONDecodeError)
                where = f"{path} line {exc.lineno} column {exc.colno}" if is_json_error else path
                errors.append(f"{where}: not valid JSON: {getattr(exc, 'msg', exc)}")
                return 0
            documents = yaml_documents(text, path, errors)  # YAML flow style, not JSON
        except ValueError as exc:  # an integer longer than Python converts: this file only
            from auditor.common.jsonio import integer_limit_text

            errors.append(f"{path}: not read: {integer_limit_text(exc)}")
            return 0
    else:
        documents = yaml_documents(text, path, errors)
    count = 0
    surrogates = SURROGATE_ESCAPE.search(text) is not None  # "\udcff" escapes: not writable as UTF-8
    for doc, line, item_lines in documents:
        if doc is None:  # an empty document, e.g. a Helm template rendered to nothing
            continue
        if surrogates:
            doc = without_lone_surrogates(doc)
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str) or "apiVersion" not in doc:
            notes.append(f"{path} line {line}: not a Kubernetes object (no apiVersion/kind), skipped")
            continue
        items = doc.get("items")
        if doc["kind"].endswith("List") and isinstance(items, list):
            lines = item_lines if item_lines is not None and len(item_lines) == len(items) else [line] * len(items)
            for item, item_line in zip(items, lines, strict=True):
                if isinstance(item, dict) and isinstance(item.get("kind"), str):
                    objects.append((counted_only(item), (path, item_line)))
                    count += 1
                else:
                    notes.append(f"{path} line {item_line}: list item is not a Kubernetes object, skipped")
            continue
        objects.append((counted_only(doc), (path, line)))
        count += 1
    return count


def manifest_files(path: str) -> list[str]:
    """The files a path names: itself, or every *.yaml, *.yml, *.json below a folder (sorted,
    hidden folders such as .git skipped). Raises ManifestError for a missing path."""
    if os.path.isdir(path):
        found = []
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(os.path.join(folder, f) for f in sorted(files) if f.lower().endswith(EXTENSIONS))
        return found
    if not os.path.exists(path):
        raise ManifestError(f"{path}: no such file or folder")
    return [path]


def collect_manifests(paths: list[str]) -> Collected:
    """Collect the Kubernetes objects of manifest files and folders into the k8s.* targets.

    Never raises for bad input: unreadable, binary, oversized or malformed files are recorded as
    errors naming file and line (the evidence is then incomplete), other files and the other
    documents of a broken file are still read. Documents that are not Kubernetes objects and
    objects of kinds without a target are skipped (listed as notes / counted in k8s.cluster).
    """
    with paused_gc():
        return _collect(paths)


# One file's share of the collection: (objects, errors, notes, object count).
FileResult = tuple[list[tuple[Any, Location | None]], list[str], list[str], int]
# Below this many bytes of regular files, a second process would cost more than it saves.
PARALLEL_MIN_BYTES = 1_000_000


def _read_one(file: str, named: bool) -> FileResult:
    objects: list[tuple[Any, Location | None]] = []
    errors: list[str] = []
    notes: list[str] = []
    count = read_manifest_file(file, objects, errors, notes, named)
    return objects, errors, notes, count


def _regular_size(path: str) -> int | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def read_files(jobs: list[tuple[str, bool]]) -> list[FileResult]:
    """Read every (file, named) job, in order. With at least PARALLEL_MIN_BYTES of regular files,
    a forked child reads about half of the bytes (auditor/speed/second_core.py; a failing child costs time,
    not data). Pipes, devices and unreadable paths are read by this process only."""
    sizes = [_regular_size(file) for file, _named in jobs]
    return run_split(jobs, [size or 0 for size in sizes], lambda job: _read_one(*job), PARALLEL_MIN_BYTES,
                     child_ok=lambda index: sizes[index] is not None)


def _collect(paths: list[str]) -> Collected:
    collected = Collected()
    listed: list[tuple[str, list[str], list[str]]] = []  # (path, its files, errors of the path itself)
    for path in paths:
        try:
            listed.append((path, manifest_files(path), []))
        except ManifestError as exc:
            listed.append((path, [], [str(exc)]))
    jobs = [(file, files == [path]) for path, files, _ in listed for file in files]
    results = iter(read_files(jobs))
    objects: list[tuple[Any, Location | None]] = []
    files_read = 0
    for path, files, errors in listed:
        notes: list[str] = []
        count = 0
        for _file in files:
            file_objects, file_errors, file_notes, file_count = next(results)
            objects.extend(file_objects)
            errors.extend(file_errors)
            notes.extend(file_notes)
            count += file_count
        files_read += len(files)
        collected.source(SOURCE, "error" if errors else "ok", f"{path}: {len(files)} files, {count} objects"
                         + (f", {len(errors)} errors" if errors else ""))
        for note in notes:
            collected.source(SOURCE, "skipped", note)
        for message in errors:
            collected.error(SOURCE, message)
    # Manifests have not been through the API server: judge them as the objects it would store.
    objects_to_targets(objects, collected, cluster_name="manifests", extra={"files": files_read}, api_defaults=True)
    return collected
