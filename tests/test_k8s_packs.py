"""CIS Kubernetes 1.12 section 5 and the Pod Security Standards pack, judged end to end.

tests/fixtures/manifests-verdicts/ holds a realistic folder of manifests: a hardened application
(namespace `shop`), an unhardened one (`legacy`, with a Windows HostProcess DaemonSet), a bare pod
written without a namespace, and kube-system's kube-proxy (exempt by default). `auditor audit
--manifests` collects and judges it; the verdict of every automated control and the subjects it
fails are pinned below.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from auditor.cli import main
from auditor.judging.engine import evaluate_control
from auditor.packs.loader import find_pack_paths, load_pack
from auditor.results.document import expand_results

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFESTS = os.path.join(HERE, "fixtures", "manifests-verdicts")
REFERENCE = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "reference", "cis-kubernetes-1.12.csv"))
CIS, PSS = "cis-kubernetes-1.12", "pod-security-standards"

# control -> the subjects that fail it; every other judged subject passes.
EXPECTED_FAILURES = {
    "5.1.1": ["ops-admin"],
    "5.1.2": ["legacy/legacy-admin", "ops-tooling"],
    "5.1.3": ["legacy/legacy-admin"],
    "5.1.4": ["legacy/legacy-admin", "ops-tooling"],
    "5.1.5": ["legacy/legacy-default"],
    "5.1.6": ["default/debug", "legacy/legacy-app", "legacy/node-agent", "legacy/win-exporter"],
    "5.1.8": ["legacy/legacy-admin", "ops-tooling"],
    "5.1.9": ["legacy/legacy-admin", "ops-tooling"],
    "5.1.10": ["legacy/legacy-admin", "ops-tooling"],
    "5.1.11": ["legacy/legacy-admin", "ops-tooling"],
    "5.1.12": ["legacy/legacy-admin", "ops-tooling"],
    "5.1.13": ["legacy/legacy-admin", "ops-tooling"],
    "5.2.1": ["legacy"],
    "5.2.2": ["legacy/legacy-app:setup"],
    "5.2.3": ["legacy/node-agent"],
    "5.2.4": ["legacy/node-agent"],
    "5.2.5": ["legacy/legacy-app", "legacy/win-exporter"],
    "5.2.6": ["default/debug:shell", "legacy/legacy-app:app", "legacy/legacy-app:setup", "legacy/node-agent:agent"],
    "5.2.7": ["default/debug:shell", "legacy/legacy-app:app", "legacy/legacy-app:setup", "legacy/node-agent:agent"],
    "5.2.8": ["default/debug:shell", "legacy/legacy-app:app", "legacy/legacy-app:setup"],
    "5.2.9": ["legacy/legacy-app:app", "shop/report:report"],
    "5.2.10": ["legacy/win-exporter:exporter"],
    "5.2.11": ["legacy/legacy-app"],
    "5.2.12": ["legacy/legacy-app:app"],
    "5.3.2": ["default", "legacy"],
    "5.4.1": ["legacy/legacy-app:app"],
    "5.6.2": ["default/debug:shell", "legacy/legacy-app:app", "legacy/legacy-app:setup", "legacy/node-agent:agent"],
    "5.6.3": ["default/debug:shell"],
    "5.6.4": ["default/debug"],
    "baseline.apparmor": ["legacy/node-agent"],
    "baseline.capabilities": ["legacy/legacy-app:app"],
    "baseline.host-namespaces": ["legacy/legacy-app", "legacy/node-agent", "legacy/win-exporter"],
    "baseline.host-path-volumes": ["legacy/legacy-app"],
    "baseline.host-ports": ["legacy/legacy-app:app"],
    "baseline.host-probes": ["legacy/legacy-app:app"],
    "baseline.host-process": ["legacy/win-exporter:exporter"],
    "baseline.privileged": ["legacy/legacy-app:setup"],
    "baseline.proc-mount": ["legacy/legacy-app:app"],
    "baseline.seccomp": ["legacy/legacy-app:app", "legacy/legacy-app:setup"],
    "baseline.selinux": ["legacy/node-agent:agent"],
    "baseline.sysctls": ["legacy/node-agent"],
    "restricted.capabilities": ["default/debug:shell", "legacy/legacy-app:app", "legacy/legacy-app:setup",
                                "legacy/node-agent:agent"],
    "restricted.privilege-escalation": ["default/debug:shell", "legacy/legacy-app:app", "legacy/legacy-app:setup",
                                        "legacy/node-agent:agent"],
    "restricted.run-as-non-root": ["default/debug:shell", "legacy/legacy-app:app", "legacy/legacy-app:setup",
                                   "legacy/node-agent:agent"],
    "restricted.proc-mount": ["legacy/legacy-app:app"],
    "restricted.run-as-user": ["legacy/legacy-app:app", "legacy/legacy-app:setup"],
    "restricted.seccomp": ["default/debug:shell", "legacy/legacy-app:app", "legacy/legacy-app:setup",
                           "legacy/node-agent:agent"],
    "restricted.volume-types": ["legacy/legacy-app", "legacy/node-agent"],
}


def _audit(tmp_path, capsys, *extra: str) -> dict[str, dict]:
    argv = ["audit", "--manifests", MANIFESTS, "--pack", CIS, "--pack", PSS, "--format", "json",
            "-o", str(tmp_path), *extra]
    assert main(argv) == 0
    results = expand_results(json.loads(capsys.readouterr().out))
    return {c["id"]: c for c in results["controls"]}


@pytest.fixture(scope="module")
def packs():
    paths = find_pack_paths()
    return {CIS: load_pack(paths[CIS]), PSS: load_pack(paths[PSS])}


# ---------------------------------------------------------------------------------------------
# the packs themselves

def test_cis_section_5_has_every_control_and_automates_most(packs):
    section5 = [c for c in packs[CIS].controls if c.section == "5" or c.section.startswith("5.")]
    assert len(section5) == 34
    automated = [c.id for c in section5 if c.assessment == "automated"]
    assert len(automated) >= 26, automated
    for control in section5:
        assert control.data.get("cis_assessment") == "manual", control.id  # as CIS labels them all
        if control.assessment == "manual":
            assert len(control.data["audit"]) > 60 and control.check is None, control.id


@pytest.mark.skipif(not os.path.exists(REFERENCE), reason="reference catalogue not beside the checkout")
def test_cis_section_5_ids_match_the_reference(packs):
    with open(REFERENCE, encoding="utf-8") as fh:
        wanted = sorted(r["id"] for r in csv.DictReader(fh) if r["id"].startswith("5."))
    have = sorted(c.id for c in packs[CIS].controls if c.id.startswith("5."))
    assert have == wanted


def test_pss_levels_are_sections(packs):
    pack = packs[PSS]
    by_section: dict[str, list[str]] = {}
    for control in pack.controls:
        assert control.id.startswith(control.section + "."), control.id
        assert control.assessment == "automated" and control.level is None, control.id
        by_section.setdefault(control.section, []).append(control.id.split(".", 1)[1])
    assert sorted(by_section["baseline"]) == sorted([
        "host-process", "host-namespaces", "privileged", "capabilities", "host-path-volumes", "host-ports",
        "host-probes", "apparmor", "selinux", "proc-mount", "seccomp", "sysctls"])
    assert sorted(by_section["restricted"]) == sorted([
        "volume-types", "privilege-escalation", "run-as-non-root", "run-as-user", "seccomp", "capabilities",
        "proc-mount"])


# ---------------------------------------------------------------------------------------------
# a realistic folder of manifests, through `auditor audit --manifests`

def test_manifests_verdicts(tmp_path, capsys):
    controls = _audit(tmp_path, capsys, "--section", "5", "--section", "baseline", "--section", "restricted")
    judged = {cid: c for cid, c in controls.items()
              if c["assessment"] == "automated" and c["target"] != "node.process"}
    assert sorted(judged) == sorted(EXPECTED_FAILURES)
    for cid, control in judged.items():
        failing = sorted(f["subject"]["name"] for f in control["findings"] if f["status"] == "fail")
        others = {f["status"] for f in control["findings"] if f["status"] != "fail"}
        assert (control["status"], failing) == ("fail", sorted(EXPECTED_FAILURES[cid])), cid
        assert others <= {"pass"}, (cid, others)
        # kube-system is exempt by default: never judged
        assert not any(f["subject"]["name"].startswith("kube-system") for f in control["findings"]), cid
    # the hardened workloads meet both levels of the Pod Security Standards
    for cid, control in judged.items():
        if cid.startswith(("baseline.", "restricted.")):
            shop = [f for f in control["findings"] if f["subject"]["name"].startswith("shop/")]
            assert shop and all(f["status"] == "pass" for f in shop), cid
    # the bare pod breaks nothing baseline forbids, but does not meet restricted
    assert all(not any(f["subject"]["name"].startswith("default/debug") and f["status"] == "fail"
                       for f in c["findings"]) for cid, c in judged.items() if cid.startswith("baseline."))
    # the Windows pod is out of the Linux-only restricted checks, but judged by run-as-non-root
    for cid in ("restricted.capabilities", "restricted.privilege-escalation", "restricted.seccomp"):
        assert not any("win-exporter" in f["subject"]["name"] for f in judged[cid]["findings"]), cid
    assert any("win-exporter" in f["subject"]["name"] for f in judged["restricted.run-as-non-root"]["findings"])
    # findings point at the manifest file and line
    finding = next(f for f in judged["5.2.2"]["findings"] if f["status"] == "fail")
    assert finding["subject"]["file"].endswith("legacy.yaml") and finding["subject"]["line"] == 8
    assert finding["observed"] is True and "privileged" in finding["where"]
    # node evidence was not collected: 5.5.1 has nothing to judge
    assert controls["5.5.1"]["status"] == "not_applicable"


def test_an_older_pss_version_is_judged_and_recorded(tmp_path, capsys):
    main(["audit", "--manifests", MANIFESTS, "--pack", PSS, "--set", f"{PSS}.version=v1.33",
          "--format", "json", "-o", str(tmp_path), "--no-html", "--no-pdf"])
    results = expand_results(json.loads(capsys.readouterr().out))
    assert results["packs"][0]["parameters"]["version"] == "v1.33"
    controls = {c["id"]: c for c in results["controls"]}
    # the probe host rule (v1.34) and restricted's own procMount rule (v1.35) are not in v1.33
    for cid in ("baseline.host-probes", "restricted.proc-mount"):
        assert controls[cid]["status"] == "not_applicable", cid
        assert "parameter version gte" in controls[cid]["reason"] and "v1.33" in controls[cid]["reason"]
    # the rest is judged as at latest
    assert controls["baseline.proc-mount"]["status"] == "fail"
    assert {f["subject"]["name"] for f in controls["baseline.proc-mount"]["findings"]
            if f["status"] == "fail"} == {"legacy/legacy-app:app"}
    # the reports' pack headers say which version was judged
    from auditor.report.html import render_html
    from auditor.report.terminal import render_table

    assert "Kubernetes Pod Security Standards v1.33 (pack v1.37)" in render_table(results)
    assert render_html(results).count("Kubernetes Pod Security Standards v1.33 (pack v1.37)") >= 2


def test_section_baseline_selects_the_baseline_level(tmp_path, capsys):
    controls = _audit(tmp_path, capsys, "--section", "baseline")
    assert sorted(controls) == sorted(c for c in EXPECTED_FAILURES if c.startswith("baseline."))


def test_exempt_namespaces_parameter(tmp_path, capsys):
    controls = _audit(tmp_path, capsys, "--control", "5.2.2", "--control", "baseline.privileged",
                      "--control", "5.3.2", "--set", f"{CIS}.exempt_namespaces=[]",
                      "--set", f"{PSS}.exempt_namespaces=[legacy, kube-system]")
    cis_failing = sorted(f["subject"]["name"] for f in controls["5.2.2"]["findings"] if f["status"] == "fail")
    assert cis_failing == ["kube-system/kube-proxy:kube-proxy", "legacy/legacy-app:setup"]
    assert "kube-system" in [f["subject"]["name"] for f in controls["5.3.2"]["findings"] if f["status"] == "fail"]
    assert controls["baseline.privileged"]["status"] == "pass"
    assert not any(f["subject"]["name"].startswith(("legacy/", "kube-system/"))
                   for f in controls["baseline.privileged"]["findings"])


def test_allowed_host_ports_and_cluster_admin_subjects_parameters(tmp_path, capsys):
    controls = _audit(tmp_path, capsys, "--control", "baseline.host-ports", "--control", "5.1.1",
                      "--set", f"{PSS}.allowed_host_ports=[8080]",
                      "--set", f"{CIS}.cluster_admin_subjects=[Group/system:masters, User/alice]")
    assert controls["baseline.host-ports"]["status"] == "pass"
    assert controls["5.1.1"]["status"] == "pass"


@pytest.mark.slow
def test_audit_command_on_the_manifests_folder(tmp_path):
    """The installed entry point, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "auditor", "audit", "--manifests", MANIFESTS, "--pack", PSS,
                           "--format", "json", "-o", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    results = expand_results(json.loads(proc.stdout))
    assert {c["id"] for c in results["controls"] if c["status"] == "fail"} == {
        c for c in EXPECTED_FAILURES if c.startswith(("baseline.", "restricted."))}
    assert list(tmp_path.glob("*.results.json")) and list(tmp_path.glob("*.evidence.json"))


# ---------------------------------------------------------------------------------------------
# controls on several targets (Roles and ClusterRoles)

def _rbac_evidence(target_errors: dict[str, str] | None = None) -> dict:
    def role(kind: str, name: str, namespace: str | None, rules: list) -> dict:
        return {"subject": {"type": kind, "name": f"{namespace}/{name}" if namespace else name,
                            "namespace": namespace, "kind": kind},
                "object": {"kind": kind, "metadata": {"name": name, "namespace": namespace}, "rules": rules}}
    wildcard = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    narrow = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
    return {"kind": "auditor-evidence", "schema_version": "1",
            "metadata": {"host": "t", "complete": not target_errors, "errors": [],
                         "target_errors": target_errors or {}},
            "targets": {"k8s.role": [role("Role", "app", "shop", narrow)],
                        "k8s.clusterrole": [role("ClusterRole", "everything", None, wildcard)]}}


def test_a_control_judges_every_target_it_names(packs):
    control = next(c for c in packs[CIS].controls if c.id == "5.1.3")
    verdict = evaluate_control(control, _rbac_evidence(), {})
    assert verdict["status"] == "fail"
    statuses = {f["subject"]["name"]: f["status"] for f in verdict["findings"]}
    assert statuses == {"shop/app": "pass", "everything": "fail"}


def test_a_missing_target_among_several_is_an_error(packs):
    control = next(c for c in packs[CIS].controls if c.id == "5.1.3")
    verdict = evaluate_control(control, _rbac_evidence({"k8s.clusterrole": "403 forbidden"}), {})
    assert verdict["status"] == "error" and "k8s.clusterrole" in verdict["reason"]
