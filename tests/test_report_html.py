"""The HTML report: self-contained, complete without script, every value inert text."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from report_samples import IMG, SCRIPT, demo_results, hostile_results

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
    assert "Waived" in html and "expires: 2099-01-01" in html
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
