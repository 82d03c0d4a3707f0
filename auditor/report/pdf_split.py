"""The PDF report laid out in two parts on two cores, then written as one document.

WeasyPrint lays out a document on one core, at about 50 to 80 ms of CPU per report page, and
that layout is most of the default run's wall time. The PDF helper (auditor.speed.prestart)
has a warm twin (auditor.speed.twin); the report's markup is cut at one chapter, the helper lays
out the first part (cover, contents, the chapters before the cut) while the twin lays out the
rest; the twin sends what the PDF writer reads of its pages (sizes, bookmarks, links, anchors:
:func:`page_facts`) and then its pages drawn, and the helper writes all pages as one PDF/A-3b
with one outline, one set of links and the attachment, as WeasyPrint writes any document. The
laid-out pages themselves cross over (pickled: plain Python objects once WeasyPrint has laid
them out, the font configuration excepted, which each process has its own copy of) only when
the writer must paint them itself.

What the cut must keep, and how:

* the page numbers (``Page N of M``): the margin boxes are laid out after all pages of a part
  are known (WeasyPrint makes them last); at that point the two processes tell each other their
  page counts, and each part's margin boxes are made with its page offset and the total
  (auditor.report.pdf_layout.numbered_pages);
* the contents' page numbers: the first part lays the contents out with placeholder numbers
  (their page count is what matters there); once both parts are laid out, the contents are laid
  out again on their own with the real numbers (from the pages' anchors) and take the
  placeholder's pages. If that changed their page count, the split is abandoned;
* the running header and footer strings (document title, report id, chapter): the second part
  and the contents carry invisible copies of the cover's string-setting elements;
* the drawing, split too: the twin paints its pages into content streams of their own
  (:func:`draw_pages`) while the helper's writer paints the first part's; the writer takes the
  twin's streams, with their glyphs and opacity states added to its own fonts and resources, or
  asks for the laid-out pages and paints them itself when they need more (images, patterns, a
  font it has not met);
* the same pages whether split or not: the chapter at the cut always begins a new page (the
  ``split`` class, set by :func:`mark_split` on the markup both ways are given), so a PDF made
  by one process (no twin, or the twin failed) has the same pages, numbers and contents.

Anything unexpected (the twin fails or falls silent, a page does not pickle, a count does not
match), before or while the PDF is written, abandons the split and the helper lays out the whole
marked markup itself.
"""

from __future__ import annotations

import html
import io
import marshal
import pickle
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_BLOCK = re.compile(r'<section id="([^"<>]+)" class="block">')
_TOC_LINK = re.compile(r'<a href="#([^"<>]+)">')
_DOC_TITLE = re.compile(r'<p class="doc-title">.*?</p>', re.S)
_REPORT_ID = re.compile(r'<span class="report-id">.*?</span>')
_BODY = '<body class="print">'
_TAG = re.compile(r"<[^>]*>")

# The cut is made where the two parts' layout costs are closest to equal, and only where the smaller
# part has at least this share of the cost (a small second part is not worth a process).
MIN_SHARE = 0.2

# A part's layout cost, estimated from its markup: an element costs WeasyPrint about as much as
# 35 characters of text (fitted on the chapters of a Docker host's and the demo's reports, each
# laid out alone: 0.18 ms per element, 5 us per character, within 15 %).
TAG_COST = 35

# CSS of the parts laid out alone: contents' page numbers written in, not looked up.
_NUMBERS_CSS = "<style>.toc a::after { content: attr(data-page); }</style>"

# Placeholder page number in the first part's contents: the widest two-digit number.
_PLACEHOLDER = "88"


def mark_split(markup: str) -> tuple[str, int | None]:
    """The PDF markup with the chapter where it is best cut in two marked to begin a page
    (class ``split``), and where that chapter's ``<section>`` begins; (markup, None) when it
    has no such chapter (one chapter, no contents, a diff report)."""
    body = markup.find(_BODY)
    main = markup.find("<main>", body)
    end = markup.rfind("</main>")
    if body < 0 or main < 0 or end < main or '<nav class="toc">' not in markup[body:main]:
        return markup, None
    chapters = list(_BLOCK.finditer(markup, main, end))[1:]  # never before the summary's end
    cost = [0]  # cost[i]: of the markup from the body's start to chapter i
    at = body
    for chapter in chapters:
        cost.append(cost[-1] + _cost(markup, at, chapter.start()))
        at = chapter.start()
    total = cost[-1] + _cost(markup, at, end)
    best: tuple[int, re.Match[str]] | None = None
    for chapter, first in zip(chapters, cost[1:], strict=True):
        second = total - first
        if min(first, second) < MIN_SHARE * total:
            continue
        gap = abs(first - second)
        if best is None or gap < best[0]:
            best = (gap, chapter)
    if best is None:
        return markup, None
    chapter = best[1]
    marked = f'<section id="{chapter.group(1)}" class="block split">'
    return markup[:chapter.start()] + marked + markup[chapter.end():], chapter.start()


def _cost(markup: str, start: int, end: int) -> int:
    tags = markup.count("<", start, end)
    markup_chars = end - start
    tag_chars = sum(len(m.group(0)) for m in _TAG.finditer(markup, start, end))
    return TAG_COST * tags + markup_chars - tag_chars


@dataclass
class Parts:
    first: str  # cover, contents with placeholder numbers, the chapters before the cut
    second: str  # the chapters from the cut on
    head: str  # the document up to and with its <body> tag, with the numbers' CSS
    strings: str  # invisible copies of the elements that set the running strings
    contents: str  # the contents' <nav> element as the markup has it


def split_parts(markup: str, cut: int) -> Parts:
    """The two parts of marked markup (:func:`mark_split`) cut at ``cut``."""
    body = markup.index(_BODY) + len(_BODY)
    head = markup[:body].replace("</head>", _NUMBERS_CSS + "</head>", 1)
    if head == markup[:body]:
        raise ValueError("the markup has no </head>")
    toc_start = markup.index('<nav class="toc">', body)
    toc_end = markup.index("</nav>", toc_start) + len("</nav>")
    title, report_id = _DOC_TITLE.search(markup, body), _REPORT_ID.search(markup, body)
    strings = '<div class="strings-only">' + (title.group(0) if title else "") + \
        (report_id.group(0) if report_id else "") + "</div>"
    contents = markup[toc_start:toc_end]
    placeholder = _TOC_LINK.sub(lambda m: f'<a href="#{m.group(1)}" data-page="{_PLACEHOLDER}">', contents)
    first = head + markup[body:toc_start] + placeholder + markup[toc_end:cut] + "</main></body></html>"
    # the strings right after the chapter's heading: before it, they would fill a page of their own
    # (the heading begins a page)
    heading = markup.index("</h2>", cut) + len("</h2>")
    second = head + "<main>" + markup[cut:heading] + strings + markup[heading:]
    return Parts(first, second, head, strings, contents)


def contents_markup(parts: Parts, page_of: dict[str, int]) -> str:
    """The contents alone, each link's page number written in from ``page_of`` (anchor -> page)."""
    def numbered(m: re.Match[str]) -> str:  # the markup's href is escaped, the anchors' names are not
        return f'<a href="#{m.group(1)}" data-page="{page_of.get(html.unescape(m.group(1)), "")}">'

    return parts.head + parts.strings + _TOC_LINK.sub(numbered, parts.contents) + "</body></html>"


def _anchors(pages: list[Any], first_page: int) -> dict[str, int]:
    """Anchor name -> number of the page where it begins (an element broken across pages has its
    anchor on each of them)."""
    found: dict[str, int] = {}
    for i, page in enumerate(pages):
        for name in page.anchors:
            found.setdefault(name, first_page + i)
    return found


class _PagePickler(pickle.Pickler):
    """Laid-out pages as bytes: the font configuration (native objects) is left for the receiver's own."""

    def persistent_id(self, obj: Any) -> Any:
        return "font_config" if type(obj).__name__ == "FontConfiguration" else None


class _PageUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, font_config: Any) -> None:
        super().__init__(io.BytesIO(data))
        self.font_config = font_config

    def persistent_load(self, pid: Any) -> Any:
        if pid != "font_config":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return self.font_config


# pickle recurses once per nesting level of a page's boxes (and of their styles); the pages are
# pickled and unpickled in a thread with a stack that deep nesting cannot overflow (virtual
# memory: only the pages the recursion touches are used).
_STACK_BYTES = 256 << 20
_RECURSION_LIMIT = 100_000


def _deep(work: Callable[[], Any]) -> Any:
    """``work()`` in a thread with a deep stack; its exception is raised here."""
    import threading

    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # noqa: BLE001 (raised again in the caller's thread)
            outcome.append((False, exc))

    previous_stack, previous_limit = threading.stack_size(_STACK_BYTES), sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(max(previous_limit, _RECURSION_LIMIT))
        thread = threading.Thread(target=run, name="auditor-pdf-pages")
        thread.start()
        thread.join()
    finally:
        threading.stack_size(previous_stack)
        sys.setrecursionlimit(previous_limit)
    ok, value = outcome[0] if outcome else (False, RuntimeError("the pages' thread ended without a result"))
    if not ok:
        raise value
    return value


def pages_to_bytes(pages: list[Any]) -> bytes:
    """Laid-out pages (WeasyPrint's Page objects) as bytes for :func:`pages_from_bytes`."""
    def dump() -> bytes:
        buffer = io.BytesIO()
        _PagePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(pages)
        return buffer.getvalue()

    return _deep(dump)  # type: ignore[no-any-return]


def pages_from_bytes(data: bytes, font_config: Any) -> list[Any]:
    """The pages of :func:`pages_to_bytes`, drawn with this process's ``font_config``."""
    return _deep(lambda: _PageUnpickler(data, font_config).load())  # type: ignore[no-any-return]


# WeasyPrint's PDF writer: 72 PDF points per 96 CSS pixels, at zoom 1
_SCALE = 0.75


def draw_pages(pages: list[Any]) -> tuple[list[list[bytes]], dict[int, Any], dict[str, Any]] | None:
    """Laid-out pages painted as WeasyPrint's PDF writer paints them, each into a content stream
    of its own: (each page's drawing operators, the fonts they use (key -> name, glyph widths,
    glyphs' text), the opacity states they name). None when a page needs anything the writer
    must place itself (an image, a pattern, a shading, a group, a glyph missing from its font):
    the helper then paints these pages itself."""
    import pydyf
    from weasyprint.pdf.stream import Stream

    fonts: dict[Any, Any] = {}
    resources = pydyf.Dictionary({"ExtGState": pydyf.Dictionary(), "XObject": pydyf.Dictionary(),
                                  "Pattern": pydyf.Dictionary(), "Shading": pydyf.Dictionary(), "ColorSpace": None})
    images: dict[Any, Any] = {}
    drawn = []
    for page in pages:
        left, top = -_SCALE * page.bleed["left"], -_SCALE * page.bleed["top"]
        width = _SCALE * (page.width + page.bleed["left"] + page.bleed["right"])
        height = _SCALE * (page.height + page.bleed["top"] + page.bleed["bottom"])
        stream = Stream(fonts, (left / _SCALE, top / _SCALE, width / _SCALE, height / _SCALE), resources, images,
                        None, {}, None, compress=True)
        stream.transform(d=-1, f=(page.height * _SCALE))
        start = len(stream.stream)
        page.paint(stream, _SCALE)
        operators = stream.stream[start:]
        if not all(type(op) is bytes for op in operators):
            return None
        drawn.append(operators)
    if images or resources["XObject"] or resources["Pattern"] or resources["Shading"]:
        return None
    if any(font.missing or font.used_in_forms for font in fonts.values()):
        return None
    used = {int(key): (str(font.hash), dict(font.widths), dict(font.to_unicode)) for key, font in fonts.items()}
    states = {str(name): {str(k): v for k, v in state.items()} for name, state in resources["ExtGState"].items()}
    return drawn, used, states


def _merge_drawn(stream: Any, used: dict[int, Any], states: dict[str, Any]) -> bool:
    """The fonts and opacity states of pages drawn by the twin added to the writer's (``stream``:
    the writer's stream of the first such page); False, adding nothing, when a font is one the
    writer has not met (it cannot embed it without loading it) or their glyphs disagree."""
    import pydyf

    fonts = stream._fonts  # noqa: SLF001 (the writer's fonts, shared by every page's stream)
    known = stream._resources["ExtGState"]  # noqa: SLF001
    # a state's name is the writer's count of states for some kinds (blend modes): same name, other state
    if any(name in known and dict(known[name]) != state for name, state in states.items()):
        return False
    for key, (name, widths, texts) in used.items():
        font = fonts.get(key)
        if font is None or font.hash != name:
            return False
        if any(font.widths.get(g, w) != w for g, w in widths.items()) or \
                any(font.to_unicode.get(g, t) != t for g, t in texts.items()):
            return False
    for key, (_name, widths, texts) in used.items():
        fonts[key].widths.update(widths)
        fonts[key].to_unicode.update(texts)
    for name, state in states.items():
        if name not in known:
            known[name] = pydyf.Dictionary(state)
    return True


def page_facts(pages: list[Any]) -> list[Any] | None:
    """What WeasyPrint's PDF writer reads of a laid-out page besides painting it (size, bleed,
    bookmarks, links, anchors), as plain data; None when a page holds what only its boxes can
    give the writer (a form field, an attachment link)."""
    facts = []
    for page in pages:
        if any(page.forms.values()) or any(link[0] == "attachment" for link in page.links):
            return None
        facts.append((float(page.width), float(page.height), {k: float(v) for k, v in page.bleed.items()},
                      [(int(level), str(label), tuple(map(float, point)), str(state))
                       for level, label, point, state in page.bookmarks],
                      [(str(kind), str(target), tuple(map(float, rectangle)))
                       for kind, target, rectangle, _ in page.links],
                      {str(name): tuple(map(float, point)) for name, point in page.anchors.items()}))
    return facts


class _LinkBox:
    """Where the writer keeps a link's annotation (it sets ``link_annotation`` on the link's box)."""

    link_annotation: Any = None


class _DrawnPage:
    """A page of the second part as the writer sees it: its facts (:func:`page_facts`), painted from
    the twin's drawing, or, when that cannot be used, from the laid-out page the twin then sends."""

    def __init__(self, facts: Any, index: int, source: _SecondPart) -> None:
        self.width, self.height, self.bleed, bookmarks, links, self.anchors = facts
        self.bookmarks = [(level, label, point, state) for level, label, point, state in bookmarks]
        self.links = [(kind, target, rectangle, _LinkBox()) for kind, target, rectangle in links]
        self.forms: dict[Any, list[Any]] = {None: []}
        self.index, self.source = index, source

    def paint(self, stream: Any, scale: float = 1) -> None:
        self.source.paint(self.index, stream, scale)


class _SecondPart:
    """The twin's pages for the writer: the drawing is fetched at the first of them (the writer has
    painted the first part's pages meanwhile); if it is missing or cannot be merged, the laid-out
    pages are asked for and painted here. The twin is stopped once it is of no more use."""

    def __init__(self, channel: Any, twin: Any, count: int) -> None:
        self.channel, self.twin, self.count = channel, twin, count
        self.drawn: list[list[bytes]] | None = None
        self.pages: list[Any] | None = None

    def _prepare(self, stream: Any, scale: float) -> None:
        from auditor.report.pdf_layout import fonts

        try:
            answer = marshal.loads(self.channel.recv())
            if answer is not None and scale == _SCALE and len(answer[0]) == self.count and \
                    _merge_drawn(stream, answer[1], answer[2]):
                self.drawn = answer[0]
                return
            self.channel.send(b"pages")
            pages = pages_from_bytes(self.channel.recv(), fonts()[0])
            if len(pages) != self.count:
                raise ValueError("the second part sent another number of pages")
            self.pages = pages
        finally:
            self.twin.close()

    def paint(self, index: int, stream: Any, scale: float) -> None:
        if self.drawn is None and self.pages is None:
            self._prepare(stream, scale)  # raises when the twin failed: the writer's error, the caller redoes it
        if self.drawn is not None:
            stream.stream.extend(self.drawn[index])
        else:
            assert self.pages is not None
            self.pages[index].paint(stream, scale)


def lay_out_second(channel: Any, markup: str) -> None:
    """The twin's job: lay out the second part, numbered after the first (whose page count the
    helper sends when both know theirs), then send its anchors, its pages' facts
    (:func:`page_facts`) and its pages drawn (:func:`draw_pages`), which the helper's writer puts
    in the PDF while it draws its own; the laid-out pages themselves only if the helper asks."""
    from auditor.report.pdf_layout import quiet_weasyprint, render_document
    from auditor.speed.gc_pause import paused_gc

    def numbering(pages: int) -> tuple[int, int]:
        channel.send(marshal.dumps(pages))
        offset, total = marshal.loads(channel.recv())
        return int(offset), int(total)

    refused: list[str] = []
    with quiet_weasyprint(), paused_gc():
        document = render_document(markup, numbering, refused)
        channel.send(marshal.dumps((_anchors(document.pages, 1), refused)))
        facts = page_facts(document.pages)
        channel.send(marshal.dumps(facts))
        if facts is None:  # the helper needs the pages themselves
            channel.send(pages_to_bytes(document.pages))
            return
        channel.send(marshal.dumps(draw_pages(document.pages)))
        if channel.recv(timeout=3600.0) == b"pages":  # the drawing could not be used
            channel.send(pages_to_bytes(document.pages))


def lay_out_in_two(markup: str, cut: int, twin: Any, refused: list[str] | None = None) -> Any | None:
    """The document of marked markup laid out by this process and ``twin`` (a started
    auditor.speed.twin.Twin), or None when the split could not be done (the caller lays out the
    markup itself). ``refused`` receives the URLs either part asked for and did not get."""
    from auditor.report.pdf_layout import fonts, render_document

    parts = split_parts(markup, cut)
    channel = twin.start("auditor.report.pdf_split.lay_out_second", parts.second)
    if channel is None:
        return None
    try:
        counts: dict[str, int] = {}

        def numbering(pages: int) -> tuple[int, int]:
            second = int(marshal.loads(channel.recv()))
            counts.update(first=pages, second=second)
            channel.send(marshal.dumps((pages, pages + second)))
            return 0, pages + second

        first = render_document(parts.first, numbering, refused)
        if not counts:
            raise ValueError("the first part made no margin boxes")
        total = counts["first"] + counts["second"]
        page_of = _anchors(first.pages, 1)
        second_anchors, second_refused = marshal.loads(channel.recv())
        page_of.update({name: counts["first"] + page for name, page in second_anchors.items()})
        if refused is not None:
            refused.extend(second_refused)
        summary = page_of.get("summary")
        if summary is None or summary < 3:
            raise ValueError("the contents are not followed by the summary")
        named = [page._page_box.page_type.name for page in first.pages[:summary - 1]]
        if named[0] != "cover" or named.count("cover") != 1:
            raise ValueError("the cover is not one page")  # the contents are numbered from page 2
        contents = render_document(contents_markup(parts, page_of), lambda pages: (1, total), refused)
        if len(contents.pages) != summary - 2:
            raise ValueError("the contents took another number of pages with their numbers")
        facts = marshal.loads(channel.recv())
        if facts is None:  # pages the writer must have whole
            second_pages = pages_from_bytes(channel.recv(), fonts()[0])
            twin.close()
        else:  # the twin draws them while this process's writer draws the first part's
            part = _SecondPart(channel, twin, len(facts))
            second_pages = [_DrawnPage(f, i, part) for i, f in enumerate(facts)]
        if len(second_pages) != counts["second"]:
            raise ValueError("the second part sent another number of pages")
    except Exception:  # noqa: BLE001 (the twin failed, or WeasyPrint internals other than expected)
        twin.close()
        return None
    return first.copy(first.pages[:1] + contents.pages + first.pages[summary - 1:] + second_pages)
