"""Scan results in waivers, reports and diffs: single-vulnerability waivers, the per-image
vulnerability table (HTML, terminal) with hostile text kept inert, vulnerabilities fixed and
introduced between two runs."""

from __future__ import annotations

import copy
import datetime as dt
import os
from typing import Any

import pytest

from auditor import api
from auditor.collect.scans import read_scan_file
from auditor.common.errors import InputError
from auditor.judging.waivers import load_waivers
from auditor.report.html import render_html
from auditor.report.terminal import render_table
from auditor.results.diff import diff_results

REFERENCE = "/work/shared/reference/scans"
pytestmark = pytest.mark.skipif(not os.path.isdir(REFERENCE), reason="reference scans not present")
TAG = "ghcr.io/aquasecurity/trivy-test-images:debian-buster"


def _evidence(scan: dict[str, Any] | None = None) -> dict[str, Any]:
    scan = scan or read_scan_file(os.path.join(REFERENCE, "trivy-debian-buster.json"))[0]
    scan["scanned_at"] = "2026-06-29T12:00:00Z"
    container = {"subject": {"type": "container", "name": "web", "id": "c1"},
                 "inspect": {"Image": scan["artifact"]["image_id"], "Config": {"Image": TAG},
                             "State": {"Running": True}}}
    return {"kind": "auditor-evidence", "schema_version": 1,
            "metadata": {"host": "h", "collected_at": "2026-06-30T12:00:00Z", "complete": True, "sources": [],
                         "errors": [], "target_errors": {}},
            "targets": {"docker.container": [container], "docker.image": [], "scan.result": [scan]}}


def _waivers(tmp_path: Any, expires: str) -> str:
    path = tmp_path / "waivers.yaml"
    path.write_text(f"""waivers:
  - vulnerability: CVE-2019-18224
    subject: {{image: "ghcr.io/aquasecurity/*"}}
    reason: libidn2 is never called with untrusted input here
    owner: sec@example.com
    expires: {expires}
""", encoding="utf-8")
    return str(path)


def _control(results: dict[str, Any], pack: str, cid: str) -> dict[str, Any]:
    return next(c for c in results["controls"] if c["pack"] == pack and c["id"] == cid)


def test_a_waived_vulnerability_leaves_the_window_and_is_shown(tmp_path: Any) -> None:
    judging = api.Judging(packs=["vulnerability-scans"], controls=["2.1"])
    assert _control(api.evaluate(_evidence(), judging), "vulnerability-scans", "2.1")["status"] == "fail"
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    results = api.evaluate(_evidence(), api.Judging(packs=["vulnerability-scans"], controls=["2.1"],
                                                    waivers=_waivers(tmp_path, future)))
    assert _control(results, "vulnerability-scans", "2.1")["status"] == "pass"
    image = results["vulnerabilities"]["images"][0]
    assert [w["id"] for w in image["waived"]] == ["CVE-2019-18224"]
    assert image["waived"][0]["waiver"]["reason"].startswith("libidn2")
    applied = results["waivers"]["applied"]
    assert applied and applied[0]["vulnerability"] == "CVE-2019-18224" and applied[0]["vulnerabilities"] == 1
    html = render_html(results)
    assert "waived: CVE-2019-18224" in html and "libidn2 is never called" in html


def test_an_expired_vulnerability_waiver_waives_nothing(tmp_path: Any) -> None:
    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    results = api.evaluate(_evidence(), api.Judging(packs=["vulnerability-scans"], controls=["2.1"],
                                                    waivers=_waivers(tmp_path, past)))
    assert _control(results, "vulnerability-scans", "2.1")["status"] == "fail"
    assert results["waivers"]["expired"][0]["vulnerability"] == "CVE-2019-18224"
    assert "waived" not in results["vulnerabilities"]["images"][0]


def test_a_waiver_names_a_control_or_a_vulnerability_not_both(tmp_path: Any) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("waivers:\n  - {control: '4.4', vulnerability: CVE-1, reason: r, owner: o, "
                    "expires: 2030-01-01}\n", encoding="utf-8")
    with pytest.raises(InputError, match="w.yaml"):
        load_waivers(str(path))


def test_reports_show_counts_and_worst_findings_with_markup_inert() -> None:
    scan = read_scan_file(os.path.join(REFERENCE, "trivy-debian-buster.json"))[0]
    scan["worst_fixable"][0]["package"] = "<script>alert('pkg')</script>"
    scan["worst_fixable"][0]["link"] = "javascript:alert(1)"
    scan["worst_fixable"][0]["id"] = "<img src=x onerror=alert(2)>"
    results = api.evaluate(_evidence(scan), api.Judging(packs=["vulnerability-scans"]))
    html = render_html(results)
    assert 'id="vulnerabilities"' in html
    assert "<script>alert('pkg')" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert 'href="javascript:' not in html
    table = render_table(results)
    assert "Vulnerabilities: 1 of 1 images in use scanned; 1 critical (1 fixable)" in table
    assert TAG in table


def test_the_vulnerability_table_is_bounded() -> None:
    evidence = _evidence()
    base = evidence["targets"]["docker.container"][0]
    evidence["targets"]["docker.container"] = [
        {**copy.deepcopy(base), "inspect": {**base["inspect"], "Image": f"sha256:{i:064x}",
                                            "Config": {"Image": f"app{i}:1"}}} for i in range(400)]
    results = api.evaluate(evidence, api.Judging(packs=["vulnerability-scans"]))
    assert len(results["vulnerabilities"]["images"]) == 400
    html = render_html(results)
    assert "100 more images are in the results file" in html
    assert "... and 390 more images" in render_table(results)


def test_diff_lists_vulnerabilities_fixed_and_introduced() -> None:
    judging = api.Judging(packs=["vulnerability-scans"])
    old = api.evaluate(_evidence(), judging)
    scan = read_scan_file(os.path.join(REFERENCE, "trivy-debian-buster.json"))[0]
    scan["vulnerability_keys"] = [k for k in scan["vulnerability_keys"] if not k.startswith("CVE-2019-18224")] + \
        ["CVE-2026-0001 openssl"]
    new = api.evaluate(_evidence(scan), judging)
    changes = diff_results(old, new)["vulnerabilities"]
    assert changes["fixed"] == [{"image": TAG, "vulnerability": "CVE-2019-18224 libidn2-0"}]
    assert changes["introduced"] == [{"image": TAG, "vulnerability": "CVE-2026-0001 openssl"}]
    assert diff_results(old, old)["vulnerabilities"]["fixed_total"] == 0


def test_diff_table_prints_vulnerability_changes() -> None:
    from auditor.report.diff_table import render_diff_table

    judging = api.Judging(packs=["vulnerability-scans"])
    old = api.evaluate(_evidence(), judging)
    scan = read_scan_file(os.path.join(REFERENCE, "trivy-debian-buster.json"))[0]
    scan["vulnerability_keys"] = [*scan["vulnerability_keys"], "CVE-2026-0002 zlib"]
    text = render_diff_table(diff_results(old, api.evaluate(_evidence(scan), judging)))
    assert "Vulnerabilities: 0 fixed, 1 introduced" in text and "CVE-2026-0002 zlib" in text


@pytest.mark.slow
def test_pdf_shows_the_vulnerability_chapter(tmp_path: Any) -> None:
    import subprocess

    outcome = api.judge_and_write(_evidence(), api.Judging(packs=["vulnerability-scans"]),
                                  api.Outputs(output_dir=str(tmp_path), pdf=True), "scans")
    pdf = next(p for p in outcome.written.reports if p.endswith(".pdf"))
    text = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True, check=True).stdout
    assert "1 of 1 images in use have a matched scan" in text and "CVE-2019-18224" in text
