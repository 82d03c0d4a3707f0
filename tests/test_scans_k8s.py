"""Scan results matched to Kubernetes pods (status.containerStatuses[].imageID) and the Trivy
Kubernetes report format (`trivy k8s --format json`)."""

from __future__ import annotations

import json
import os
from typing import Any

from auditor.collect.scans import read_scan_file
from auditor.evidence.scan_match import match_scans

DIGEST = "sha256:" + "ab" * 32


def _pod(name: str, image: str, image_id: str, running: bool = True) -> dict[str, Any]:
    state = {"running": {"startedAt": "2026-06-01T00:00:00Z"}} if running else {"waiting": {"reason": "x"}}
    return {"subject": {"type": "Pod", "name": name, "namespace": "shop"},
            "object": {"kind": "Pod", "metadata": {"name": name, "namespace": "shop"},
                       "spec": {"containers": [{"name": "app", "image": image}]},
                       "status": {"containerStatuses": [{"name": "app", "image": image, "imageID": image_id,
                                                         "state": state}]}}}


def _trivy_image(tmp_path: Any, repo_digest: str) -> dict[str, Any]:
    doc = {"SchemaVersion": 2, "CreatedAt": "2026-06-29T00:00:00Z", "ArtifactName": "registry.example/web:1",
           "ArtifactType": "container_image",
           "Metadata": {"ImageID": "sha256:" + "cd" * 32, "RepoDigests": [repo_digest],
                        "RepoTags": ["registry.example/web:1"]},
           "Results": [{"Target": "web", "Class": "os-pkgs",
                        "Vulnerabilities": [{"VulnerabilityID": "CVE-2026-1", "PkgName": "zlib",
                                             "InstalledVersion": "1", "FixedVersion": "2",
                                             "Severity": "CRITICAL", "PublishedDate": "2026-01-01T00:00:00Z"}]}]}
    path = tmp_path / "web.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return read_scan_file(str(path))[0]


def test_pods_match_by_repository_digest_then_tag(tmp_path: Any) -> None:
    scan = _trivy_image(tmp_path, f"registry.example/web@{DIGEST}")
    evidence = {"targets": {"k8s.pod": [
        _pod("a", "registry.example/web:1", f"docker-pullable://registry.example/web@{DIGEST}"),
        _pod("b", "registry.example/web:1", "registry.example/web@sha256:" + "ef" * 32),
        _pod("c", "registry.example/other:2", "registry.example/other@sha256:" + "01" * 32, running=False)],
        "scan.result": [scan]}}
    items = {i["containers"][0].split("/")[1]: i for i in match_scans(evidence)}
    assert items["a"]["match"] == "digest" and items["a"]["running"] == 1
    assert items["a"]["scan"]["counts"]["critical"] == 1
    assert items["b"]["match"] == "tag"  # same tag, another digest: the weaker match, marked
    assert items["c"]["scanned"] is False and items["c"]["running"] == 0
    assert items["a"]["image"]["runtime"] == "kubernetes"


def test_trivy_kubernetes_report(tmp_path: Any) -> None:
    vuln = {"VulnerabilityID": "CVE-2026-2", "PkgName": "openssl", "InstalledVersion": "3.0.1",
            "FixedVersion": "3.0.9", "Severity": "HIGH"}
    doc = {"ClusterName": "prod", "Resources": [
        {"Namespace": "shop", "Kind": "Deployment", "Name": "web",
         "Results": [{"Target": "registry.example/web:1 (debian 12.1)", "Class": "os-pkgs",
                      "Vulnerabilities": [vuln, {**vuln, "VulnerabilityID": "CVE-2026-3", "Severity": "LOW",
                                                 "FixedVersion": ""}]}]},
        {"Namespace": "kube-system", "Kind": "DaemonSet", "Name": "proxy", "Results": []}]}
    path = tmp_path / "k8s.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    items = read_scan_file(str(path))
    assert [i["artifact"]["name"] for i in items] == ["shop/Deployment/web", "kube-system/DaemonSet/proxy"]
    web = items[0]
    assert web["format"] == "trivy-k8s" and web["artifact"]["cluster"] == "prod"
    assert web["counts"]["high"] == 1 and web["counts"]["low"] == 1 and web["fixable"]["high"] == 1
    assert web["artifact"]["repo_tags"] == ["registry.example/web:1"]
    assert os.path.basename(web["subject"]["path"]) == "k8s.json"
