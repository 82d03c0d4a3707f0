"""The PDF's list of failing subjects: what every listed subject says alike is printed once."""

from __future__ import annotations

import copy
import html
import re

from report_samples import demo_results

from auditor.report.context import build_context
from auditor.report.html import render_report_markup


def _control(doc: dict, cid: str) -> dict:
    return next(c for c in doc["controls"] if c["id"] == cid and c["status"] == "fail")


def _article(markup: str, title_start: str) -> str:
    """The text of the PDF article whose heading starts with ``title_start``."""
    for part in markup.split("<article")[1:]:
        head = re.search(r"<h4[^>]*>(.*?)</h4>", part, re.S)
        if head and html.unescape(head.group(1)).startswith(title_start):
            return html.unescape(re.sub(r"<[^>]+>", " ", part.split("</article>")[0]))
    raise AssertionError(f"no article {title_start!r}")


def _same_findings(doc: dict, cid: str) -> dict:
    """``doc`` with control ``cid``'s failing findings alike but for their subjects' names."""
    doc = copy.deepcopy(doc)
    control = _control(doc, cid)
    fails = [f for f in control["findings"] if f["status"] == "fail"]
    assert len(fails) >= 2
    for f in fails[1:]:
        for key in ("expected", "observed", "where", "message"):
            if key in fails[0]:
                f[key] = fails[0][key]
            else:
                f.pop(key, None)
        f["subject"] = dict(fails[0]["subject"], name=f["subject"]["name"])
    return doc


def test_an_image_every_listed_container_shares_is_printed_once():
    doc = _same_findings(demo_results(), "4.1")
    view = next(c for c in build_context(doc, pdf=True)["controls"] if c["id"] == "4.1" and c["status"] == "fail")
    assert ("image", "auditor-test/busybox:latest") in view["shared"]["extras"]
    assert all(row["own_extras"] == [] for row in view["findings"])
    assert view["runs"], "names alone on the lines: one running list"
    text = _article(render_report_markup(doc, pdf=True), "4.1 ")
    assert text.count("image: auditor-test/busybox:latest") == 1
    assert "Each listed subject:" in text
    names = [f["subject"]["name"] for f in _control(doc, "4.1")["findings"] if f["status"] == "fail"]
    assert all(name in text for name in names)


def test_an_image_that_differs_stays_on_each_line_and_the_html_keeps_every_field():
    doc = _same_findings(demo_results(), "4.1")
    fails = [f for f in _control(doc, "4.1")["findings"] if f["status"] == "fail"]
    fails[1]["subject"]["image"] = "registry.example/other:2"
    view = next(c for c in build_context(doc, pdf=True)["controls"] if c["id"] == "4.1" and c["status"] == "fail")
    assert "image" not in dict(view["shared"].get("extras", ()))
    assert not view["runs"]
    text = _article(render_report_markup(doc, pdf=True), "4.1 ")
    assert "image: auditor-test/busybox:latest" in text and "image: registry.example/other:2" in text
    page = render_report_markup(doc, pdf=False)
    assert page.count("auditor-test/busybox:latest") >= 2  # the HTML's table: each finding its own row


def test_pdf_streams_deflated_at_our_level_and_pydyf_left_as_it_was():
    import zlib

    import pydyf

    from auditor.report import pdf

    out = pdf._layout_pdf("<p>auditor " + "x " * 2000 + "</p>", b'{"a": 1}' * 500, "r.json", "d", False, None)
    assert pydyf.zlib is zlib
    streams = re.findall(rb"/FlateDecode.*?>>\s*stream\n(.*?)\nendstream", out, re.S)
    assert streams
    for raw in streams:
        assert zlib.compress(zlib.decompress(raw), pdf.DEFLATE_LEVEL) == raw


def test_pdf_control_list_says_every_control_and_its_verdict():
    """The print control table (one line per control): each control of the results once, with its
    verdict and failing / total, or within a folded run of not applicable controls."""
    from auditor.report.formatting import status_label

    doc = demo_results()
    markup = render_report_markup(doc, pdf=True)
    part = markup[markup.index('<div class="ct-list"'):]
    part = part[:part.index("</div>")]
    lines = [html.unescape(re.sub(r"<[^>]+>", "", p)) for p in re.findall(r'<p class="cr[^"]*">(.*?)</p>', part, re.S)]
    folded = " ".join(line for line in lines if "controls with nothing to judge" in line)
    for c in doc["controls"]:
        label = status_label(c["status"]).replace("Not applicable", "N/A")
        counts = c.get("subjects") or {}
        total, bad = counts.get("total", 0), counts.get("fail", 0) + counts.get("error", 0)
        mine = [line for line in lines if line.startswith(f"{label} {c['id']} {c['title']} ·")]
        if mine:
            assert len(mine) == 1 and mine[0].endswith(f"· {bad} / {total}"), mine
        else:
            assert c["status"] == "not_applicable" and re.search(rf"(^|[ ,]){re.escape(c['id'])}(,|\s|$)", folded), c["id"]
