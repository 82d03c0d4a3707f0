"""WeasyPrint set up for our reports: the fetcher that serves nothing but our fonts, the fonts
loaded once per process, and the layout of one markup into WeasyPrint's document (a whole report,
or one part of it: auditor.report.pdf_split). auditor.report.pdf writes the PDF of a document.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from auditor.report.html import ASSETS
from auditor.speed.native_libs import import_weasyprint

# base_url of the document: relative URLs in print.css (fonts/...) resolve to our assets folder.
ASSETS_URL = "file://" + ASSETS.rstrip("/") + "/"
_MIME = {".ttf": "font/ttf", ".otf": "font/otf", ".woff": "font/woff", ".woff2": "font/woff2", ".css": "text/css"}


def _fetcher_class():  # type: ignore[no-untyped-def]
    import_weasyprint()  # first: its library look-ups without compilers (auditor.speed.native_libs)
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class AssetsOnlyFetcher(URLFetcher):
        """Serves files of our assets folder; refuses every other URL (and records it)."""

        def __init__(self) -> None:
            super().__init__(allowed_protocols=("file",), allow_redirects=False)
            self.refused: list[str] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            from urllib.parse import unquote, urlsplit

            parts = urlsplit(url)
            local = parts.scheme == "file" and parts.netloc in ("", "localhost")
            path = os.path.realpath(unquote(parts.path)) if local else ""
            root = os.path.realpath(ASSETS)
            if not path or os.path.commonpath([path, root]) != root or not os.path.isfile(path):
                self.refused.append(url)
                raise ValueError(f"auditor fetches no external resource: {url[:80]}")
            with open(path, "rb") as fh:
                body = fh.read()
            mime = _MIME.get(os.path.splitext(path)[1].lower(), "application/octet-stream")
            return URLFetcherResponse(url, body=body, headers={"Content-Type": mime})

    return AssetsOnlyFetcher


_FONTS: list[Any] = []  # [FontConfiguration, CSS of fonts.css]: loaded once per process
_FONTS_RELEASED: list[bool] = []


def _fonts() -> tuple[Any, Any]:
    """Our font faces, loaded once per process (a warm helper loads them before its job comes)."""
    if not _FONTS:
        weasyprint = import_weasyprint()
        from weasyprint.text.fonts import FontConfiguration

        from auditor.report.html import read_asset

        config = FontConfiguration()
        if not _FONTS_RELEASED:
            atexit.register(_FONTS.clear)  # freed (its temporary font files removed) before shutdown
            _FONTS_RELEASED.append(True)
        css = weasyprint.CSS(string=read_asset("fonts.css"), base_url=ASSETS_URL, url_fetcher=_fetcher_class()(),
                             font_config=config)
        _FONTS[:] = [config, css]
    return _FONTS[0], _FONTS[1]


@contextlib.contextmanager
def quiet_weasyprint() -> Iterator[None]:
    """WeasyPrint logs refused URLs and unsupported CSS as warnings: kept off the user's terminal."""
    import logging

    logger = logging.getLogger("weasyprint")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def fonts() -> tuple[Any, Any]:
    """This process's font configuration and the CSS of our font faces (loaded once)."""
    return _fonts()


def render_document(markup: str, numbering: Any = None, refused: list[str] | None = None) -> Any:
    """WeasyPrint's laid-out document of our markup (fetching nothing but our fonts).

    ``numbering`` (:func:`numbered_pages`): the pages are numbered from an
    offset, out of a total, as one part of a document laid out in two. ``refused`` receives the
    URLs the markup asked for and did not get."""
    weasyprint = import_weasyprint()
    fetcher = _fetcher_class()()
    font_config, fonts_css = _fonts()
    html = weasyprint.HTML(string=markup, base_url=ASSETS_URL, url_fetcher=fetcher)
    try:
        if numbering is None:
            return html.render(stylesheets=[fonts_css], font_config=font_config)
        with numbered_pages(numbering):
            return html.render(stylesheets=[fonts_css], font_config=font_config)
    finally:
        if refused is not None:
            refused.extend(fetcher.refused)


@contextlib.contextmanager
def numbered_pages(numbering: Callable[[int], tuple[int, int]]) -> Iterator[None]:
    """While a part is laid out: its margin boxes count pages from an offset, out of a total.

    ``numbering(pages_of_this_part)`` is called once, when the part's pages are all known (just
    before WeasyPrint makes the first margin box), and gives (offset, total). WeasyPrint's
    margin boxes read the page-based counters ``page`` and ``pages`` of the page state it passes;
    they get offset + page and total instead."""
    import weasyprint.layout as layout

    original = layout.make_margin_boxes
    known: list[tuple[int, int]] = []

    def make_margin_boxes(context: Any, page: Any, state: Any) -> Any:
        quote_depth, counters, scopes, groups = state
        if not known:
            known.append(numbering(int(counters["pages"][-1])))
        offset, total = known[0]
        counters = {**counters, "page": [int(counters["page"][-1]) + offset], "pages": [total]}
        return original(context, page, (quote_depth, counters, scopes, groups))

    layout.make_margin_boxes = make_margin_boxes
    try:
        yield
    finally:
        layout.make_margin_boxes = original
