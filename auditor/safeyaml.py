"""YAML with limits: alias bombs and deep nesting are refused before they can hurt.

PyYAML's safe loaders are safe against code execution but not against size: ``&a [*b, *b, ...]``
chains (a "billion laughs" document) build shared objects cheaply, and walking or JSON-encoding
them then explodes; nesting tens of thousands of levels deep overflows the C stack of libyaml's
composer (a segmentation fault, not an exception). Every YAML the auditor reads (packs, frameworks,
waivers, manifests, node config files, ``--set`` values) goes through :func:`check_text` before it
is composed and :func:`check_node` before it is constructed.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# Real Kubernetes objects and packs nest a few dozen levels; CRD schemas maybe a hundred.
MAX_DEPTH = 200
# Extra nodes that aliases may add beyond the nodes written out (anchors in docker-compose-like
# files stay far below this; a billion-laughs document is far above).
MAX_ALIAS_NODES = 100_000
# Pre-scan bounds, checked on the text before libyaml composes it (its composer recurses in C).
_TEXT_DEPTH_LIMIT = 1_000
_BRACKETS = re.compile(r"[\[\]{}]")
_DEEP_BLOCK = re.compile(rf"^[ \t?:-]{{{2 * _TEXT_DEPTH_LIMIT},}}", re.MULTILINE)


class YamlLimitError(ValueError):
    """A YAML document over the limits; the message says which limit and where."""


def check_text(text: str) -> None:
    """Refuse text whose nesting could overflow the YAML composer (a cheap upper bound).

    Flow nesting is bounded by the running count of open brackets, block nesting by the length of
    the run of indentation and indicators at the start of a line; both are far above what the
    node check allows, so a document passing here is then judged exactly by :func:`check_node`.
    """
    if _DEEP_BLOCK.search(text):
        raise YamlLimitError(f"nesting deeper than {MAX_DEPTH} levels")
    if text.count("[") + text.count("{") < _TEXT_DEPTH_LIMIT:
        return
    depth = 0
    for match in _BRACKETS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth > _TEXT_DEPTH_LIMIT:
            line = text.count("\n", 0, match.start()) + 1
            raise YamlLimitError(f"line {line}: nesting deeper than {MAX_DEPTH} levels")
        depth = max(depth, 0)  # brackets inside strings may close more than they opened


_SHALLOW_RUN = MAX_DEPTH // 2
_DEEP_INDENT = re.compile(rf"^[ \t?:-]{{{_SHALLOW_RUN},}}", re.MULTILINE)


def is_shallow(text: str) -> bool:
    """True when the text alone keeps a document within the limits: no anchor (so no alias to
    expand) and both block indentation and flow brackets under MAX_DEPTH / 2 (node depth is at
    most their sum)."""
    if "&" in text or _DEEP_INDENT.search(text):
        return False
    if text.count("[") + text.count("{") < _SHALLOW_RUN:
        return True
    depth = 0
    for match in _BRACKETS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth >= _SHALLOW_RUN:
            return False
        depth = max(depth, 0)
    return True


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_node(node: yaml.Node) -> None:
    """Refuse a composed document that nests deeper than MAX_DEPTH, refers to itself, or whose
    aliases would expand to more than MAX_ALIAS_NODES extra nodes. Linear in the distinct nodes."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    distinct = 0
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, finished = stack.pop()
        key = id(current)
        children = _children(current)
        if finished:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if depth[key] > MAX_DEPTH:
                raise YamlLimitError(f"line {current.start_mark.line + 1}: nesting deeper than {MAX_DEPTH} levels")
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlLimitError(f"line {current.start_mark.line + 1}: an alias refers to a node that contains it")
        on_path.add(key)
        distinct += 1
        if len(on_path) > MAX_DEPTH:
            raise YamlLimitError(f"line {current.start_mark.line + 1}: nesting deeper than {MAX_DEPTH} levels")
        stack.append((current, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    expanded = size[id(node)]
    if expanded - distinct > MAX_ALIAS_NODES:
        raise YamlLimitError(f"aliases expand {distinct} nodes to {expanded} (more than {MAX_ALIAS_NODES} "
                             "extra): refused as an alias bomb")


def located(path: str, exc: YamlLimitError) -> str:
    """The error as one line naming the file: "FILE line N: ..." or "FILE: ..."."""
    message = str(exc)
    if message.startswith(path):
        return message
    return f"{path} {message}" if message.startswith("line ") else f"{path}: {message}"


def load_single(loader: Any, path: str, text: str | None = None) -> Any:
    """The one document of an already created `loader`, checked; raises YamlLimitError (message
    starting with `path`) or yaml.YAMLError. The caller disposes of the loader.

    Given the `text` the loader reads, the node walk is skipped when :func:`is_shallow` proves the
    limits from the text alone (the common case: packs and manifests written by people)."""
    node = loader.get_single_node()
    if node is None:
        return None
    try:
        if text is None or not is_shallow(text):
            check_node(node)
    except YamlLimitError as exc:
        raise YamlLimitError(located(path, exc)) from None
    try:
        return loader.construct_document(node)
    except RecursionError:  # unreachable below MAX_DEPTH; kept so no input can make a traceback
        raise YamlLimitError(f"{path}: nesting too deep to read") from None


def safe_load(text: str, path: str = "<string>") -> Any:
    """yaml.safe_load with the limits (libyaml when available). Raises YamlLimitError naming
    `path`, or yaml.YAMLError for a syntax error."""
    try:
        check_text(text)
    except YamlLimitError as exc:
        raise YamlLimitError(located(path, exc)) from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        return load_single(loader, path, text)
    finally:
        loader.dispose()
