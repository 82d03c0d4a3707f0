"""Control characters in text that came from what was audited, in one place.

A container name, a label or an error message can carry characters a terminal, a spreadsheet, an
XML parser or a code-scanning viewer would obey rather than show: NUL, BEL, ESC (the start of
every terminal escape: clear screen, window title, hyperlinks), the rest of C0, DEL, the C1
controls (U+0080-U+009F, U+009B is a one-character CSI), and the bidirectional formatting
characters that reorder what is displayed (U+061C, U+200E, U+200F, U+202A-U+202E,
U+2066-U+2069, the "Trojan Source" characters). Every output uses one of two treatments:

* :func:`escape_controls`: each becomes its visible escape (``\\x1b``, ``\\u202e``), so the
  text says what was there: the terminal, CSV, JUnit, SARIF and OSCAL;
* :func:`replace_controls`: each becomes U+FFFD, as a browser shows NUL: the HTML and the PDF's
  text layer (their markup is escaped separately);

and :func:`json_escape_controls` writes the ones JSON allows raw (DEL, C1, bidi) as ``\\uXXXX``
escapes in a JSON text, so a results file shown on a terminal carries none of them raw while its
data stay the same.
"""

from __future__ import annotations

import re

# Tab and newline are text (kept by the treatments below unless asked); everything else listed.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
CONTROL_CHARS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
CONTROL_CHARS_ALL = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")  # tab and newline too
# Replaced in HTML and PDF text: tab, newline and carriage return are whitespace there.
_REPLACED = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")
# The ones JSON may carry unescaped (it escapes U+0000-U+001F itself).
_JSON_RAW = re.compile(f"[\x7f-\x9f{_BIDI}]")


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, keep_lines: bool = True) -> str:
    """`text` with every control and bidi character written as its escape (``\\x1b``,
    ``\\u202e``); tab and newline are kept unless `keep_lines` is false."""
    pattern = CONTROL_CHARS if keep_lines else CONTROL_CHARS_ALL
    return pattern.sub(_visible, text) if pattern.search(text) else text


def replace_controls(text: str) -> str:
    """`text` with every control and bidi character (tab, newline, carriage return kept)
    replaced by U+FFFD."""
    return _REPLACED.sub("\ufffd", text) if _REPLACED.search(text) else text


def has_controls(text: str) -> bool:
    """Whether :func:`replace_controls` would change `text`."""
    return _REPLACED.search(text) is not None


def json_escape_controls(text: str) -> str:
    """A JSON text with DEL, the C1 controls and the bidi characters as ``\\uXXXX`` escapes (they
    only occur inside strings, so the document is the same; C0 JSON escapes itself)."""
    if text.isascii():  # only DEL can be there (a scan in C, not a regular expression: 28 MB at 43k objects)
        return text.replace("\x7f", "\\u007f") if "\x7f" in text else text
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text) if _JSON_RAW.search(text) else text


def escape_strings(value: object, keep_lines: bool = True) -> object:
    """A JSON-like value with :func:`escape_controls` applied to every string in it (keys too)."""
    if isinstance(value, str):
        return escape_controls(value, keep_lines)
    if isinstance(value, dict):
        return {escape_strings(k, keep_lines) if isinstance(k, str) else k: escape_strings(v, keep_lines)
                for k, v in value.items()}
    if isinstance(value, list):
        return [escape_strings(v, keep_lines) for v in value]
    return value
