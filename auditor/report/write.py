"""Write report files of a results document: one function, every format, atomic writes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any

from auditor.common.jsonio import PRIVATE_MODE, write_text_atomic
from auditor.common.text import replace_controls
from auditor.results.document import read_results_file

REPORT_FORMATS = ("html", "pdf", "json", "junit", "sarif", "csv", "oscal")
EXTENSIONS = {"html": ".html", "pdf": ".pdf", "json": ".results.json", "junit": ".junit.xml", "sarif": ".sarif",
              "csv": ".csv", "oscal": ".oscal.json"}


def write_file_atomic(path: str, data: bytes, mode: int | None = None) -> None:
    """Write bytes so the file is either complete or absent (temp file + rename); ``mode`` by
    default as the umask says (reports are meant to be shared as the user's umask allows)."""
    write_text_atomic(path, data, mode)


def render_report(results: dict[str, Any], fmt: str, results_bytes: bytes | Callable[[], bytes], results_name: str,
                  limits: dict[str, int] | None = None, results_sha256: str | None = None) -> bytes:
    """One report format as bytes (renderers are imported only when asked for).

    ``limits`` maps "html" / "pdf" to the failing subjects listed per control (defaults otherwise).
    ``results_bytes``: the results file's bytes, or a function giving them (called only by the
    formats that embed them: the PDF attaches them, json is them); ``results_sha256`` their
    digest when known (the HTML then never needs the bytes).
    """
    limits = limits or {}

    def data() -> bytes:
        return results_bytes() if callable(results_bytes) else results_bytes

    if fmt == "html":
        from auditor.report.html import render_html

        html = render_html(results, results_bytes=None if results_sha256 else data(), results_name=results_name,
                           subjects_limit=limits.get("html"), results_sha256=results_sha256)
        # Control characters (NUL, ESC...) from evidence text: escaped markup cannot carry them, so
        # they are shown as U+FFFD as a browser would (NUL) instead of reaching a terminal.
        return replace_controls(html).encode("utf-8")
    if fmt == "pdf":
        from auditor.report.pdf import render_pdf

        return render_pdf(results, results_bytes=data(), results_name=results_name,
                          subjects_limit=limits.get("pdf"))
    if fmt == "json":
        return data()
    if fmt == "junit":
        from auditor.report.junit import render_junit

        return render_junit(results).encode("utf-8")
    if fmt == "sarif":
        from auditor.report.sarif import render_sarif

        return render_sarif(results).encode("utf-8")
    if fmt == "csv":
        from auditor.report.csv_report import render_csv

        return render_csv(results).encode("utf-8")
    if fmt == "oscal":
        import json

        from auditor.report.oscal import render_oscal

        return (json.dumps(render_oscal(results), indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    raise ValueError(f"unknown report format {fmt!r}")


def write_reports(results: dict[str, Any], formats: Sequence[str], base: str,
                  results_bytes: bytes | None = None, limits: dict[str, int] | None = None, *,
                  helper: Any = None, results_path: str | None = None, results_sha256: str | None = None,
                  meanwhile: Callable[[], None] | None = None) -> list[str]:
    """Write ``base`` + extension for each format; returns the paths written.

    ``limits``: failing subjects listed per control, by format ("html", "pdf"), as render_report.
    ``results_bytes`` are the bytes of the results file the reports describe (their sha256 is
    printed in the HTML and PDF, and the PDF attaches them); by default the document as auditor
    writes it. A run that streamed its results file to ``results_path`` passes that path and the
    file's ``results_sha256`` instead: the bytes are then read back only where a format embeds
    them (auditor.results.document.read_results_file), and never held beside the results for the HTML.

    ``helper`` (an auditor.speed.prestart.Helper that imported WeasyPrint, with ``results_path``
    the results file): this process builds the PDF's context (a few hundred kilobytes, from the
    results it holds), the helper fills its warm template, attaches the results file and lays it
    out while the other formats are written here; if the helper fails, the PDF is made here.
    ``meanwhile`` is called once the PDF is handed over (or would have been), before the other
    formats: work of the caller that can overlap the layout (it runs even if the handing fails).
    A helper with a ``handover`` (set in a run forked by auditor.speed.handover), in a process
    grown above MAX_FORK_RSS, gets the PDF last, after ``meanwhile`` and the other formats, and
    this process does not wait for it: the job goes to ``handover`` for the process that forked
    the run.
    """
    from auditor.report.terminal import progress

    streamed = results_bytes is None and results_path is not None and results_sha256 is not None
    if streamed:
        sha = results_sha256

        def data() -> bytes:
            return read_results_file(str(results_path), str(sha))
    else:
        if results_bytes is None:
            from auditor.report.context import serialize_results

            results_bytes = serialize_results(results)
        sha = hashlib.sha256(results_bytes).hexdigest()
        kept = results_bytes

        def data() -> bytes:
            return kept

    name = os.path.basename(base) + EXTENSIONS["json"]
    limits = limits or {}
    pdf_path = base + EXTENSIONS["pdf"]
    def hand() -> bool:
        return "pdf" in formats and helper is not None and results_path is not None and \
            _hand_pdf(helper, results, name, limits, str(results_path), str(sha), pdf_path)

    handover = getattr(helper, "handover", None) if "pdf" in formats else None
    if handover is not None:
        from auditor.speed.prestart import small_enough

        if small_enough():  # little to give back: the PDF overlaps the other formats, and is waited for here
            handover = None
    handed = False
    if handover is not None:
        # a forked run that ends at the handover (auditor.speed.handover): everything else first,
        # so it exits, and its memory is returned, before the PDF's layout peaks
        if meanwhile is not None:
            meanwhile()
        formats = [f for f in formats if f != "pdf"] + ["pdf"]
    else:
        try:
            handed = hand()
        finally:
            if meanwhile is not None:
                meanwhile()
    written = []
    for fmt in formats:
        path = base + EXTENSIONS[fmt]
        if fmt == "pdf" and handover is not None:
            handed = hand()
        if fmt == "pdf" and handed:
            written.append(path)
            continue
        if fmt == "json" and os.path.exists(path):
            with open(path, "rb") as fh:
                if fh.read() == data():  # `auditor report x.results.json --format json -o same-dir`
                    written.append(path)
                    continue
        with progress(f"rendering {fmt.upper()}"):  # a results file (json) is private, as the run's own
            write_file_atomic(path, render_report(results, fmt, data, name, limits, sha),
                              PRIVATE_MODE if fmt == "json" else None)
        written.append(path)
    if handed and handover is not None:  # the process that forked this run waits for the PDF
        handover({"pdf": pdf_path, "results": str(results_path), "sha256": sha, "name": name, "limits": limits})
    elif handed:
        from auditor.speed.prestart import HelperFailed

        with progress("rendering PDF"):
            try:
                from auditor.speed.heap import release_free_memory

                release_free_memory()  # this process waits: the helper's layout peaks beside it
                helper.result()
            except HelperFailed:  # the helper could not: the PDF is made here (same result, same errors)
                write_file_atomic(pdf_path, render_report(results, "pdf", data, name, limits, sha))
    return written


def finish_handed_pdf(helper: Any, job: dict[str, Any]) -> None:
    """The PDF a forked run handed over (auditor.speed.handover): the helper's answer awaited;
    if the helper failed, the PDF is made here from the results file the run wrote."""
    from auditor.report.terminal import progress
    from auditor.results.document import load_results, read_results_file
    from auditor.speed.prestart import HelperFailed

    helper.take_over_job()
    with progress("rendering PDF"):
        try:
            helper.result()
        except HelperFailed:
            data = read_results_file(job["results"], job["sha256"])
            results = load_results(job["results"])
            write_file_atomic(job["pdf"], render_report(results, "pdf", lambda: data, job["name"], job["limits"],
                                                        job["sha256"]))


def _hand_pdf(helper: Any, results: dict[str, Any], name: str, limits: dict[str, int], results_path: str,
              sha256: str, pdf_path: str) -> bool:
    """Send the PDF of ``results`` to ``helper``: its context, built here, and the results file it
    attaches (checked against ``sha256`` there); False when the helper cannot take it."""
    if not helper.started:
        return False
    from auditor.report.context import build_context

    context = build_context(results, None, name, pdf=True, subjects_limit=limits.get("pdf"), results_sha256=sha256)
    return bool(helper.submit("auditor.report.pdf.write_pdf_of_context", context, results_path, sha256,
                              bool(results.get("generated_at")), pdf_path))


DIFF_FORMATS = ("html", "pdf")
DIFF_EXTENSIONS = {"html": ".diff.html", "pdf": ".diff.pdf"}


def write_diff_reports(diff: dict[str, Any], formats: Sequence[str], base: str,
                       names: tuple[str, str]) -> list[str]:
    """Write the HTML and/or PDF report of a diff document as ``base`` + ``.diff.html`` / ``.diff.pdf``.

    ``names`` are the two results files compared (printed in the report); the PDF attaches the diff
    JSON, named ``<base>.diff.json``. Returns the paths written.
    """
    from auditor.report.changes_view import serialize_diff
    from auditor.report.terminal import progress

    data = serialize_diff(diff)
    name = os.path.basename(base) + ".diff.json"
    written = []
    for fmt in formats:
        path = base + DIFF_EXTENSIONS[fmt]
        with progress(f"rendering {fmt.upper()}"):
            if fmt == "html":
                from auditor.report.html import render_diff_html

                out = render_diff_html(diff, diff_bytes=data, names=names, diff_name=name).encode("utf-8")
            else:
                from auditor.report.pdf import render_diff_pdf

                out = render_diff_pdf(diff, diff_bytes=data, names=names, diff_name=name)
            write_file_atomic(path, out)
        written.append(path)
    return written
