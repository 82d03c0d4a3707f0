"""Vulnerability scan results as evidence: import (auditor/collect/scans.py), matching to the images
in use (auditor/evidence/scan_match.py) and the controls that judge them, against the real
upstream outputs in ../shared/reference/scans/ and the real dockerd."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import uuid
from collections import Counter
from typing import Any

import dockerd
import pytest

from auditor import api
from auditor.collect.scans import collect_scans, read_scan_file
from auditor.evidence.scan_match import match_scans, with_scan_matches

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "reference", "scans")
REFERENCE = os.path.normpath(REFERENCE) if os.path.isdir(REFERENCE) else "/work/shared/reference/scans"
pytestmark = pytest.mark.skipif(not os.path.isdir(REFERENCE), reason="reference scans not present")


def _load(name: str) -> Any:
    with open(os.path.join(REFERENCE, name), encoding="utf-8") as fh:
        return json.load(fh)


def _expected_counts(name: str) -> Counter[str]:
    """Severity counts of a reference file, read straight from its JSON (not with the importer)."""
    doc = _load(name)
    found: Counter[str] = Counter()
    if name.endswith(".sarif"):
        rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
        for result in doc["runs"][0]["results"]:
            tags = rules[result["ruleId"]]["properties"]["tags"]
            found[next(t for t in tags if t.isupper()).lower()] += 1
    elif "matches" in doc:
        found.update(m["vulnerability"]["severity"].lower() for m in doc["matches"])
    elif doc.get("bomFormat") == "CycloneDX":
        for v in doc["vulnerabilities"]:
            found[v["ratings"][0]["severity"].lower()] += len(v.get("affects") or [1])
    else:
        for result in doc.get("Results") or []:
            found.update(v["Severity"].lower() for v in result.get("Vulnerabilities") or [])
    return found


REFERENCE_FILES = sorted(n for n in os.listdir(REFERENCE) if n.endswith((".json", ".sarif"))) \
    if os.path.isdir(REFERENCE) else []


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_every_reference_file_imports_with_its_counts(name: str) -> None:
    items = read_scan_file(os.path.join(REFERENCE, name))
    assert len(items) == 1
    counts = Counter({k: v for k, v in items[0]["counts"].items() if v})
    assert counts == _expected_counts(name), name
    assert items[0]["total"] == sum(counts.values())


def test_reference_totals_and_details() -> None:
    by_name = {n: read_scan_file(os.path.join(REFERENCE, n))[0] for n in REFERENCE_FILES}
    debian = by_name["trivy-debian-buster.json"]
    assert debian["artifact"]["image_id"] == _load("trivy-debian-buster.json")["Metadata"]["ImageID"]
    assert debian["scanner"]["name"] == "trivy" and debian["scanned_at"] == "2021-08-25T12:20:30.000000005Z"
    assert debian["fixable"]["critical"] == 1 and debian["oldest_fixable"]["critical"]["id"] == "CVE-2019-18224"
    worst = debian["worst_fixable"][0]
    assert (worst["id"], worst["package"], worst["fixed"]) == ("CVE-2019-18224", "libidn2-0", "2.0.5-1+deb10u1")
    assert worst["link"].startswith("https://")
    assert by_name["trivy-alpine-310.json"]["os"]["eosl"] is True
    assert by_name["trivy-alpine-310.json"]["fixable"]["medium"] == 4  # all four have a FixedVersion
    assert by_name["trivy-secrets.json"]["other_findings"]["secret"]["critical"] == 1
    assert by_name["trivy-dockerfile.json"]["other_findings"]["misconfiguration"]["high"] == 1
    assert by_name["grype-dir.json"]["artifact"]["type"] == "directory"
    assert by_name["grype-image.json"]["artifact"]["image_id"].startswith("sha256:ab5608d6")
    assert by_name["grype-image.cyclonedx.json"]["artifact"]["manifest_digest"].startswith("sha256:ca738abb")


def test_format_comes_from_the_content_not_the_name(tmp_path: Any) -> None:
    shutil.copy(os.path.join(REFERENCE, "grype-image.json"), tmp_path / "report.txt")
    assert read_scan_file(str(tmp_path / "report.txt"))[0]["format"] == "grype"


def _write(path: Any, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_hostile_files_are_one_error_each_and_the_rest_is_judged(tmp_path: Any) -> None:
    shutil.copy(os.path.join(REFERENCE, "trivy-debian-buster.json"), tmp_path / "good.json")
    _write(tmp_path / "broken.json", '{"SchemaVersion": 2, "Results": [')
    _write(tmp_path / "other.json", '{"kind": "Pod"}')
    _write(tmp_path / "deep.json", "[" * 100000 + "]" * 100000)
    bad = _load("trivy-debian-buster.json")
    bad["Results"][0]["Vulnerabilities"] = "many"
    _write(tmp_path / "types.json", json.dumps(bad))
    bad2 = _load("grype-image.json")
    bad2["matches"][0]["vulnerability"]["id"] = {"x": 1}
    _write(tmp_path / "types2.json", json.dumps(bad2))
    sbom = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}
    _write(tmp_path / "sbom.json", json.dumps(sbom))
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as fh:  # 200 MB, sparse: refused from its size, never read into memory
        fh.truncate(200 * 2**20)
    collected = collect_scans([str(tmp_path)])
    assert [i["subject"]["path"] for i in collected.targets["scan.result"]] == [str(tmp_path / "good.json")]
    messages = {os.path.basename(e["message"].split(":")[0]): e["message"] for e in collected.errors}
    assert set(messages) == {"broken.json", "other.json", "deep.json", "types.json", "types2.json", "sbom.json",
                             "huge.json"}
    assert "line 1" in messages["broken.json"] and "not valid JSON" in messages["broken.json"]
    assert "not a scan result" in messages["other.json"]
    assert "nested too deeply" in messages["deep.json"]
    assert "Results[0].Vulnerabilities is str, not a list" in messages["types.json"]
    assert "matches[0].vulnerability.id is dict, not text" in messages["types2.json"]
    assert "without vulnerabilities" in messages["sbom.json"]
    assert "200 MB" in messages["huge.json"] and "not read" in messages["huge.json"]
    assert all("\n" not in m for m in messages.values())
    assert collected.sources[0]["status"] == "error"


def test_cli_collect_scans_and_bad_path(tmp_path: Any, capsys: Any) -> None:
    from auditor.cli import main

    out = str(tmp_path / "scans.json")
    assert main(["collect", "scans", REFERENCE, "-o", out]) == 0
    with open(out, encoding="utf-8") as fh:
        doc = json.load(fh)
    assert len(doc["targets"]["scan.result"]) == len(REFERENCE_FILES)
    assert main(["collect", "scans", str(tmp_path / "missing"), "-o", out]) == 3
    assert "missing: no such file or folder" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# matching

def _container(name: str, image_id: str, ref: str, running: bool = True) -> dict[str, Any]:
    return {"subject": {"type": "container", "name": name, "id": name},
            "inspect": {"Image": image_id, "Config": {"Image": ref}, "State": {"Running": running}}}


def test_matching_by_digest_then_tag() -> None:
    debian = read_scan_file(os.path.join(REFERENCE, "trivy-debian-buster.json"))[0]
    centos = read_scan_file(os.path.join(REFERENCE, "trivy-centos-7.json"))[0]
    evidence = {"targets": {
        "docker.container": [_container("a", debian["artifact"]["image_id"], "whatever:1"),
                             _container("b", "sha256:" + "1" * 64, "ghcr.io/aquasecurity/trivy-test-images:centos-7"),
                             _container("c", "sha256:" + "2" * 64, "busybox")],
        "docker.image": [], "scan.result": [debian, centos]}}
    items = {i["containers"][0]: i for i in match_scans(evidence)}
    assert items["a"]["match"] == "digest" and items["a"]["scan"]["counts"]["critical"] == 1
    assert items["b"]["match"] == "tag" and items["b"]["scan"]["file"].endswith("trivy-centos-7.json")
    assert items["c"]["scanned"] is False and items["c"]["scan"] is None
    assert items["c"]["image"]["repo_tags"] == ["busybox:latest"]


def test_without_scan_evidence_cis_4_4_stays_manual_with_a_reason() -> None:
    results = api.evaluate(api.load_demo(), api.Judging(packs=["cis-docker-1.6.0"]))
    control = next(c for c in results["controls"] if c["id"] == "4.4")
    assert control["status"] == "manual" and control["assessment"] == "manual"
    assert "--scan-results" in control["reason"]


def test_with_scan_evidence_cis_4_4_is_automated() -> None:
    demo = api.load_demo()
    scans = collect_scans([os.path.join(REFERENCE, "trivy-debian-buster.json")])
    evidence = copy.deepcopy(demo)
    evidence["targets"]["scan.result"] = scans.targets["scan.result"]
    results = api.evaluate(evidence, api.Judging(packs=["cis-docker-1.6.0", "vulnerability-scans"]))
    control = next(c for c in results["controls"] if c["pack"] == "cis-docker-1.6.0" and c["id"] == "4.4")
    assert control["assessment"] == "automated" and control["status"] == "fail"  # the demo's images: no scan
    fresh = next(c for c in results["controls"] if c["pack"] == "vulnerability-scans" and c["id"] == "1.1")
    assert fresh["status"] == "fail" and fresh["subjects"]["fail"] >= 1
    assert with_scan_matches(demo) is demo  # no scan evidence: nothing derived


# ---------------------------------------------------------------------------------------------
# the real dockerd

def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.slow
def test_real_dockerd_digest_match_and_freshness(test_containers: str, busybox_image: str, tmp_path: Any) -> None:
    host = test_containers
    tag = f"auditor-test/scanned:{uuid.uuid4().hex[:8]}"
    other = f"auditor-test/unscanned:{uuid.uuid4().hex[:8]}"
    dockerd.import_busybox(host, tag, changes=[f"ENV SCANNED={uuid.uuid4().hex}"])
    dockerd.import_busybox(host, other, changes=[f"ENV UNSCANNED={uuid.uuid4().hex}"])
    try:
        image_id = dockerd.docker_cli(host, "image", "inspect", "--format", "{{.Id}}", tag)
        other_id = dockerd.docker_cli(host, "image", "inspect", "--format", "{{.Id}}", other)
        assert image_id != other_id
        for name, image in (("scanned", tag), ("unscanned", other)):
            dockerd.docker_cli(host, "run", "-d", *dockerd.LABEL_ARGS, "--name",
                               f"auditor-test-{name}-{uuid.uuid4().hex[:6]}", image, "sleep", "120")
        scan = _load("trivy-debian-buster.json")
        scan["Metadata"]["ImageID"] = image_id          # the real digest; tags stay the fixture's
        scan["CreatedAt"] = _now()
        path = _write(tmp_path / "scan.json", json.dumps(scan))
        evidence, _label = api.collect(api.Sources(targets=["docker"], docker_host=host, scan_results=[path]))
    finally:
        dockerd.remove_test_containers(host)
        dockerd.docker_cli(host, "rmi", tag, other)
    judging = api.Judging(packs=["vulnerability-scans"], controls=["1.1", "2.1"])
    results = api.evaluate(evidence, judging)
    controls = {c["id"]: c for c in results["controls"]}
    fresh = {f["subject"].get("id"): f for f in controls["1.1"]["findings"]}
    assert fresh[image_id]["status"] == "pass"
    assert fresh[other_id]["status"] == "fail"  # in use, no scan
    matched = next(i for i in match_scans(evidence) if i["image"]["id"] == image_id)
    assert matched["match"] == "digest" and matched["running"] == 1
    window = {f["subject"].get("id"): f for f in controls["2.1"]["findings"]}
    assert window[image_id]["status"] == "fail"  # the debian critical, published 2019, has a fix
    # the same scan judged as stale: the evidence collected 10 days after it
    later = copy.deepcopy(evidence)
    stamp = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10)
    later["metadata"]["collected_at"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    stale = next(c for c in api.evaluate(later, judging)["controls"] if c["id"] == "1.1")
    assert {f["subject"].get("id"): f["status"] for f in stale["findings"]}[image_id] == "fail"


def test_a_bundle_of_scans_alone_selects_only_the_scan_pack() -> None:
    scans = collect_scans([os.path.join(REFERENCE, "trivy-debian-buster.json")])
    evidence = {"metadata": {"collected_at": _now()}, "targets": {"scan.result": scans.targets["scan.result"]}}
    results = api.evaluate(evidence)
    assert {c["pack"] for c in results["controls"]} == {"vulnerability-scans"}
