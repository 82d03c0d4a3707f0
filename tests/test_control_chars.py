"""Control characters (NUL, BEL, ESC, C1, bidi overrides) from audited text never reach CSV,
JUnit, SARIF, OSCAL, the results JSON or the terminal raw: they are written as visible escapes
(or U+FFFD in the HTML), one helper for all (auditor.common.text)."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import xml.etree.ElementTree as ET

import pytest

from auditor.common.jsonio import json_text
from auditor.common.text import escape_controls, escape_strings, json_escape_controls, replace_controls
from auditor.report.context import serialize_results
from auditor.report.terminal import render_table, safe_text
from auditor.report.write import render_report

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden", "demo-results.json")
# One of each kind: NUL, BEL, ESC (a clear-screen escape), DEL, C1 CSI, every bidi control.
CONTROLS = ["\x00", "\x07", "\x1b", "\x7f", "\x9b", "\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c",
            "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
HOSTILE = "x" + "".join(f"{c}y" for c in CONTROLS) + "\x1b[2J\x1b]0;title\x07"


def test_escape_controls_shows_each_character() -> None:
    assert escape_controls("a\x1b[2Jb\u202ec\x00\td\ne") == "a\\x1b[2Jb\\u202ec\\x00\td\ne"
    assert escape_controls("a\tb\nc", keep_lines=False) == "a\\x09b\\x0ac"
    assert escape_controls("plain text, ünïcode …") == "plain text, ünïcode …"
    out = escape_controls(HOSTILE)
    assert not any(c in out for c in CONTROLS)
    replaced = replace_controls(HOSTILE)
    assert not any(c in replaced for c in CONTROLS) and replaced.count("\ufffd") == len(CONTROLS) + 3
    assert escape_strings({"k\x1b": ["v\u202e", 1, None]}) == {"k\\x1b": ["v\\u202e", 1, None]}
    text = json.dumps({"a": "\x7f\x9b\u202e"}, ensure_ascii=False)
    assert json.loads(json_escape_controls(text)) == {"a": "\x7f\x9b\u202e"}
    assert not any(c in json_escape_controls(text) for c in CONTROLS)


def _hostile_results() -> dict:
    with open(GOLDEN, encoding="utf-8") as fh:
        results = json.load(fh)
    results = copy.deepcopy(results)
    results["evidence"]["host"] = HOSTILE
    results["evidence"]["errors"] = [{"source": "docker", "message": HOSTILE}]
    for control in results["controls"]:
        if control["status"] == "fail" and control["findings"]:
            control["title"] = HOSTILE
            control["reason"] = HOSTILE
            finding = control["findings"][0]
            finding["subject"]["name"] = HOSTILE
            finding["observed"] = HOSTILE
            finding["message"] = HOSTILE
            break
    return results


def _no_raw(text: str, where: str) -> None:
    for char in CONTROLS:
        assert char not in text, f"{where}: raw {char!r}"


@pytest.mark.parametrize("fmt", ["csv", "junit", "sarif", "oscal", "json", "html"])
def test_no_control_character_reaches_an_output_raw(fmt: str) -> None:
    results = _hostile_results()
    data = render_report(results, fmt, serialize_results(results), "r.results.json")
    text = data.decode("utf-8")
    _no_raw(text, fmt)
    # ... nor the values a reader of the format gets back after decoding it.
    if fmt == "csv":
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        _no_raw("".join(cells), "csv cells")
        assert any("\\x1b" in cell and "\\u202e" in cell for cell in cells)
    elif fmt == "junit":
        values = [v for el in ET.fromstring(data).iter() for v in [el.text or "", *el.attrib.values()]]
        _no_raw("".join(values), "junit values")
        assert any("\\x1b[2J" in v for v in values)
    elif fmt in ("sarif", "oscal"):
        decoded = json.dumps(json.loads(text), ensure_ascii=False)
        _no_raw(decoded, f"{fmt} values")
        assert "\\\\x1b[2J" in decoded and "\\\\u202e" in decoded
    elif fmt == "json":  # the results file keeps the data: escapes in the file, the same values read back
        assert json.loads(text)["evidence"]["host"] == HOSTILE
    elif fmt == "html":
        assert "\ufffd" in text


def test_terminal_summary_and_json_stdout_carry_no_control_character() -> None:
    results = _hostile_results()
    table = render_table(results)
    _no_raw(table, "table")
    assert "\\x1b[2J" in table and "\\u202e" in table
    _no_raw(json_text(results), "json on stdout")
    assert safe_text("\u202eabc") == "\\u202eabc"


def test_json_escaping_of_ascii_text_takes_the_short_way_to_the_same_text():
    from auditor.common.text import _JSON_RAW, json_escape_controls

    for text in ["plain", "", "a\x7fb", "\x7f\x7f", '{"k":"v\x7f"}', "a\x7fb\u202ec\x85", "\u2066x"]:
        expected = _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
        assert json_escape_controls(text) == expected
    assert json_escape_controls("a\x7f") == "a\\u007f"
