"""The PDF report: the HTML report's template and print CSS laid out by WeasyPrint.

PDF/A-3b with the results JSON attached (so the archived PDF carries every finding, while the
printed evidence is capped per control). The URL fetcher fetches nothing but our own font files:
no network, no other local file, whatever a results document contains.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from typing import Any

from auditor.report.html import render_diff_markup, render_report_markup
from auditor.report.pdf_layout import ASSETS_URL, _fetcher_class, quiet_weasyprint, render_document
from auditor.speed.gc_pause import paused_gc
from auditor.speed.native_libs import import_weasyprint

__all__ = ["ASSETS_URL", "render_diff_pdf", "render_pdf", "warm_up", "write_pdf_of_context"]


def warm_up() -> None:
    """Import WeasyPrint, Jinja2 and the report's views, compile the report template, load our
    fonts and lay out a small page, so the first real PDF of this process starts warm
    (auditor.speed.prestart runs it in the helper, during collection: the markup alone costs
    about 0.2 s cold, 0.02 s warm for a Docker host)."""
    from auditor.report.html import read_asset

    import_weasyprint()

    render_report_markup({}, pdf=True)  # imports the views, compiles the template
    # our stylesheet, each font face and a table: their first use costs the first report too
    css = read_asset("report.css") + read_asset("print.css")
    _layout_pdf(f'<html><head><style>{css}</style></head><body class="print"><h2>auditor</h2>'
                '<p><b>auditor</b> <span class="mono">auditor</span></p>'
                '<table class="grid"><tr><td>auditor</td><td class="st st-fail">FAIL</td></tr></table></body></html>',
                b"{}", "warm.json", "warm-up", False, None)


# pydyf deflates every stream (page contents, font subsets, the attachment) at zlib level 9; level
# 3 writes a 65-container host's PDF about 0.1 s sooner for a file a fifth larger.
DEFLATE_LEVEL = 3


class _Deflate:
    """zlib as pydyf sees it while our PDF is written: the same module, our compression level."""

    def __getattr__(self, name: str) -> Any:
        return getattr(zlib, name)

    @staticmethod
    def compressobj(level: int = -1, *args: Any, **kwargs: Any) -> Any:
        return zlib.compressobj(DEFLATE_LEVEL, *args, **kwargs)

    @staticmethod
    def compress(data: bytes, level: int = -1) -> bytes:
        return zlib.compress(data, DEFLATE_LEVEL)


@contextlib.contextmanager
def _deflate_level() -> Iterator[None]:
    """pydyf's streams deflated at DEFLATE_LEVEL for the time of one write (a pydyf without a
    module-level zlib is left as it is)."""
    import pydyf

    previous = getattr(pydyf, "zlib", None)
    if previous is not zlib:
        yield
        return
    pydyf.zlib = _Deflate()  # type: ignore[assignment]
    try:
        yield
    finally:
        pydyf.zlib = previous


def _layout_pdf(markup: str, attachment: bytes, name: str, description: str, dated: bool,
                refused: list[str] | None, split: bool = True) -> bytes:
    """Lay out our markup as PDF/A-3b with ``attachment`` embedded (fetching nothing but our fonts).

    ``split``: the markup is a report's, marked to be cut in two at one chapter
    (auditor.report.pdf_split); with a twin process at hand, each part is laid out on a core."""
    from auditor.report.pdf_split import lay_out_in_two, mark_split
    from auditor.speed.twin import current as current_twin

    weasyprint = import_weasyprint()
    fetcher = _fetcher_class()()
    attached = weasyprint.Attachment(string=attachment, name=name, base_url=ASSETS_URL, url_fetcher=fetcher,
                                     description=description, relationship="Source")
    # WeasyPrint allocates millions of objects: with the cyclic collector paused the layout takes a
    # fifth less time, for about 2 % more peak memory (its cycles are freed when the collector resumes).
    with quiet_weasyprint(), paused_gc(), _deflate_level():
        cut = None
        if split:
            markup, cut = mark_split(markup)  # split or not, the chapter at the cut begins a page
        options = {"pdf_variant": "pdf/a-3b", "attachments": [attached], "uncompressed_pdf": False,
                   "custom_metadata": False, "pdf_identifier": None, **({"srgb": True} if dated else {})}
        twin = current_twin() if cut is not None else None
        pdf = None
        if twin is not None:
            split_refused: list[str] = []
            try:
                document = lay_out_in_two(markup, cut, twin, split_refused)
                pdf = document.write_pdf(**options) if document is not None else None
            except Exception:  # noqa: BLE001 (the twin failed while the writer painted its pages: redone here)
                pdf = None
            finally:
                twin.close()  # its part sent (or given up)
            if pdf is not None and refused is not None:
                refused.extend(split_refused)
        if pdf is None:
            pdf = render_document(markup, None, refused).write_pdf(**options)
    if refused is not None:
        refused.extend(fetcher.refused)
    return pdf


RESULTS_DESCRIPTION = "auditor results document (JSON): every control and finding"


def write_pdf_of_context(context: dict[str, Any], results_path: str, results_sha256: str, dated: bool,
                         out_path: str) -> str:
    """The job a prestarted helper does (auditor.report.write): the PDF of a report context
    (auditor.report.context.build_context, made by the run from its results) laid out with the
    helper's warm template and fonts, attaching the results file ``results_path`` (InputError
    unless its bytes still have ``results_sha256``), written atomically to ``out_path``. The run
    builds the context (a few hundred kilobytes), so this process never holds the results.
    ``dated``: the results have a generation time (the PDF's metadata carry it)."""
    from auditor.common.jsonio import write_text_atomic
    from auditor.report.html import fill_report_template
    from auditor.results.document import read_results_file

    markup = fill_report_template(context, pdf=True)
    data = read_results_file(results_path, results_sha256)
    write_text_atomic(out_path, _layout_pdf(markup, data, str(context["results_name"]), RESULTS_DESCRIPTION,
                                            dated, None))
    return out_path


def render_pdf(results: dict[str, Any], *, results_bytes: bytes | None = None,
               results_name: str = "results.json", refused: list[str] | None = None,
               subjects_limit: int | None = None) -> bytes:
    """The PDF/A-3b report of a results document, with the results JSON attached.

    ``subjects_limit``: failing subjects printed per control (20 by default; all are attached).
    ``refused`` (optional) receives the URLs the document asked for and did not get.
    """
    from auditor.report.context import serialize_results

    data = results_bytes if results_bytes is not None else serialize_results(results)
    markup = render_report_markup(results, pdf=True, results_bytes=data, results_name=results_name,
                                  subjects_limit=subjects_limit)
    return _layout_pdf(markup, data, results_name, RESULTS_DESCRIPTION, bool(results.get("generated_at")), refused)


def render_diff_pdf(diff: dict[str, Any], *, diff_bytes: bytes | None = None,
                    names: tuple[str, str] = ("OLD", "NEW"), diff_name: str = "diff.json",
                    refused: list[str] | None = None) -> bytes:
    """The PDF/A-3b report of a diff document (auditor.results.diff.diff_results), with the diff JSON attached."""
    from auditor.report.changes_view import serialize_diff

    data = diff_bytes if diff_bytes is not None else serialize_diff(diff)
    markup = render_diff_markup(diff, pdf=True, diff_bytes=data, names=names, diff_name=diff_name)
    return _layout_pdf(markup, data, diff_name, "auditor diff document (JSON): every change between two results",
                       bool((diff.get("new") or {}).get("generated_at")), refused, split=False)
