"""Defaulting equivalence (issue 16): a manifest with fields left out and the same object with the
API server's defaults written in get identical findings, for every control of every pack that
judges pods or containers (enumerated from the packs, so a new control is covered as it lands).

tests/fixtures/k8s-defaults/sparse/ holds five manifests as people write them (a host-network
Pod, a Deployment, a CronJob, a Pod with init and ephemeral containers, a Windows HostProcess
Pod); defaulted/ holds each as the API server stores it, written by hand from the API reference
(docs/kubernetes-defaults.md), so the stage is checked against an independent statement of the
defaults, not against itself.
"""

from __future__ import annotations

import json
import os
from typing import Any

import kubernetes_validate
import pytest
import yaml

from auditor.collect.collected import Collected
from auditor.collect.k8s_objects import objects_to_targets
from auditor.collect.manifests import collect_manifests, manifest_files, read_manifest_file
from auditor.evidence.bundle import build_bundle
from auditor.judging.engine import evaluate
from auditor.packs.loader import find_pack_paths, load_pack

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "k8s-defaults")
SPARSE, DEFAULTED = os.path.join(FIXTURES, "sparse"), os.path.join(FIXTURES, "defaulted")
POD_TARGETS = {"k8s.pod", "k8s.container"}
KUBERNETES_VERSION = "1.30.0"  # as tests/test_deploy.py: the oldest schema with appArmorProfile


def pod_level_packs() -> list[Any]:
    """Every pack with at least one automated control on k8s.pod or k8s.container, reduced to those."""
    packs = []
    for path in sorted(find_pack_paths().values()):
        pack = load_pack(path)
        pack.controls = [c for c in pack.controls
                         if c.assessment != "manual" and POD_TARGETS & set(c.target_names)]
        if pack.controls:
            packs.append(pack)
    return packs


PACKS = pod_level_packs()


def findings(evidence: dict[str, Any]) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(pack, control, subject) -> (verdict, what a failing finding saw and where), for every
    judged subject (the subject's file differs between the two folders, nothing else may)."""
    out = {}
    for pack, controls in evaluate(evidence, PACKS):
        for control, result in controls:
            assert result["status"] != "manual", control.id
            assert sum(result["counts"].values()) == len(result["findings"]), control.id  # none left out
            for finding in result["findings"]:
                said = [finding.get(k) for k in ("expected", "observed", "where", "message")]
                seen = json.dumps(said, sort_keys=True)
                out[(pack.id, control.id, finding["subject"]["name"])] = (finding["status"], seen)
    return out


def verdicts(evidence: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    return {key: status for key, (status, _seen) in findings(evidence).items()}


def bundle(collected: Collected) -> dict[str, Any]:
    return build_bundle(collected, host="test", collected_at="2026-12-01T00:00:00Z")


def test_the_packs_have_pod_level_controls_to_compare():
    ids = {(p.id, c.id) for p in PACKS for c in p.controls}
    assert {p.id for p in PACKS} >= {"cis-kubernetes-1.12", "pod-security-standards", "container-essentials"}
    assert ("pod-security-standards", "restricted.volume-types") in ids and ("cis-kubernetes-1.12", "5.2.12") in ids
    assert len(ids) >= 40


@pytest.mark.parametrize("folder", [SPARSE, DEFAULTED], ids=["sparse", "defaulted"])
def test_the_fixtures_are_valid_kubernetes_objects(folder):
    files = manifest_files(folder)
    assert [os.path.basename(f) for f in files] == ["cronjob.yaml", "debug-pod.yaml", "deployment.yaml", "pod.yaml",
                                                    "windows-pod.yaml"]
    for file in files:
        with open(file, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{file}: {exc.message}")


def test_the_stage_turns_each_sparse_manifest_into_the_stored_object():
    sparse = collect_manifests([SPARSE]).targets["k8s.pod"]
    stored = collect_manifests([DEFAULTED]).targets["k8s.pod"]
    assert len(sparse) == len(stored) == 5
    for got, want in zip(sparse, stored, strict=True):
        assert got["subject"]["name"] == want["subject"]["name"]
        assert got["object"]["spec"] == want["object"]["spec"], got["subject"]["name"]
        assert got["api_defaults"] and "api_defaults" not in want  # the stored objects need nothing


def test_sparse_and_defaulted_manifests_get_the_same_findings_for_every_pod_level_control():
    sparse_findings = findings(bundle(collect_manifests([SPARSE])))
    assert sparse_findings == findings(bundle(collect_manifests([DEFAULTED])))
    stored = {key: status for key, (status, _seen) in sparse_findings.items()}
    judged = {(pack, control) for pack, control, _subject in stored}
    missing = sorted({(p.id, c.id) for p in PACKS for c in p.controls} - judged)
    # every pod-level control judges some subject of the fixtures, except those whose scope they
    # are outside of by design (pod age needs status.startTime, which manifests never carry)
    assert missing == [("container-essentials", "5.3")], missing
    assert {"pass", "fail"} <= set(stored.values())
    subjects = {subject for _pack, _control, subject in stored}
    assert subjects >= {"shop/web", "shop/web:app", "shop/api:api", "ops/backup:backup", "shop/debug:setup",
                        "shop/debug:main", "shop/debug:shell", "monitoring/win-exporter:exporter"}


def test_without_the_stage_the_sparse_manifests_would_be_judged_differently():
    """The comparison above can fail: judged as written, the sparse manifests differ where a
    default decides the verdict (a volume without a source, host ports of a host-network pod)."""
    objects: list[Any] = []
    for file in manifest_files(SPARSE):
        read_manifest_file(file, objects, [], [])
    collected = Collected()
    objects_to_targets(objects, collected, cluster_name="manifests")  # no api_defaults
    as_written = verdicts(bundle(collected))
    stored = verdicts(bundle(collect_manifests([DEFAULTED])))
    differ = {key: (as_written.get(key), stored[key]) for key in stored if as_written.get(key) != stored[key]}
    assert differ == {
        ("pod-security-standards", "restricted.volume-types", "shop/web"): ("fail", "pass"),
        ("pod-security-standards", "baseline.host-ports", "shop/web:app"): ("pass", "fail"),
        ("pod-security-standards", "baseline.host-ports", "monitoring/win-exporter:exporter"): ("pass", "fail"),
        ("cis-kubernetes-1.12", "5.2.12", "shop/web:app"): ("pass", "fail"),
        ("cis-kubernetes-1.12", "5.2.12", "monitoring/win-exporter:exporter"): ("pass", "fail"),
        ("container-essentials", "3.3", "shop/web:app"): ("pass", "fail"),
        ("container-essentials", "3.3", "monitoring/win-exporter:exporter"): ("pass", "fail"),
    }, differ


def test_a_finding_says_which_fields_it_saw_were_api_defaults(tmp_path, capsys):
    """"saw: [8080]" on a host port the manifest never wrote names the filled field in the
    results (`defaulted`, valid against the results schema) and in the HTML; the same object
    written out in full says nothing of the kind."""
    from auditor.cli import main
    from auditor.results.document import expand_results

    def audit(folder: str, out: str) -> tuple[dict[str, Any], str]:
        argv = ["audit", "--manifests", folder, "--pack", "pod-security-standards", "--format", "json",
                "-o", out, "--no-pdf"]
        assert main(argv) == 0  # no --fail-on gate: failing controls still exit 0
        results = expand_results(json.loads(capsys.readouterr().out))
        html = next(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".html"))
        with open(html, encoding="utf-8") as fh:
            return results, fh.read()

    def host_ports(results: dict[str, Any]) -> dict[str, Any]:
        control = next(c for c in results["controls"] if c["id"] == "baseline.host-ports")
        return {f["subject"]["name"]: f for f in control["findings"] if f["status"] == "fail"}

    sparse, sparse_html = audit(SPARSE, str(tmp_path / "sparse"))
    stored, stored_html = audit(DEFAULTED, str(tmp_path / "stored"))
    web = host_ports(sparse)["shop/web:app"]
    assert web["observed"] == [8080] and "container.ports[0].hostPort" in web["defaulted"]
    assert "defaulted" not in host_ports(stored)["shop/web:app"]
    assert "API default, not in the manifest: container.ports[0].protocol, container.ports[0].hostPort" in sparse_html
    assert "API default" not in stored_html


def test_csv_sarif_and_junit_name_the_api_defaulted_fields(tmp_path, capsys):
    """The CSV's `defaulted` column, SARIF's result property and message and JUnit's failure
    text carry the fields a verdict read from API defaults; the object written out in full
    leaves them empty."""
    import csv
    import io

    from auditor.cli import main
    from auditor.report.csv_report import render_csv
    from auditor.report.junit import render_junit
    from auditor.report.sarif import render_sarif
    from auditor.results.document import expand_results

    def results_of(folder: str, out: str) -> dict[str, Any]:
        assert main(["audit", "--manifests", folder, "--pack", "pod-security-standards", "--format", "json",
                     "-o", out, "--no-pdf", "--no-html"]) == 0
        return expand_results(json.loads(capsys.readouterr().out))

    def rows(results: dict[str, Any]) -> list[dict[str, str]]:
        return [r for r in csv.DictReader(io.StringIO(render_csv(results)))
                if r["control"] == "baseline.host-ports" and r["subject_name"] == "shop/web:app"]

    def sarif(results: dict[str, Any]) -> list[dict[str, Any]]:
        log = json.loads(render_sarif(results))
        return [r for r in log["runs"][0]["results"] if r["ruleId"] == "pod-security-standards/baseline.host-ports"
                and r["properties"]["subject"].get("name") == "shop/web:app"]

    sparse, stored = results_of(SPARSE, str(tmp_path / "s")), results_of(DEFAULTED, str(tmp_path / "d"))
    (row,) = rows(sparse)
    assert row["defaulted"] == "container.ports[0].protocol; container.ports[0].hostPort"
    assert [r["defaulted"] for r in rows(stored)] == [""]
    (result,) = sarif(sparse)
    assert "container.ports[0].hostPort" in result["properties"]["defaulted"]
    assert "API default, not in the manifest: container.ports[0].protocol" in result["message"]["text"]
    (full,) = sarif(stored)
    assert "defaulted" not in full["properties"] and "API default" not in full["message"]["text"]
    junit = render_junit(sparse)
    (line,) = [x for x in junit.splitlines() if x.startswith("fail: Pod shop/web:app") and "observed [8080]" in x]
    assert line.endswith("; API default, not in the manifest: container.ports[0].protocol, container.ports[0].hostPort")
    assert "API default" not in render_junit(stored)
