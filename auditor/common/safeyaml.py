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


# ---------------------------------------------------------------------------------------------
# fast construction of plain data (manifests)

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
# An alias starts a node: at the start of the text or after whitespace or a flow or block
# indicator. Text without such a '*' (or without any '&') holds no alias, so nothing is shared.
_ALIAS = re.compile(r"(?<![^\s\[\]{},:?\-])\*")
_RESOLVED: dict[str, str] = {}
_RESOLVED_MAX = 50_000


def has_aliases(text: str) -> bool:
    """False when the text certainly holds no alias (a cheap test; True may be a false alarm)."""
    return "&" in text and _ALIAS.search(text) is not None


class FastSafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml with PyYAML's safe tags, resolving plain scalars through a cache.

    PyYAML's resolver matches regular expressions for every plain scalar; without path resolvers
    (none are registered) the tag depends on the text alone, so it is looked up once per distinct
    text (keys such as ``name`` and ``image`` repeat thousands of times in manifests)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:  # type: ignore[override]
        if kind is yaml.ScalarNode:
            if not implicit[0]:
                return _STR
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(value) <= 64:
                    if len(_RESOLVED) >= _RESOLVED_MAX:
                        _RESOLVED.clear()
                    _RESOLVED[value] = tag
            return tag
        return _SEQ if kind is yaml.SequenceNode else _MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:  # no path resolvers
        return None

    def ascend_resolver(self) -> None:
        return None


class Unsupported(Exception):
    """A node the fast constructor leaves to PyYAML's (merge keys, sets, unknown tags...)."""


def json_key(key: Any) -> str:
    # As sigs.k8s.io/yaml turns YAML into JSON: keys become strings (true, not True).
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


def plain_constructor(scalars: dict[str, Any], guarded: bool) -> Any:
    """A function building the Python data of a composed document: dicts with string keys, lists
    and scalars, as PyYAML's safe constructor would (keys made strings as :func:`json_key`).

    ``scalars`` maps the non-string scalar tags to functions of the node. A node outside this
    (merge key, set, omap, unknown tag, non-scalar key) raises :class:`Unsupported` so the caller
    can use PyYAML's constructor for that document. ``guarded`` (for text that may hold aliases):
    shared nodes are built once, and the limits of :func:`check_node` are enforced on the way
    (depth, self-reference, alias expansion), so a hostile document is refused early."""
    str_tag, map_tag, seq_tag = _STR, _MAP, _SEQ
    scalar_node, mapping_node = yaml.ScalarNode, yaml.MappingNode

    def key_of(k: Any) -> str:
        if type(k) is not scalar_node:
            raise Unsupported
        fn = scalars.get(k.tag)
        if fn is None:
            raise Unsupported  # merge key '<<', value key '=', unknown tag
        key = fn(k)
        return key if type(key) is str else json_key(key)

    def plain(node: Any) -> Any:
        cls = type(node)
        tag = node.tag
        if cls is scalar_node:
            if tag == str_tag:
                return node.value
            fn = scalars.get(tag)
            if fn is None:
                raise Unsupported
            return fn(node)
        if cls is mapping_node:
            if tag != map_tag:
                raise Unsupported
            out = {}
            for k, v in node.value:
                out[k.value if type(k) is scalar_node and k.tag == str_tag else key_of(k)] = plain(v)
            return out
        if tag != seq_tag:
            raise Unsupported
        return [plain(v) for v in node.value]

    if not guarded:
        return plain

    memo: dict[int, tuple[Any, int]] = {}
    active: set[int] = set()
    extra = [0]

    def shared(node: Any, depth: int) -> tuple[Any, int]:
        key = id(node)
        hit = memo.get(key)
        if hit is not None:
            extra[0] += hit[1]
            if extra[0] > MAX_ALIAS_NODES:
                raise YamlLimitError(f"aliases expand to more than {MAX_ALIAS_NODES} extra nodes: refused as an "
                                     "alias bomb")
            return hit
        if key in active:
            raise YamlLimitError(f"line {node.start_mark.line + 1}: an alias refers to a node that contains it")
        if depth > MAX_DEPTH:
            raise YamlLimitError(f"line {node.start_mark.line + 1}: nesting deeper than {MAX_DEPTH} levels")
        cls = type(node)
        if cls is scalar_node:
            result = (plain(node), 1)
        else:
            active.add(key)
            size = 1
            if cls is mapping_node:
                if node.tag != map_tag:
                    raise Unsupported
                value: Any = {}
                for k, v in node.value:
                    name = k.value if type(k) is scalar_node and k.tag == str_tag else key_of(k)
                    value[name], n = shared(v, depth + 1)
                    size += n + 1
            else:
                if node.tag != seq_tag:
                    raise Unsupported
                value = []
                for v in node.value:
                    item, n = shared(v, depth + 1)
                    value.append(item)
                    size += n
            active.discard(key)
            result = (value, size)
        memo[key] = result
        return result

    def build(node: Any) -> Any:
        memo.clear()  # ids of freed nodes are reused: the memo holds one document's nodes only
        active.clear()
        extra[0] = 0
        try:
            return shared(node, 1)[0]
        finally:
            memo.clear()

    return build
