"""The live cluster collector against a loopback HTTPS server replaying recorded API responses
(tests/k8s_replay.py): no API server can run on the test machines."""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest
from k8s_replay import ReplayServer, write_kubeconfig

from auditor.cli import main
from auditor.collect.cluster import KINDS, collect_cluster
from auditor.common.jsonio import canonical_json
from auditor.evidence.bundle import build_bundle

CANARY = "CANARY-c4nary-db8f2e91-do-not-leak"
CANARY_B64 = base64.b64encode(CANARY.encode()).decode()


@pytest.fixture
def server():
    s = ReplayServer()
    yield s
    s.stop()


@pytest.fixture
def kubeconfig(server, tmp_path):
    return write_kubeconfig(str(tmp_path / "kubeconfig"), {"prod": (server, server.token)}, "prod")


def _names(collected, target):
    return [i["subject"]["name"] for i in collected.targets[target]]


def test_every_page_of_every_kind_is_read(server, kubeconfig):
    c = collect_cluster(kubeconfig=kubeconfig, page_size=2)
    assert c.errors == [] and c.target_errors == {}
    for path, route in server.routes.items():
        if "pages" not in route:
            continue
        requests = server.requests_for(path)
        table = "table_pages" in route
        pages = route["table_pages"] if table else route["pages"]
        assert len(requests) == len(pages), path
        assert [r.query.get("continue") for r in requests] == [None] + [p["metadata"]["continue"] for p in pages[:-1]]
        assert all(r.query["limit"] == "2" for r in requests)
    kinds = c.targets["k8s.cluster"][0]["kinds"]
    assert kinds["Pod"] == 13 and kinds["ServiceAccount"] == 8 and kinds["Deployment"] == 4  # 3, 2 and 2 pages
    assert kinds["ValidatingAdmissionPolicy"] == 1  # v1 is not served here: read from v1beta1
    assert len(server.requests_for("/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies")) == 1
    assert all(r.authorization == f"Bearer {server.token}" for r in server.requests)


def test_objects_become_the_same_targets_as_manifests(kubeconfig):
    c = collect_cluster(kubeconfig=kubeconfig, page_size=2)
    # Pods owned by a ReplicaSet, StatefulSet or DaemonSet of the input are judged through it; the
    # ReplicaSets through their Deployments, the CronJob's Job through the CronJob.
    assert sorted(_names(c, "k8s.pod")) == sorted([
        "kube-system/kube-apiserver-cp-1", "shop/debug-shell", "shop/web", "shop/api", "kube-system/coredns",
        "payments/ledger", "payments/db", "kube-system/kube-proxy", "shop/nightly-report", "payments/db-migrate"])
    web = next(i for i in c.targets["k8s.pod"] if i["subject"]["name"] == "shop/web")
    assert web["subject"]["kind"] == "Deployment" and web["object"]["kind"] == "Pod"
    assert web["object"]["metadata"]["namespace"] == "shop" and "file" not in web["subject"]
    static = next(i for i in c.targets["k8s.pod"] if i["subject"]["name"] == "kube-system/kube-apiserver-cp-1")
    assert static["owner"] == {"kind": "Node", "name": "cp-1"} and static["object"]["apiVersion"] == "v1"
    assert static["subject"]["id"] == static["object"]["metadata"]["uid"]
    ns = {i["subject"]["name"]: i["derived"] for i in c.targets["k8s.namespace"]}
    assert ns["payments"] == {"declared": True, "network_policies": 1, "limit_ranges": 1, "resource_quotas": 1,
                              "pods": 3, "workloads": 3,
                              "pss": {"enforce": "restricted", "audit": "restricted", "warn": None}}
    assert ns["default"]["pods"] == 0 and set(ns) == {"default", "kube-system", "kube-public", "kube-node-lease",
                                                       "shop", "payments"}
    cluster = c.targets["k8s.cluster"][0]
    assert cluster["subject"] == {"type": "cluster", "name": "prod"} and cluster["version"]["gitVersion"] == "v1.30.4"
    assert _names(c, "k8s.clusterrolebinding") == ["cluster-admin", "web-admin", "system:coredns"]
    crb = c.targets["k8s.clusterrolebinding"][0]["object"]
    assert crb["kind"] == "ClusterRoleBinding" and crb["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert len(c.targets["k8s.container"]) == 10


def test_secret_values_never_reach_the_process_or_the_bundle(server, kubeconfig):
    c = collect_cluster(kubeconfig=kubeconfig, page_size=2)
    requests = server.requests_for("/api/v1/secrets")
    assert requests and all("as=Table" in r.accept and r.query["includeObject"] == "Metadata" for r in requests)
    secrets = {i["subject"]["name"]: i["object"] for i in c.targets["k8s.secret"]}
    assert secrets["payments/db-credentials"]["type"] == "Opaque"
    assert secrets["kube-system/bootstrap-token-abcdef"]["type"] == "bootstrap.kubernetes.io/token"
    blob = canonical_json(build_bundle(c))
    assert CANARY_B64.encode() not in blob and CANARY.encode() not in blob


def test_a_server_that_ignores_the_table_request_still_leaves_no_values(server, kubeconfig):
    del server.routes["/api/v1/secrets"]["table_pages"]  # full SecretList with data, as an old server would
    c = collect_cluster(kubeconfig=kubeconfig, page_size=2)
    assert len(c.targets["k8s.secret"]) == 3 and all("data" not in i["object"] for i in c.targets["k8s.secret"])
    assert CANARY_B64.encode() not in canonical_json(build_bundle(c))


def test_forbidden_kind_errors_only_its_targets(server, kubeconfig):
    server.forbidden["/api/v1/secrets"] = ('secrets is forbidden: User "system:serviceaccount:audit:auditor" cannot '
                                          'list resource "secrets" in API group "" at the cluster scope')
    server.forbidden["/apis/networking.k8s.io/v1/networkpolicies"] = "networkpolicies is forbidden"
    c = collect_cluster(kubeconfig=kubeconfig, page_size=2)
    assert set(c.target_errors) == {"k8s.secret", "k8s.networkpolicy"}
    assert "HTTP 403 forbidden: secrets is forbidden" in c.target_errors["k8s.secret"]
    assert c.targets["k8s.secret"] == [] and len(c.targets["k8s.pod"]) == 10
    cluster = c.targets["k8s.cluster"][0]
    assert set(cluster["forbidden"]) == {"Secret", "NetworkPolicy"}
    # namespace facts counted from network policies cannot be trusted: errors on that fact only
    shop = next(i for i in c.targets["k8s.namespace"] if i["subject"]["name"] == "shop")
    assert set(shop["errors"]) == {"derived.network_policies"}
    doc = build_bundle(c)
    assert doc["metadata"]["complete"] is False


def test_a_slow_page_times_out_that_kind_only_and_keeps_the_pages_read(server, kubeconfig):
    server.delays[("/api/v1/pods", 1)] = 3.0  # the second page never comes in time
    start = time.perf_counter()
    c = collect_cluster(kubeconfig=kubeconfig, page_size=2, timeout=1.0)
    assert time.perf_counter() - start < 2.9
    assert set(c.target_errors) == {"k8s.pod", "k8s.container"}
    message = c.target_errors["k8s.pod"]
    assert "/api/v1/pods" in message and "after 1 pages, 5 objects" in message and "timed out" in message.lower()
    assert c.targets["k8s.cluster"][0]["kinds"]["Pod"] == 5  # the first page is kept
    assert len(c.targets["k8s.serviceaccount"]) == 8  # other kinds unaffected
    shop = next(i for i in c.targets["k8s.namespace"] if i["subject"]["name"] == "shop")
    assert {"derived.pods", "derived.workloads"} <= set(shop["errors"])


def test_context_selects_server_and_credentials(tmp_path):
    prod, staging = ReplayServer(token="prod-token"), ReplayServer(token="staging-token")
    try:
        path = write_kubeconfig(str(tmp_path / "config"), {"prod": (prod, "prod-token"),
                                                           "staging": (staging, "staging-token")}, "prod")
        c = collect_cluster(kubeconfig=path, context="staging")
        assert c.errors == [] and c.targets["k8s.cluster"][0]["subject"]["name"] == "staging"
        assert staging.requests and not prod.requests
        c = collect_cluster(kubeconfig=path)  # the current context
        assert c.targets["k8s.cluster"][0]["subject"]["name"] == "prod" and prod.requests
    finally:
        prod.stop()
        staging.stop()


def test_wrong_token_is_an_error_on_every_kind(server, tmp_path):
    path = write_kubeconfig(str(tmp_path / "config"), {"prod": (server, "stolen")}, "prod")
    c = collect_cluster(kubeconfig=path)
    assert len(c.target_errors) >= len({t for t in c.target_errors}) and "k8s.pod" in c.target_errors
    assert "HTTP 401 unauthorized" in c.target_errors["k8s.pod"]


def test_unreachable_server_and_missing_kubeconfig(tmp_path, server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    server.url = f"https://127.0.0.1:{port}"
    path = write_kubeconfig(str(tmp_path / "config"), {"gone": (server, server.token)}, "gone")
    c = collect_cluster(kubeconfig=path, timeout=2)
    assert "k8s.pod" in c.target_errors and "cannot reach the Kubernetes API" in c.errors[0]["message"]
    assert c.targets == {}
    optional = collect_cluster(kubeconfig=path, timeout=2, required=False)
    assert optional.errors == [] and optional.sources[0]["status"] == "unreachable"
    missing = collect_cluster(kubeconfig=str(tmp_path / "nope"))
    assert missing.errors[0]["message"].startswith(f"cannot load Kubernetes configuration from {tmp_path}/nope")


def test_cli_collect_and_audit_cluster(server, kubeconfig, tmp_path, capsys):
    out = tmp_path / "evidence.json"
    assert main(["collect", "cluster", "--kubeconfig", kubeconfig, "--context", "prod", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["targets"]["k8s.cluster"][0]["subject"]["name"] == "prod"
    assert CANARY_B64 not in out.read_text()
    code = main(["audit", "--target", "cluster", "--kubeconfig", kubeconfig, "--format", "json",
                 "-o", str(tmp_path / "r")])
    results = json.loads(capsys.readouterr().out)
    assert code in (0, 1) and results["evidence"]["targets"]["k8s.pod"] == 10
    assert len(KINDS) == 23


def test_audit_without_target_collects_what_answers_and_lists_the_rest(server, kubeconfig, tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    root = tmp_path / "root"
    root.mkdir()
    code = main(["audit", "--root", str(root), "--format", "json", "-o", str(tmp_path / "r")])
    capsys.readouterr()
    assert code in (0, 1)  # nothing unreachable counts as incomplete
    [evidence_file] = [f for f in (tmp_path / "r").iterdir() if f.name.endswith(".evidence.json")]
    assert evidence_file.name.startswith("cluster-")
    evidence = json.loads(evidence_file.read_text())
    sources = {s["name"]: s for s in evidence["metadata"]["sources"]}
    assert sources["docker"]["status"] == "unreachable" and "no-docker.sock" in sources["docker"]["detail"]
    assert sources["node"]["status"] == "unreachable"
    assert sources["k8s.api"]["status"] == "ok" and evidence["metadata"]["complete"] is True
    assert len(evidence["targets"]["k8s.pod"]) == 10 and "docker.daemon" not in evidence["targets"]


def test_in_cluster_configuration_reads_the_pod_service_account(server, tmp_path, monkeypatch):
    """As in a pod: KUBERNETES_SERVICE_HOST/PORT and the mounted service account (token and CA)."""
    import shutil

    import auditor.collect.cluster as cluster

    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(server.token)
    shutil.copy(server.cert, account / "ca.crt")
    (account / "namespace").write_text("auditing")
    monkeypatch.setattr(cluster, "SERVICE_ACCOUNT_DIR", str(account))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    assert cluster.cluster_configured() is None  # discovery sees the pod's service account
    c = collect_cluster(in_cluster=True, page_size=50)
    assert c.errors == [] and c.target_errors == {}
    assert c.targets["k8s.cluster"][0]["kinds"]["Pod"] == 13
    # the in-cluster loader writes the scheme in lower case ("bearer TOKEN"), which API servers accept
    assert server.requests and all(r.authorization.lower() == f"bearer {server.token}" for r in server.requests)
    # without the mounted token: one clear error, no traceback
    (account / "token").unlink()
    assert cluster.cluster_configured() is not None
    c = collect_cluster(in_cluster=True)
    assert c.targets == {} or not c.targets.get("k8s.pod")
    assert any("in-cluster service account" in e["message"] for e in c.errors), c.errors
