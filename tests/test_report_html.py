"""The HTML report: self-contained, complete without script, every value inert text."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from report_samples import (
    IMG,
    REQ_TITLE,
    SCRIPT,
    WAIVER_REASON,
    baseline_results,
    demo_results,
    full_results,
    hostile_results,
)

from auditor.cli import main
from auditor.report.html import render_html


def test_demo_report_holds_summary_formula_every_control_and_metadata():
    doc = demo_results()
    html = render_html(doc)
    assert "Score <b>28.7</b> / 100" in html and "Coverage <b>100.0</b> %" in html
    assert doc["scoring"]["score"] in html and doc["scoring"]["coverage"] in html
    for control in doc["controls"]:
        assert f'<h4>{control["id"]} ' in html, control["id"]
    for section in doc["packs"][0]["sections"]:
        assert section["title"] in html
    assert doc["evidence"]["sha256"] in html and doc["packs"][0]["sha256"] in html
    assert "<svg" in html and 'id="filters"' in html and 'data-status="fail"' in html
    # the failing controls are ranked by severity: critical ones before the first high one
    failing = html[html.index('id="failing"'):html.index('id="controls"')]
    assert failing.index("5.5") < failing.index("4.1")


def test_self_contained_no_external_reference():
    html = render_html(demo_results())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html)
    assert "@import" not in html and "url(" not in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    assert len(re.findall(r"<script", html)) == 1


def test_hostile_values_render_as_text():
    html = render_html(hostile_results())
    assert SCRIPT not in html and IMG not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=file:///etc/passwd&gt;" in html
    assert "=HYPERLINK(" in html  # shown as text; only spreadsheets evaluate formulas
    assert 'href="javascript' not in html
    body_scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    assert len(body_scripts) == 1 and "alert" not in body_scripts[0]


def test_unknown_status_waivers_frameworks_and_extra_fields_render():
    html = render_html(hostile_results())
    assert "Quarantined" in html and 'class="badge st-other"' in html
    assert "Waived" in html and "until 2099-01-01" in html
    assert "NIST &lt;script&gt;" in html and "ticket" in html
    assert "deploy/shop.yaml:12" in html


def test_report_command_writes_every_format(tmp_path, capsys):
    results = tmp_path / "run.results.json"
    results.write_text(json.dumps(hostile_results(schema_valid=True)))
    out = tmp_path / "out"
    assert main(["report", str(results), "--format", "html,json,junit,sarif,csv,table", "-o", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["run.csv", "run.html", "run.junit.xml", "run.results.json", "run.sarif"]
    assert (out / "run.results.json").read_bytes() == results.read_bytes()
    html = (out / "run.html").read_text()
    import hashlib

    assert hashlib.sha256(results.read_bytes()).hexdigest() in html
    assert "Score" in capsys.readouterr().out


@pytest.mark.parametrize("content,message", [
    ('{"kind": "auditor-results", "schema_version": "0.9"}', "schema_version '0.9' is not supported"),
    ('{"kind": "auditor-results", ', "not valid JSON"),
    ('{"kind": "something-else"}', "not an auditor results document"),
])
def test_report_command_bad_input_is_one_line_exit_2(tmp_path, content, message):
    bad = tmp_path / "bad.results.json"
    bad.write_text(content)
    proc = subprocess.run([sys.executable, "-m", "auditor", "report", str(bad), "--format", "html"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr and str(bad) in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert os.listdir(tmp_path) == ["bad.results.json"]


def test_report_command_unknown_format(tmp_path):
    results = tmp_path / "r.results.json"
    results.write_text(json.dumps(demo_results()))
    assert main(["report", str(results), "--format", "docx"]) == 2


def test_framework_view_lists_requirements_controls_verdicts_and_sources(tmp_path):
    doc = full_results(str(tmp_path))
    html = render_html(doc)
    view = html[html.index('id="frameworks"'):html.index('id="controls"')]
    anchors = {f"{c['pack']}:{c['id']}": f"ctl-{i}" for i, c in enumerate(doc["controls"])}
    for fw in doc["frameworks"]:
        assert fw["title"] in view
        for req in fw["requirements"]:
            assert f'<td class="nowrap">{req["id"]}</td>' in view, req["id"]
            for c in req["controls"]:
                ref = f"{c['pack']}:{c['id']}"
                assert (f'<a href="#{anchors[ref]}"' in view) if ref in anchors else ref in view
    assert "framework score = 100 x requirements passed" in view and "verdict: manual requirement" in view
    assert "A person checks:" in view and "(unverified)" in view and "Not assessed" in view
    assert "Without waivers" in html  # scores with and without waivers side by side


def test_waivers_and_baseline_sections(tmp_path):
    doc = full_results(str(tmp_path))
    html = render_html(doc)
    waivers = html[html.index('id="waivers"'):html.index('id="frameworks"')]
    assert "Applied" in waivers and "Expired" in waivers and "Unused" in waivers
    assert "alice@example.com" in waivers and "NET-1234" in waivers and "2027-12-31" in waivers
    assert f"Score <b>{doc['summary']['score']:.1f}</b> with waivers" in waivers
    assert f"<b>{doc['summary']['score_without_waivers']:.1f}</b> without" in waivers
    # findings carry who, why, ticket and expiry; an expired waiver is shown on its finding
    assert "Waived by alice@example.com, ticket NET-1234, until 2027-12-31" in html
    assert "Expired waiver by bob, until 2024-01-31: old waiver" in html
    changes = html[html.index('id="changes"'):html.index('id="failing"')]
    assert "Changes since baseline" in changes and "Regression" in changes
    diff = doc["baseline"]["diff"]
    assert f"{diff['overall']['score']['delta']:+.1f}" in changes
    assert "Regressed (1)" in changes and "cis-docker-1.6.0:5.5</a>" in changes
    assert "container:demo-privileged" in changes
    assert "baseline" not in html[html.index('id="metadata"'):]  # not dumped again as an unknown field


def test_hostile_requirement_titles_and_waiver_reasons_stay_text(tmp_path):
    html = render_html(full_results(str(tmp_path)))
    assert REQ_TITLE not in html and WAIVER_REASON not in html and SCRIPT not in html and IMG not in html
    assert "Images are &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; scanned" in html
    assert "accepted risk &lt;img src=file:///etc/passwd&gt;" in html
    assert len(re.findall(r"<script", html)) == 1


def test_diff_command_writes_html_and_pdf_reports(tmp_path, capsys):
    from auditor.results.diff import diff_results

    old, new = tmp_path / "old.results.json", tmp_path / "new.results.json"
    old.write_text(json.dumps(baseline_results()))
    new.write_text(json.dumps(demo_results()))
    out = tmp_path / "out"
    assert main(["diff", str(old), str(new), "--format", "html", "-o", str(out)]) == 0
    assert os.listdir(out) == ["new.diff.html"]
    html = (out / "new.diff.html").read_text()
    delta = diff_results(baseline_results(), demo_results())["overall"]["score"]["delta"]
    assert f"{delta:+.1f}" in html and "Regressed (1)" in html and "cis-docker-1.6.0:5.5" in html
    assert "default-src 'none'" in html and "<script" not in html
    assert main(["diff", str(old), str(new), "--format", "docx"]) == 2


def test_subjects_not_checked_are_not_called_failing():
    doc = demo_results()
    control = next(c for c in doc["controls"] if c["subjects"].get("total") and c["status"] == "fail")
    control["status"] = "error"
    control["subjects"] = {**control["subjects"], "error": control["subjects"]["fail"], "fail": 0}
    total, error = control["subjects"]["total"], control["subjects"]["error"]
    html = render_html(doc)
    head = html[html.index(f'<h4>{control["id"]} '):]
    head = head[:head.index("</p>")]
    assert f"{error} not checked (error) of {total} subjects" in head
    assert "failing" not in head
