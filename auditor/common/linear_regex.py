"""Regular expressions (and waiver globs) on a linear-time engine: RE2 (google-re2).

A pack or waivers file is input like any other: Python's backtracking `re` can spend hours on a
pattern such as ``^(a+)+$`` against a long name. RE2 matches in time linear in the text, and
refuses what cannot be matched that way (back-references, look-around): such a pattern is an
error when the pack loads (`auditor packs validate` says why), never a hang at run time.

Differences from Python's `re` a pack author may meet: ``\\Z`` is written ``\\z``; ``$`` matches
only at the very end (not before a final newline); ``\\d``, ``\\w`` and ``\\s`` are ASCII.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print its parse errors on stderr; the message is ours


class RegexRefused(ValueError):
    """A pattern the linear-time engine does not accept; the message says why."""


@functools.lru_cache(maxsize=4096)
def compile_linear(pattern: str) -> Any:
    """The compiled RE2 pattern (``.search``, ``.fullmatch``, ``.pattern`` as in `re`), or RegexRefused."""
    if not isinstance(pattern, str):
        raise RegexRefused(f"{pattern!r} is not a string")
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexRefused(f"the linear-time regex engine (RE2) refuses it: {reason} (back-references "
                           "and look-around cannot be matched in linear time)") from None


def is_pattern(value: Any) -> bool:
    """Whether ``value`` is a compiled pattern (RE2's or `re`'s)."""
    return hasattr(value, "search") and hasattr(value, "pattern") and not isinstance(value, (str, bytes))


def _hex(ch: str) -> str:
    """One character as an RE2 escape that is literal anywhere, in a set too."""
    return "\\x{" + format(ord(ch), "x") + "}"


def glob_regex(glob: str) -> str:
    """The RE2 expression matching what ``fnmatch.fnmatchcase(text, glob)`` matches: ``*`` any
    text, ``?`` one character, ``[abc]`` / ``[a-z]`` / ``[!abc]`` one of (or none of) a set."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal "["
                out.append(r"\[")
                continue
            body, i = glob[i:j], j + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            escaped = "".join(ch if ch.isalnum() or ch == "-" else _hex(ch) for ch in body)
            out.append("[" + ("^" if negate else "") + escaped + "]" if body else ("." if negate else "[^\\s\\S]"))
        else:
            out.append(c if c.isalnum() else _hex(c))
    return "(?s:" + "".join(out) + ")"


@functools.lru_cache(maxsize=4096)
def compile_glob(glob: str) -> Any:
    """The compiled RE2 form of a waiver glob (RegexRefused for a set RE2 refuses, e.g. ``[z-a]``)."""
    return compile_linear(glob_regex(glob))


def glob_match(text: str, glob: str) -> bool:
    """``fnmatch.fnmatchcase(text, glob)`` in linear time."""
    return compile_glob(glob).fullmatch(text) is not None
