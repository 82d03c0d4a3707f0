"""What the PDF leaves out or prints once to keep pages few and full, and what it never loses."""

from __future__ import annotations

import html
import re

from report_samples import demo_results, full_results

from auditor.report.framework_view import framework_views
from auditor.report.html import render_report_markup


def _text(markup: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)))


def _requirements(doc: dict) -> list[dict]:
    return [r for f in framework_views(doc["frameworks"], {}) for s in f["sections"] for r in s["requirements"]]


def test_a_shared_crosswalk_note_is_printed_once_for_its_controls(tmp_path):
    doc = full_results(str(tmp_path))
    best = None  # the requirement whose shared note saves the most repeats
    for req in _requirements(doc):
        for note in {c["note"] for c in req["controls"] if c["note"]}:
            ids = [c["id"] for c in req["controls"] if c["note"] == note]
            runs = [g for _, groups in req["by_pack"] for g in groups if g["note"] == note]
            if best is None or len(ids) - len(runs) > best[0]:
                best = (len(ids) - len(runs), req, note, ids, runs)
    assert best and best[0] > 0, "no requirement whose mappings share a note"
    _, req, note, ids, runs = best
    assert sorted(i for g in runs for i in g["ids"]) == sorted(ids)  # every control, grouped by pack and verdict
    paragraph = next(p for p in render_report_markup(doc, pdf=True).split('<p class="rq">')[1:]
                     if p.startswith(f"<b>{html.escape(req['id'])} "))
    assert _text(paragraph).count(note) == len(runs)


def test_a_not_evaluated_reason_is_left_out_only_when_its_controls_are_listed(tmp_path):
    doc = full_results(str(tmp_path))
    reqs = [r for r in _requirements(doc) if r["reason"].startswith("not evaluated: ")]
    assert reqs and all(r["reason_listed"] for r in reqs)
    markup = render_report_markup(doc, pdf=True)
    assert "not evaluated: " not in _text(markup.split('id="frameworks"')[1].split('id="controls"')[0])
    assert "not evaluated: " in _text(render_report_markup(doc, pdf=False))  # the HTML keeps it
    # a reason naming a control the requirement does not list stays in print
    req = next(r for f in doc["frameworks"] for r in f["requirements"]
               if r.get("reason", "").startswith("not evaluated"))
    req["reason"] += ", cis-docker-1.6.0:no-such-control"
    again = [r for r in _requirements(doc) if r["id"] == req["id"]]
    assert not any(r["reason_listed"] for r in again)
    assert "cis-docker-1.6.0:no-such-control" in _text(render_report_markup(doc, pdf=True))


def test_print_details_keep_what_to_check_see_and_do_and_leave_the_rationale_to_the_html():
    doc = demo_results()
    failing = next(c for c in doc["controls"] if c["status"] == "fail" and c.get("rationale") and c.get("remediation"))
    manual = next(c for c in doc["controls"] if c["status"] == "manual" and c.get("audit"))
    printed, screen = render_report_markup(doc, pdf=True), render_report_markup(doc, pdf=False)
    printed_text = _text(printed)
    assert _text(html.escape(failing["remediation"])) in printed_text
    assert _text(html.escape(failing["expected"])) in printed_text
    assert "class=\"tx tx-rationale\"" not in printed and _text(html.escape(failing["rationale"])) in _text(screen)
    assert _text(html.escape(manual["audit"])) in printed_text
    assert "needs a person: see the audit text" not in printed_text  # the audit text is printed instead
    assert "needs a person: see the audit text" in _text(screen)
