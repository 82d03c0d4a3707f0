"""The shipped Kubernetes manifests (deploy/kubernetes/): valid against the Kubernetes OpenAPI
schemas (kubernetes-validate's pinned set), least-privilege RBAC, the node collector's host
mounts derived from the node layouts, and the auditor's own audit of them passing with only the
host access waived (deploy/kubernetes/waivers.yaml)."""

from __future__ import annotations

import glob
import json
import os

import kubernetes_validate
import pytest
import yaml

from auditor.cli import main
from auditor.collect import node_jobs
from auditor.collect.cluster import KINDS
from auditor.results.document import expand_results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(REPO, "deploy", "kubernetes")
KUBERNETES_VERSION = "1.30.0"  # the oldest release whose schema has appArmorProfile in securityContext


def _objects():
    out = []
    files = glob.glob(os.path.join(DEPLOY, "*.yaml")) + glob.glob(os.path.join(DEPLOY, "templates", "*.yaml"))
    for path in sorted(files):
        if os.path.basename(path) in ("kustomization.yaml", "waivers.yaml"):
            continue
        with open(path, encoding="utf-8") as fh:
            out += [(path, doc) for doc in yaml.safe_load_all(fh) if doc]
    return out


def _by_kind(kind):
    return [doc for _path, doc in _objects() if doc["kind"] == kind]


def test_every_manifest_is_valid_against_the_kubernetes_schemas():
    objects = _objects()
    assert {d["kind"] for _, d in objects} >= {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                               "Role", "RoleBinding", "Job", "CronJob", "NetworkPolicy",
                                               "PersistentVolumeClaim"}
    for path, doc in objects:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path}: {doc['kind']} {doc['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_a_broken_manifest_is_caught_by_the_schema_check():
    job = node_jobs.job_template()
    job["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFS"] = True  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


def _resources(path: str) -> tuple[str, str]:
    """(API group, resource) of a list path such as /apis/apps/v1/deployments."""
    parts = path.strip("/").split("/")
    return ("", parts[2]) if parts[0] == "api" else (parts[1], parts[3])


def test_the_read_role_grants_get_and_list_on_exactly_the_kinds_the_collector_reads():
    wanted = {_resources(path) for _kind, path, _fallback in KINDS}
    (role,) = _by_kind("ClusterRole")
    granted = set()
    for rule in role["rules"]:
        assert sorted(rule["verbs"]) == ["get", "list"], rule
        assert "*" not in rule["apiGroups"] and "*" not in rule["resources"]
        assert set(rule) == {"apiGroups", "resources", "verbs"}  # no resourceNames, no nonResourceURLs
        granted |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == wanted
    (binding,) = _by_kind("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "auditor", "namespace": "auditor"}]


def test_the_job_role_is_namespaced_and_only_manages_jobs_and_reads_their_logs():
    (role,) = _by_kind("Role")
    assert role["metadata"]["namespace"] == "auditor"
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): sorted(r["verbs"]) for r in role["rules"]}
    assert rules == {(("batch",), ("jobs",)): ["create", "delete", "get", "list"], (("",), ("pods/log",)): ["get"]}
    (binding,) = _by_kind("RoleBinding")
    assert binding["metadata"]["namespace"] == "auditor" and binding["roleRef"]["kind"] == "Role"
    accounts = {a["metadata"]["name"]: a for a in _by_kind("ServiceAccount")}
    assert all(a.get("automountServiceAccountToken") is False for a in accounts.values())


def test_the_node_collector_mounts_read_only_the_directories_holding_every_layout_path():
    job = node_jobs.job_template()
    with open(os.path.join(DEPLOY, "templates", "node-collector-job.yaml"), encoding="utf-8") as fh, \
            open(node_jobs.JOB_TEMPLATE, encoding="utf-8") as packaged:
        assert fh.read() == packaged.read()  # the shipped template is the one --all-nodes uses
    pod = job["spec"]["template"]["spec"]
    volumes = {v["name"]: v["hostPath"] for v in pod["volumes"]}
    (container,) = pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert set(volumes) == set(mounts)
    assert all(m["readOnly"] is True for m in mounts.values())
    assert all(h["type"] == "Directory" for h in volumes.values())  # never created on the host
    assert all(mounts[n]["mountPath"] == node_jobs.HOST_ROOT + h["path"] for n, h in volumes.items())
    mounted = sorted(h["path"] for h in volumes.values())
    assert mounted == node_jobs.host_mounts()
    paths = node_jobs.layout_paths()
    assert "/etc/kubernetes/manifests/etcd.yaml" in paths and "/var/lib/rancher/k3s/server/tls" in paths
    for path in (*paths, *node_jobs.HOST_FILES):
        assert any(path == m or path.startswith(m + "/") for m in mounted), path
    assert pod["hostPID"] is True and pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] > 0
    keys = {t["key"] for t in pod["tolerations"]}
    assert {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"} <= keys
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["DAC_READ_SEARCH", "SYS_PTRACE"]}
    assert set(container["resources"]["limits"]) == {"cpu", "memory", "ephemeral-storage"}
    assert container["args"][:4] == ["collect", "node", "--root", node_jobs.HOST_ROOT]


def test_the_auditor_passes_its_own_audit_of_the_manifests_with_host_access_waived(tmp_path, capsys):
    out = str(tmp_path / "out")
    code = main(["audit", "--manifests", DEPLOY, "--pack", "pod-security-standards", "--pack", "cis-kubernetes-1.12",
                 "--pack", "container-essentials", "--waivers", os.path.join(DEPLOY, "waivers.yaml"),
                 "--format", "json", "-o", out, "--no-pdf", "--no-html"])
    results = expand_results(json.loads(capsys.readouterr().out))
    assert code == 0
    bad = [(c["pack"], c["id"], c["status"]) for c in results["controls"] if c["status"] in ("fail", "error")]
    assert bad == []
    waived = {(c["pack"], c["id"]) for c in results["controls"] if c["status"] == "waived"}
    assert ("cis-kubernetes-1.12", "5.2.3") in waived
    assert ("pod-security-standards", "baseline.host-path-volumes") in waived
    assert results["waivers"]["unused"] == [] and results["waivers"]["expired"] == []
    for control in results["controls"]:
        for finding in control["findings"]:
            if finding.get("waived"):  # only the node collector's host access and the audit's own rights
                assert finding["subject"]["name"].startswith(("auditor/auditor-node-collector", "auditor/auditor",
                                                              "auditor-read", "auditor")), finding["subject"]
    section5 = [c for c in results["controls"] if c["pack"] == "cis-kubernetes-1.12" and c["section"].startswith("5")
                and c["assessment"] == "automated"]
    assert section5 and all(c["status"] in ("pass", "waived", "not_applicable") for c in section5)
