"""Write report files of a results document: one function, every format, atomic writes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from auditor.evidence import write_text_atomic

REPORT_FORMATS = ("html", "pdf", "json", "junit", "sarif", "csv", "oscal")
EXTENSIONS = {"html": ".html", "pdf": ".pdf", "json": ".results.json", "junit": ".junit.xml", "sarif": ".sarif",
              "csv": ".csv", "oscal": ".oscal.json"}


def write_file_atomic(path: str, data: bytes) -> None:
    """Write bytes so the file is either complete or absent (temp file + rename), mode 0644."""
    write_text_atomic(path, data)


def render_report(results: dict[str, Any], fmt: str, results_bytes: bytes, results_name: str) -> bytes:
    """One report format as bytes (renderers are imported only when asked for)."""
    if fmt == "html":
        from auditor.report.html import render_html

        return render_html(results, results_bytes=results_bytes, results_name=results_name).encode("utf-8")
    if fmt == "pdf":
        from auditor.report.pdf import render_pdf

        return render_pdf(results, results_bytes=results_bytes, results_name=results_name)
    if fmt == "json":
        return results_bytes
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
                  results_bytes: bytes | None = None) -> list[str]:
    """Write ``base`` + extension for each format; returns the paths written.

    ``results_bytes`` are the bytes of the results file the reports describe (their sha256 is
    printed in the HTML and PDF, and the PDF attaches them); by default the document as auditor
    writes it.
    """
    from auditor.report.context import serialize_results
    from auditor.report.terminal import progress

    data = results_bytes if results_bytes is not None else serialize_results(results)
    name = os.path.basename(base) + EXTENSIONS["json"]
    written = []
    for fmt in formats:
        path = base + EXTENSIONS[fmt]
        if fmt == "json" and os.path.exists(path):
            with open(path, "rb") as fh:
                if fh.read() == data:  # `auditor report x.results.json --format json -o same-dir`
                    written.append(path)
                    continue
        with progress(f"rendering {fmt.upper()}"):
            write_file_atomic(path, render_report(results, fmt, data, name))
        written.append(path)
    return written
