"""Reports of a large run: what they leave out is said, counted as the results file counts it,
and no PDF page is a wall of subject names."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from collections import Counter

import pytest
from report_samples import large_run

from auditor.report.subjects_view import HTML_SUBJECTS, NAMESPACES_SHOWN, PDF_SUBJECTS
from auditor.results.document import load_results

pytestmark = pytest.mark.slow

POPPLER = all(shutil.which(t) for t in ("pdftotext", "pdftoppm"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    paths = large_run(str(tmp_path_factory.mktemp("large")))
    return paths, load_results(paths["results"])


def _problems(control: dict) -> list[dict]:
    return [f for f in control["findings"] if f["status"] in ("fail", "error")]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _expected_tail(doc: dict, limit: int, attached: bool, name: str) -> tuple[list[str], int]:
    """The "and N more" sentences a report must hold, one per control with more problems than ``limit``."""
    sentences = []
    for control in doc["controls"]:
        problems = len(_problems(control))
        if problems > limit:
            where = "attached results file" if attached else "results file"
            sentences.append(f"and {problems - limit:,} more failing subjects: see the {where} {name} "
                             f"(it lists all {problems:,})")
    return sentences, len(sentences)


def _namespace_lines(doc: dict) -> list[str]:
    """The per-namespace count line of every truncated control that spans namespaces, from the results file."""
    lines = []
    for control in doc["controls"]:
        problems = _problems(control)
        by_ns = Counter(f["subject"].get("namespace") for f in problems if f["subject"].get("namespace"))
        if len(by_ns) > 1 and len(problems) > PDF_SUBJECTS:
            ranked = sorted(by_ns.items(), key=lambda kv: (-kv[1], kv[0]))
            shown = ", ".join(f"{ns} {n:,}" for ns, n in ranked[:NAMESPACES_SHOWN])
            rest = ranked[NAMESPACES_SHOWN:]
            if rest:
                shown += f", and {sum(n for _, n in rest):,} in {len(rest):,} other namespaces"
            lines.append(f"Failing subjects by namespace: {shown}.")
    return lines


def test_the_run_is_large_enough_to_truncate(run):
    _paths, doc = run
    worst = max(len(_problems(c)) for c in doc["controls"])
    assert worst > 4 * HTML_SUBJECTS  # hundreds of failing subjects in one control
    assert sum(1 for c in doc["controls"] if len(_problems(c)) > HTML_SUBJECTS) >= 5


def test_html_says_what_it_leaves_out_with_the_results_file_counts(run):
    paths, doc = run
    with open(paths["html"], encoding="utf-8") as fh:
        text = _flat(html.unescape(re.sub(r"<[^>]+>", " ", fh.read())))
    name = os.path.basename(paths["results"])
    sentences, truncated = _expected_tail(doc, HTML_SUBJECTS, False, name)
    assert truncated
    for sentence in sentences:
        assert sentence in text
    assert text.count("more failing subjects: see the results file") == truncated
    for control in doc["controls"]:  # the counts line of every control is the results file's
        fail, error, total = (control["subjects"][k] for k in ("fail", "error", "total"))
        if total:  # an error is a subject not checked, never counted as failing
            said = (f"{fail} failing and {error} not checked (error) of" if fail and error
                    else f"{error} not checked (error) of" if error else f"{fail} failing of")
            assert f"{said} {total} subjects" in text, control["id"]


@pytest.mark.skipif(not POPPLER, reason="poppler-utils is not installed (.ci/run installs it)")
def test_pdf_says_what_it_leaves_out_with_the_results_file_counts(run):
    paths, doc = run
    text = subprocess.run(["pdftotext", paths["pdf"], "-"], capture_output=True, text=True, check=True).stdout
    flat = _flat(text)
    name = os.path.basename(paths["results"])
    sentences, truncated = _expected_tail(doc, PDF_SUBJECTS, True, name)
    assert truncated
    for sentence in sentences:
        assert sentence in flat
    assert flat.count("more failing subjects: see the attached results file") == truncated
    lines = _namespace_lines(doc)
    assert lines
    for line in lines:
        assert line in flat


@pytest.mark.skipif(not POPPLER, reason="poppler-utils is not installed (.ci/run installs it)")
def test_no_pdf_page_is_a_wall_of_subject_names(run, tmp_path):
    paths, _doc = run
    text = subprocess.run(["pdftotext", "-layout", paths["pdf"], "-"], capture_output=True, text=True,
                          check=True).stdout
    pages = [p for p in text.split("\f") if p.strip()]
    listing = re.compile(r"team-\d\d/(app|\S+-\d)")  # a line naming subjects of the generated cluster
    for number, page in enumerate(pages, 1):
        lines = [line for line in page.splitlines() if line.strip()]
        marks = [bool(listing.search(line)) for line in lines]
        run_length = longest = 0
        for mark in marks:
            run_length = run_length + 1 if mark else 0
            longest = max(longest, run_length)
        # a control's failing subjects are a few lines of running text under its heading and texts
        assert longest <= 8, f"page {number}: {longest} lines of subject names in a row"
        assert sum(marks) <= 0.5 * len(lines), f"page {number}: {sum(marks)} of {len(lines)} lines name subjects"
    # and the pages render (a person looks at them as PNG too)
    subprocess.run(["pdftoppm", "-r", "30", "-png", "-f", "1", "-l", str(len(pages)), paths["pdf"],
                    str(tmp_path / "page")], check=True)
    pngs = sorted(tmp_path.glob("page*.png"))
    assert len(pngs) == len(pages) and all(p.stat().st_size > 1500 for p in pngs)
