"""`auditor audit --scan-results` from the command line: repeatable, files and folders, a host
(rootfs/directory) scan judged by control 3.1, scanner and database version recorded; SARIF from a
scanner other than Trivy read from its security-severity."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from auditor.cli import main
from auditor.collect.scans import read_scan_file

REFERENCE = "/work/shared/reference/scans"
pytestmark = pytest.mark.skipif(not os.path.isdir(REFERENCE), reason="reference scans not present")


def _load(name: str) -> Any:
    with open(os.path.join(REFERENCE, name), encoding="utf-8") as fh:
        return json.load(fh)


def test_cli_audit_reads_repeated_files_and_folders_and_judges_host_scans(tmp_path: Any, capsys: Any) -> None:
    host = _load("trivy-debian-buster.json")   # the node's root filesystem, with a fixable critical
    host.update(ArtifactType="rootfs", ArtifactName="/", CreatedAt="2026-12-07T00:00:00Z")
    for key in ("ImageID", "RepoTags", "RepoDigests"):
        host["Metadata"].pop(key, None)
    (tmp_path / "host.json").write_text(json.dumps(host), encoding="utf-8")
    folder = tmp_path / "more"
    (folder / "deep").mkdir(parents=True)
    grype = _load("grype-dir.json")             # a directory scan whose critical has no fix
    grype["descriptor"].update(version="0.104.0", timestamp="2026-12-07T01:00:00Z",
                               db={"status": {"schemaVersion": "v6.0.2", "built": "2026-12-06T04:00:00Z"}})
    (folder / "deep" / "dir.json").write_text(json.dumps(grype), encoding="utf-8")
    (folder / "notes.txt").write_text("not a scan, not read (no .json suffix)", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["audit", "--target", "scans", "--scan-results", str(tmp_path / "host.json"),
                 "--scan-results", str(folder), "-o", str(out), "--no-pdf", "--no-html"])
    assert code == 0, capsys.readouterr().err
    results_file = next(out.glob("*.results.json"))
    results = json.loads(results_file.read_text(encoding="utf-8"))
    evidence = json.loads(next(out.glob("*.evidence.json")).read_text(encoding="utf-8"))
    scans = {os.path.basename(s["subject"]["path"]): s for s in evidence["targets"]["scan.result"]}
    assert set(scans) == {"host.json", "dir.json"}
    assert scans["dir.json"]["scanner"] == {"name": "grype", "version": "0.104.0",
                                            "db_version": "v6.0.2 2026-12-06T04:00:00Z"}
    assert scans["dir.json"]["scanned_at"] == "2026-12-07T01:00:00Z"
    control = next(c for c in results["controls"] if c["pack"] == "vulnerability-scans" and c["id"] == "3.1")
    subjects = results["subjects"]  # the results file lists each subject once; findings point at it
    verdicts = {os.path.basename(subjects[f["subject"]]["path"]): f["status"] for f in control["findings"]}
    assert control["status"] == "fail" and verdicts == {"host.json": "fail", "dir.json": "pass"}
    assert {c["pack"] for c in results["controls"]} == {"vulnerability-scans"}
    # a broken file beside them: one line naming it, the rest still judged, exit 3 (incomplete evidence)
    (folder / "broken.json").write_text('{"matches": [', encoding="utf-8")
    capsys.readouterr()
    code = main(["audit", "--target", "scans", "--scan-results", str(tmp_path / "host.json"),
                 "--scan-results", str(folder), "-o", str(tmp_path / "out2"), "--no-pdf", "--no-html"])
    err = capsys.readouterr().err
    assert code == 3
    lines = [line for line in err.splitlines() if "broken.json" in line]
    assert len(lines) == 1 and "not valid JSON" in lines[0] and "Traceback" not in err
    again = json.loads(next((tmp_path / "out2").glob("*.results.json")).read_text(encoding="utf-8"))
    control = next(c for c in again["controls"] if c["pack"] == "vulnerability-scans" and c["id"] == "3.1")
    assert control["status"] == "fail" and control["subjects"]["total"] == 2


def test_sarif_from_another_scanner_is_read_from_security_severity(tmp_path: Any) -> None:
    sarif = {"version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "other-scanner", "version": "3.2", "rules": [
            {"id": "CVE-2024-1111", "properties": {"security-severity": "9.8"}},
            {"id": "CVE-2024-2222", "properties": {"security-severity": "7.5"}},
            {"id": "CVE-2024-3333", "properties": {"security-severity": "5.0"}},
            {"id": "STYLE-1", "properties": {"tags": ["style"]}}]}},
        "results": [{"ruleId": r, "message": {"text": f"{r} found"}}
                    for r in ("CVE-2024-1111", "CVE-2024-2222", "CVE-2024-2222", "CVE-2024-3333", "STYLE-1")]}]}
    path = tmp_path / "other.sarif"
    path.write_text(json.dumps(sarif), encoding="utf-8")
    item = read_scan_file(str(path))[0]
    assert item["format"] == "sarif" and item["scanner"]["name"] == "other-scanner"
    assert {k: v for k, v in item["counts"].items() if v} == {"critical": 1, "high": 2, "medium": 1}
    no_severity = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "lint", "rules": [{"id": "A"}]}},
                                                 "results": [{"ruleId": "A", "message": {"text": "x"}}]}]}
    path.write_text(json.dumps(no_severity), encoding="utf-8")
    with pytest.raises(Exception, match="carry no severity"):
        read_scan_file(str(path))
