"""Hostile scan files end to end: markup in every text field a scanner writes stays inert in the
HTML report, and memory stays bounded (a file of many tiny values is refused before decoding; a
large real-shaped report is read in a few times its size)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from auditor import api
from auditor.collect.scans import MAX_CONTAINERS, collect_scans
from auditor.report.html import render_html

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "sha256:" + "ab" * 32
MARKUP = "<script>alert('x')</script><img src=x onerror=alert(1)>"


def _trivy(vulns: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"SchemaVersion": 2, "CreatedAt": "2026-06-29T12:00:00Z", "ArtifactName": f"app:1{MARKUP}",
            "ArtifactType": "container_image", "Metadata": {"ImageID": IMAGE, "RepoTags": ["app:1"],
                                                            "OS": {"Family": MARKUP, "Name": MARKUP}},
            "Results": [{"Target": MARKUP, "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": vulns}], **extra}


def _vuln(i: int, text: str = MARKUP, url: str = "javascript:alert(3)") -> dict[str, Any]:
    return {"VulnerabilityID": f"CVE-2024-{i:05d}{text}", "PkgName": f"pkg{i % 50}{text}", "InstalledVersion": text,
            "FixedVersion": f"1.1{text}", "Severity": "CRITICAL" if i % 2 else "HIGH", "Title": text,
            "Description": f"{text} " * 20, "PrimaryURL": url, "PublishedDate": "2020-01-01T00:00:00Z",
            "References": [url]}


def test_markup_in_a_scan_file_is_inert_in_the_html_report(tmp_path: Any) -> None:
    path = tmp_path / "scan.json"
    path.write_text(json.dumps(_trivy([_vuln(i) for i in range(6)])), encoding="utf-8")
    scans = collect_scans([str(path)])
    assert not scans.errors
    container = {"subject": {"type": "container", "name": "web", "id": "c1"},
                 "inspect": {"Image": IMAGE, "Config": {"Image": "app:1"}, "State": {"Running": True}}}
    evidence = {"kind": "auditor-evidence", "schema_version": 1,
                "metadata": {"host": "h", "collected_at": "2026-06-30T12:00:00Z", "complete": True, "sources": [],
                             "errors": [], "target_errors": {}},
                "targets": {"docker.container": [container], "docker.image": [], **scans.targets}}
    results = api.evaluate(evidence, api.Judging(packs=["vulnerability-scans"]))
    worst = results["vulnerabilities"]["images"][0]["worst_fixable"]
    assert worst and MARKUP in worst[0]["package"]  # kept as data, as the scanner wrote it
    html = render_html(results)
    assert 'id="vulnerabilities"' in html and "CVE-2024-00001" in html
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html
    assert 'href="javascript:' not in html  # a link only when it is http(s)


def _peak_mb(path: str) -> tuple[float, str]:
    """Peak resident memory (MB) of a fresh process that reads one scan file, and what it printed."""
    # VmHWM (this process's own high-water mark), not ru_maxrss: that one keeps the forking
    # parent's peak across exec, so a child of a large pytest process would show no growth
    code = ("import sys\n"
            "def hwm():\n"
            "    line = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
            "    return int(line.split()[1]) / 1024.0\n"
            "from auditor.collect.scans import read_scan_file, ScanError\n"
            "base = hwm()\n"
            "try:\n"
            "    out = str(read_scan_file(sys.argv[1])[0]['total'])\n"
            "except ScanError as exc:\n"
            "    out = 'error: ' + str(exc)\n"
            "print(hwm() - base)\n"
            "print(out)\n")
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    grown, out = done.stdout.strip().splitlines()
    return float(grown), out


def test_a_file_of_many_tiny_values_is_refused_before_decoding(tmp_path: Any) -> None:
    path = tmp_path / "tiny.json"   # 3.3 MB of empty objects: decoded it would take ~100 MB
    path.write_text("[" + ",".join(["{}"] * (MAX_CONTAINERS + 10)) + "]", encoding="utf-8")
    grown, out = _peak_mb(str(path))
    assert out.startswith("error: ") and "1,000,011 JSON objects and arrays" in out and "not decoded" in out
    assert grown < 40, grown  # the text is counted, never turned into objects
    scans = collect_scans([str(path)])
    assert scans.errors[0]["message"].startswith(f"{path}: 1,000,011 JSON objects")


def test_a_large_real_shaped_report_is_read_with_bounded_memory(tmp_path: Any) -> None:
    path = tmp_path / "large.json"
    plain = [_vuln(i, text="", url="https://avd.aquasec.com/nvd/cve") for i in range(30000)]
    for v in plain:
        v["Description"] = "an overflow in the parser lets a remote attacker run code " * 8
    path.write_text(json.dumps(_trivy(plain)), encoding="utf-8")
    size_mb = os.path.getsize(path) / 2**20
    grown, out = _peak_mb(str(path))
    assert out == "30000"
    assert size_mb > 15 and grown < 5 * size_mb, (size_mb, grown)
