"""The PDF laid out in two processes (auditor/report/pdf_split.py, auditor/speed/twin.py): the
same document as one process lays out, page for page, and one process's layout whenever the
twin cannot help."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time

import pytest
from report_samples import baseline_results, demo_results, hostile_results

from auditor.report import pdf, pdf_split
from auditor.report.html import read_asset, render_report_markup
from auditor.speed import twin as twin_module
from auditor.speed.second_core import usable_cpus
from auditor.speed.twin import Channel, TwinFailed

pytestmark = pytest.mark.slow
needs_fork = pytest.mark.skipif(not hasattr(os, "fork") or usable_cpus() < 2, reason="needs fork and 2 CPUs")
needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils (.ci/run installs it)")


@pytest.fixture
def twin():
    """A twin of this test process, forked warm (fonts loaded), stopped afterwards."""
    pdf.warm_up()
    made = twin_module.fork_twin()
    assert made is not None and made.started
    yield made
    twin_module.close_twin()


def report_markup(doc: dict) -> str:
    return render_report_markup(doc, pdf=True, results_bytes=b"{}", results_name="r.results.json")


def page_texts(document) -> list[str]:
    """The text of each laid-out page, margin boxes (header, footer, page numbers) included."""
    return [" ".join(box.text for box in page._page_box.descendants() if hasattr(box, "text") and box.text)
            for page in document.pages]


def bookmarks(tree) -> list:
    return [(b[0], b[1], b[2]) for b in tree] + [x for b in tree for x in bookmarks(b[2])] if tree else []


def test_the_cut_is_a_chapter_after_the_summary_marked_to_begin_a_page():
    markup = report_markup(demo_results())
    marked, cut = pdf_split.mark_split(markup)
    assert cut is not None
    opening = marked[cut:marked.index(">", cut) + 1]
    assert re.fullmatch(r'<section id="[^"]+" class="block split">', opening)
    assert not opening.startswith('<section id="summary"')
    assert marked.replace(' class="block split"', ' class="block"') == markup  # nothing else changed
    parts = pdf_split.split_parts(marked, cut)
    assert '<nav class="toc">' in parts.first and '<nav class="toc">' not in parts.second
    assert parts.second.count('<p class="doc-title">') == 1 and 'class="report-id"' in parts.second
    # the cut balances the estimated layout cost: neither part below MIN_SHARE of the whole
    body = markup.index('<body class="print">')
    end = markup.rindex("</main>")
    first, second = pdf_split._cost(marked, body, cut), pdf_split._cost(marked, cut, end)
    assert min(first, second) >= pdf_split.MIN_SHARE * (first + second)


def test_no_cut_without_contents_or_without_a_second_chapter():
    assert pdf_split.mark_split("<html><body class=\"print\"><main><p>x</p></main></body></html>")[1] is None
    one = ('<html><head></head><body class="print"><nav class="toc"></nav><main>'
           '<section id="summary" class="block"><h2 class="chapter">S</h2>' + "<p>x</p>" * 50 +
           '</section><section id="metadata" class="block"><h2 class="chapter">M</h2><p>y</p></section>'
           '</main></body></html>')
    assert pdf_split.mark_split(one)[1] is None  # the only later chapter is too small to be worth a process


@needs_fork
@pytest.mark.parametrize("sample", ["demo", "hostile", "baseline"])
def test_two_processes_lay_out_the_document_one_process_lays_out(sample, twin):
    doc = {"demo": demo_results, "hostile": hostile_results, "baseline": baseline_results}[sample]()
    marked, cut = pdf_split.mark_split(report_markup(doc))
    assert cut is not None
    one = pdf.render_document(marked)
    two = pdf_split.lay_out_in_two(marked, cut, twin)
    assert two is not None, "the split fell back to one process"
    assert len(two.pages) == len(one.pages) > 5
    assert bookmarks(two.make_bookmark_tree()) == bookmarks(one.make_bookmark_tree())
    assert [[(link[0], link[1], link[2]) for link in p.links] for p in two.pages] == \
        [[(link[0], link[1], link[2]) for link in p.links] for p in one.pages]
    assert [p.anchors for p in two.pages] == [p.anchors for p in one.pages]
    assert [(p.width, p.height, p.bleed) for p in two.pages] == [(p.width, p.height, p.bleed) for p in one.pages]
    if shutil.which("pdftotext"):  # every page's text, header and footer included
        texts = [subprocess.run(["pdftotext", "-layout", "-", "-"], input=d.write_pdf(), capture_output=True,
                                check=True).stdout for d in (two, one)]
        assert texts[0] == texts[1]
    assert twin_module.current() is None  # the twin had its one job


@needs_fork
@needs_poppler
def test_the_split_pdf_numbers_its_pages_and_contents(twin, tmp_path):
    data = pdf._layout_pdf(report_markup(demo_results()), b"{}", "r.results.json", "results", False, None)
    assert twin_module.current() is None, "the PDF was not laid out in two"
    (tmp_path / "r.pdf").write_bytes(data)
    pages = subprocess.run(["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")[:-1]
    total = len(pages)
    for number, page in enumerate(pages[1:], start=2):
        assert f"Page {number} of {total}" in page, number
        assert "Report R-" in page and "Compliance report" in page  # running header and footer strings
    listed = dict((title, int(n)) for title, n in re.findall(r"^ *(\S.*?) {3,}(\d+)$", pages[1], re.M))
    for chapter in ("Summary", "Failing controls", "Control table", "Control details", "Metadata"):
        assert chapter in [line.strip() for line in pages[listed[chapter] - 1].splitlines()], chapter


def pdf_pixels(data: bytes, folder) -> list[bytes]:
    """Each page of a PDF rendered at 40 dpi (PNG bytes)."""
    path = folder / "doc.pdf"
    path.write_bytes(data)
    for old in folder.glob("px-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(folder / "px")], check=True)
    return [p.read_bytes() for p in sorted(folder.glob("px-*.png"))]


def serial_pdf(markup: str) -> bytes:
    twin_module.close_twin()  # no twin: one process lays out and paints every page
    return pdf._layout_pdf(markup, b"{}", "r.json", "results", True, None)


@needs_fork
@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils (.ci/run installs it)")
@pytest.mark.parametrize("refuse", [False, True])
def test_pages_the_twin_draws_look_as_those_the_writer_draws(refuse, twin, monkeypatch, tmp_path):
    merged: list[bool] = []
    merge = pdf_split._merge_drawn

    def recorded(*args):
        merged.append(False if refuse else merge(*args))  # refuse: as if a font were one the writer never met
        return merged[-1]

    monkeypatch.setattr(pdf_split, "_merge_drawn", recorded)
    markup = report_markup(demo_results())
    split = pdf._layout_pdf(markup, b"{}", "r.json", "results", True, None)
    assert merged == [not refuse], "the twin's drawing was not offered once"
    one = serial_pdf(markup)
    assert pdf_pixels(split, tmp_path) == pdf_pixels(one, tmp_path)
    texts = [subprocess.run(["pdftotext", "-layout", "-", "-"], input=d, capture_output=True, check=True).stdout
             for d in (split, one)]
    assert texts[0] == texts[1]


@needs_fork
@pytest.mark.parametrize("how", ["no drawing", "pages whole", "twin dies"])
def test_a_twin_that_cannot_draw_its_pages_leaves_them_to_the_writer(how, monkeypatch):
    if how == "no drawing":  # as for an image or a missing glyph: the pages are asked for
        monkeypatch.setattr(pdf_split, "draw_pages", lambda pages: None)
    elif how == "pages whole":  # as for a form field or an attachment link: the pages are sent at once
        monkeypatch.setattr(pdf_split, "page_facts", lambda pages: None)
    else:  # the twin ends while the writer waits for its drawing: the PDF is laid out again in one process
        monkeypatch.setattr(pdf_split, "draw_pages", lambda pages: os._exit(3))
    pdf.warm_up()
    twin_module.fork_twin()
    try:
        markup = report_markup(demo_results())
        split = pdf._layout_pdf(markup, b"{}", "r.json", "results", True, None)
    finally:
        twin_module.close_twin()
    one = serial_pdf(markup)
    texts = [subprocess.run(["pdftotext", "-layout", "-", "-"], input=d, capture_output=True, check=True).stdout
             for d in (split, one)] if shutil.which("pdftotext") else [len(split) > 10000, True]
    assert texts[0] == texts[1]


def test_drawing_refuses_pages_that_need_more_than_fonts_and_opacity():
    image = ('<html><body><p>text</p><svg xmlns="http://www.w3.org/2000/svg" width="20" height="20">'
             '<linearGradient id="g"><stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue"/>'
             '</linearGradient><rect width="20" height="20" fill="url(#g)"/></svg></body></html>')
    assert pdf_split.draw_pages(pdf.render_document(image).pages) is None
    plain = pdf_split.draw_pages(pdf.render_document("<p style='color: rgba(0, 0, 0, .5)'>text</p>").pages)
    assert plain is not None
    operators, fonts, states = plain
    assert len(operators) == 1 and any(b"TJ" in op for op in operators[0])
    assert fonts and all(widths and texts for _name, widths, texts in fonts.values())
    assert any(state.get("ca") == 0.5 for state in states.values())  # the half-transparent text colour


@needs_fork
def test_a_twin_that_fails_leaves_the_layout_to_one_process(twin, monkeypatch):
    marked, cut = pdf_split.mark_split(report_markup(demo_results()))
    twin.close()  # dead before its job: it cannot take one
    assert pdf_split.lay_out_in_two(marked, cut, twin) is None


@needs_fork
def test_a_twin_whose_job_raises_leaves_the_layout_to_one_process(monkeypatch):
    def broken(channel, markup):
        raise RuntimeError("the twin's part failed")

    monkeypatch.setattr(pdf_split, "lay_out_second", broken)  # the twin, forked after, has it too
    pdf.warm_up()
    made = twin_module.fork_twin()
    try:
        marked, cut = pdf_split.mark_split(report_markup(demo_results()))
        assert pdf_split.lay_out_in_two(marked, cut, made) is None
        # and the report's PDF is still made, by this process alone
        data = pdf._layout_pdf(report_markup(demo_results()), b"{}", "r.json", "results", False, None)
        assert data.startswith(b"%PDF-")
    finally:
        twin_module.close_twin()


@needs_fork
def test_a_silent_twin_is_given_up(monkeypatch):
    def silent(channel, markup):
        time.sleep(30)

    monkeypatch.setattr(pdf_split, "lay_out_second", silent)
    monkeypatch.setattr(twin_module, "TIMEOUT", 1.0)
    pdf.warm_up()
    made = twin_module.fork_twin()
    try:
        marked, cut = pdf_split.mark_split(report_markup(demo_results()))
        started = time.monotonic()
        assert pdf_split.lay_out_in_two(marked, cut, made) is None
        assert time.monotonic() - started < 20
    finally:
        twin_module.close_twin()


@needs_fork
def test_urls_refused_in_the_second_part_are_reported(twin):
    chapters = "".join(f'<section id="c{i}" class="block"><h2 class="chapter">C{i}</h2>' + "<p>text</p>" * 40 +
                       "</section>" for i in range(4))
    css = read_asset("report.css") + read_asset("print.css")
    markup = (f'<html><head><style>{css}</style></head><body class="print"><section class="cover">'
              '<p class="doc-title">T</p><span class="report-id">R-1</span></section><nav class="toc"><ol>'
              '<li><a href="#c0">C0</a></li><li><a href="#c3">C3</a></li></ol></nav><main>'
              '<section id="summary" class="block"><h2 class="chapter">S</h2><p>s</p></section>' + chapters +
              '<img src="file:///etc/hostname"></main></body></html>')
    marked, cut = pdf_split.mark_split(markup)
    assert cut is not None and cut < marked.index("<img")
    refused: list[str] = []
    assert pdf_split.lay_out_in_two(marked, cut, twin, refused) is not None
    assert refused == ["file:///etc/hostname"]


def test_numbered_pages_count_from_an_offset_out_of_a_total():
    markup = ('<html><head><style>@page { size: A6; @bottom-right { content: "Page " counter(page) " of " '
              'counter(pages) } } p { break-after: page }</style></head><body><p>a</p><p>b</p></body></html>')
    seen: list[int] = []

    def numbering(pages: int) -> tuple[int, int]:
        seen.append(pages)
        return 10, 40

    document = pdf.render_document(markup, numbering)
    assert seen == [2]
    assert [t.split(" Page ")[-1] for t in page_texts(document)] == ["11 of 40", "12 of 40"]
    assert page_texts(pdf.render_document(markup))[1].endswith("Page 2 of 2")  # and only while asked


def test_a_channel_carries_large_frames_and_reports_an_ended_or_silent_side():
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    near, far = Channel(up_r, down_w), Channel(down_r, up_w)
    big = os.urandom(3 << 20)
    sender = threading.Thread(target=far.send, args=(big,))
    sender.start()
    assert near.recv(timeout=10) == big
    sender.join()
    with pytest.raises(TwinFailed, match="no answer"):
        near.recv(timeout=0.2)
    far.close()
    with pytest.raises(TwinFailed, match="stopped"):
        near.recv(timeout=5)
    with pytest.raises(TwinFailed):
        near.send(b"x")  # its reader is gone
    near.close()


@needs_fork
def test_a_cover_of_more_than_one_page_leaves_the_layout_to_one_process(twin):
    markup = report_markup(demo_results()).replace('<p class="cover-note">', "<p>" + "long host name " * 3000 +
                                                   '</p><p class="cover-note">', 1)
    marked, cut = pdf_split.mark_split(markup)
    assert cut is not None
    assert pdf_split.lay_out_in_two(marked, cut, twin) is None  # the contents are numbered from page 2


def test_an_opacity_state_named_like_the_writers_but_other_is_refused():
    class Font:
        hash, widths, to_unicode = "ABCDEF", {3: 500}, {3: "a"}

    class Stream:
        _fonts = {7: Font()}
        _resources = {"ExtGState": {"s0": {"BM": "/Multiply"}}}

    assert not pdf_split._merge_drawn(Stream(), {7: ("ABCDEF", {3: 500}, {3: "a"})}, {"s0": {"BM": "/Screen"}})
    assert not pdf_split._merge_drawn(Stream(), {7: ("ABCDEF", {3: 510}, {})}, {})  # another width of a glyph
    assert not pdf_split._merge_drawn(Stream(), {8: ("ABCDEF", {}, {})}, {})  # a font the writer has not met
    assert pdf_split._merge_drawn(Stream(), {7: ("ABCDEF", {4: 600}, {4: "b"})}, {"a0.5": {"ca": 0.5}})


@needs_fork
def test_a_forked_server_ends_with_the_process_that_forked_it():
    """A helper killed while its twin is busy (not reading its pipe) takes the twin with it."""
    import signal

    from auditor.speed.second_core import fork_server

    def busy(read_fd: int, write_fd: int) -> int:
        time.sleep(60)  # laying out: deaf to its pipes
        return 0

    def middle(read_fd: int, write_fd: int) -> int:  # the helper: forks a busy twin, says its pid, waits
        forked = fork_server(busy)
        os.write(write_fd, str(forked[0] if forked else 0).encode())
        time.sleep(60)
        return 0

    pid, read_fd, write_fd = fork_server(middle)
    try:
        twin_pid = int(os.read(read_fd, 64) or b"0")
        assert twin_pid > 0
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{twin_pid}/stat") as fh:
                    if fh.read().rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
                        break  # ended (init reaps it)
            except FileNotFoundError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the busy twin outlived its killed helper")
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_the_template_cache_cannot_fail_a_report(monkeypatch):
    import jinja2

    from auditor.report import html

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "dump_bytecode", full)
    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "load_bytecode", full)
    html._bytecode_cache.cache_clear()
    html.report_environment.cache_clear()
    try:
        assert "Contents" in report_markup(demo_results())
    finally:
        html._bytecode_cache.cache_clear()
        html.report_environment.cache_clear()
