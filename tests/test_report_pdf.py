"""The PDF report checked as a person would: text read back, pages rendered, attachment found."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from report_samples import IMG, SCRIPT, WAIVER_REASON, baseline_results, demo_results, full_results, hostile_results

pytestmark = pytest.mark.slow

POPPLER = all(shutil.which(t) for t in ("pdftotext", "pdftoppm", "pdfdetach", "pdfinfo"))
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils is not installed (.ci/run installs it)")


def run(*args: str, cwd: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True, timeout=180,
                          cwd=cwd, env=env)


@pytest.fixture(scope="module")
def demo_pdf(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdf")
    results = folder / "demo.results.json"
    results.write_text(json.dumps(demo_results(), indent=1))
    # a limit below the demo's largest control, so the PDF must say what it leaves out
    proc = run("report", str(results), "--format", "pdf", "--pdf-subjects", "1")
    assert proc.returncode == 0, proc.stderr
    return folder / "demo.pdf", results


@needs_poppler
def test_cover_score_sections_and_page_numbers(demo_pdf):
    pdf, _ = demo_pdf
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")
    assert "COMPLIANCE AUDIT REPORT" in pages[0].upper() and "demo-docker-host" in pages[0]
    assert re.search(r"Score\s+28\.7\s+/ 100", pages[0]) and re.search(r"Coverage\s+100\.0", pages[0])
    assert "Contents" in pages[1]
    for chapter in ("Failing controls", "Control details", "Metadata"):  # the contents' page numbers are right
        listed = re.search(chapter + r" +(\d+)\n", pages[1])
        assert listed, chapter
        assert chapter in [line.strip() for line in pages[int(listed.group(1)) - 1].splitlines()], chapter
    total = int(subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                               check=True).stdout.split("Pages:")[1].split()[0])
    assert f"Page 2 of {total}" in pages[1] and f"Page {total} of {total}" in pages[total - 1]
    assert "Report R-" in pages[1]
    doc = demo_results()
    for section in doc["packs"][0]["sections"]:
        assert f"{section['id']} {section['title']}" in text, section["title"]
    failing = [c for c in doc["controls"] if c["status"] == "fail"]
    for control in failing:
        assert re.search(rf"{re.escape(control['id'])} .*{re.escape(control['title'][:20])}", text), control["id"]
    flat = " ".join(text.split())
    truncated = 0
    for control in doc["controls"]:
        problems = sum(1 for f in control["findings"] if f["status"] in ("fail", "error"))
        if problems > 1:  # counted from the results file: the PDF's numbers must be these
            truncated += 1
            assert (f"and {problems - 1} more failing subjects: see the attached results file demo.results.json "
                    f"(it lists all {problems})") in flat, control["id"]
    assert truncated and flat.count("more failing subjects: see the attached") == truncated


@needs_poppler
def test_pages_render_and_attachment_is_the_results_file(demo_pdf, tmp_path):
    pdf, results = demo_pdf
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "3", str(pdf), str(tmp_path / "page")], check=True)
    pngs = sorted(p for p in os.listdir(tmp_path) if p.endswith(".png"))
    assert len(pngs) == 3 and all((tmp_path / p).stat().st_size > 2000 for p in pngs)
    listing = subprocess.run(["pdfdetach", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "1 embedded files" in listing and "demo.results.json" in listing
    subprocess.run(["pdfdetach", "-save", "1", "-o", str(tmp_path / "attached.json"), str(pdf)], check=True)
    assert (tmp_path / "attached.json").read_bytes() == results.read_bytes()


@needs_poppler
def test_pdfa_identification_and_document_metadata(demo_pdf):
    pdf, _ = demo_pdf
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Title:" in info and "Compliance report: Docker" in info
    assert "Subject:" in info and "CIS Docker Benchmark 1.6.0" in info
    assert "Keywords:" in info and "cis-docker-1.6.0" in info
    meta = subprocess.run(["pdfinfo", "-meta", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"pdfaid:part[>=\"']+3", meta) and re.search(r"pdfaid:conformance[>=\"']+B", meta)
    # bookmarks: the outline lists chapters, packs, sections and controls
    xml = subprocess.run(["pdftohtml", "-xml", "-stdout", "-i", "-q", "-f", "1", "-l", "1", str(pdf)],
                         capture_output=True, text=True, check=True).stdout
    outline = re.findall(r'<item page="\d+">([^<]+)</item>', xml)
    assert outline[:4] == ["Summary", "Failing controls", "Control table", "Control details"]
    assert "5 Container Runtime" in outline and any(i.startswith("5.5 ") for i in outline)


@needs_poppler
def test_hostile_values_are_text_and_nothing_is_fetched(tmp_path):
    from auditor.report.pdf import render_pdf

    refused: list[str] = []
    data = render_pdf(hostile_results(), refused=refused)
    assert refused == []  # nothing asked for: markup never became elements
    pdf = tmp_path / "hostile.pdf"
    pdf.write_bytes(data)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", "", text)
    assert re.sub(r"\s+", "", SCRIPT) in flat and re.sub(r"\s+", "", IMG) in flat
    assert "Quarantined" in text and "WAIVED" in text.upper()


def test_fetcher_refuses_everything_but_our_assets():
    from auditor.report.pdf import ASSETS_URL, _fetcher_class

    fetcher = _fetcher_class()()
    for url in ("file:///etc/passwd", "http://127.0.0.1:1/x.css", ASSETS_URL + "../html.py",
                ASSETS_URL + "fonts/../../pdf.py", "data:text/plain,hi"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert len(fetcher.refused) == 5
    response = fetcher.fetch(ASSETS_URL + "fonts/DejaVuSans.ttf")
    assert response.read(4) == b"\x00\x01\x00\x00"


def test_audit_writes_results_html_and_pdf_by_default_and_no_pdf_skips_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "AUDITOR_NO_PDF"}
    proc = run("audit", "--demo", "-o", str(tmp_path / "a"), env=env)
    assert proc.returncode == 0, proc.stderr
    names = sorted(os.listdir(tmp_path / "a"))
    assert [n.split(".", 1)[1] for n in names] == ["html", "pdf", "results.json"]
    assert len({n.split(".", 1)[0] for n in names}) == 1
    proc = run("audit", "--demo", "--no-pdf", "-o", str(tmp_path / "b"), env=env)
    assert proc.returncode == 0 and not any(n.endswith(".pdf") for n in os.listdir(tmp_path / "b"))


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@needs_poppler
def test_frameworks_waivers_and_changes_in_the_pdf(tmp_path):
    from auditor.report.pdf import render_pdf

    doc = full_results(str(tmp_path))
    refused: list[str] = []
    pdf = tmp_path / "full.pdf"
    pdf.write_bytes(render_pdf(doc, refused=refused))
    assert refused == []
    text = pdf_text(pdf)
    flat = re.sub(r"\s+", " ", text)
    for fw in doc["frameworks"]:
        assert fw["title"] in flat, fw["id"]
        for req in fw["requirements"]:
            assert re.search(rf"(^|\n)\s*{re.escape(req['id'])}\s", text), req["id"]
    assert "A person checks:" in flat and "unverified" in flat and "NOT ASSESSED" in flat
    assert "Changes since baseline" in flat and "Regressed" in flat and "cis-docker-1.6.0:5.5" in flat
    assert f"{doc['baseline']['diff']['overall']['score']['delta']:+.1f}" in flat
    assert "Expired" in flat and "Unused" in flat and "NET-1234" in flat and "alice@example.com" in flat
    assert re.sub(r"\s+", "", WAIVER_REASON) in re.sub(r"\s+", "", text)  # markup printed as text
    xml = subprocess.run(["pdftohtml", "-xml", "-stdout", "-i", "-q", "-f", "1", "-l", "1", str(pdf)],
                         capture_output=True, text=True, check=True).stdout
    outline = re.findall(r'<item page="\d+">([^<]+)</item>', xml)
    assert outline[:5] == ["Summary", "Changes since baseline", "Failing controls", "Waivers", "Frameworks"]
    for fw in doc["frameworks"]:  # a bookmark per framework
        assert any(item.startswith(fw["title"].replace("&", "&amp;")[:30]) for item in outline), fw["title"]


@needs_poppler
def test_diff_command_pdf_holds_the_deltas_and_attaches_the_diff(tmp_path):
    from auditor.results.diff import diff_results

    old, new = tmp_path / "old.results.json", tmp_path / "new.results.json"
    old.write_text(json.dumps(baseline_results()))
    new.write_text(json.dumps(demo_results()))
    proc = run("diff", str(old), str(new), "--format", "pdf,html")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["new.diff.html", "new.diff.pdf", "new.results.json", "old.results.json"]
    flat = re.sub(r"\s+", " ", pdf_text(tmp_path / "new.diff.pdf"))
    diff = diff_results(baseline_results(), demo_results())
    assert f"{diff['overall']['score']['delta']:+.1f}" in flat and "35.2 → 28.7" in flat
    assert "Regressed" in flat and "cis-docker-1.6.0:5.5" in flat and "container:demo-privileged" in flat
    listing = subprocess.run(["pdfdetach", "-list", str(tmp_path / "new.diff.pdf")], capture_output=True, text=True,
                             check=True).stdout
    assert "new.diff.json" in listing
