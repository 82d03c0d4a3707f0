"""A Kubernetes API server (the loopback replay server) that trickles, loops its pagination, fails,
cuts answers off or answers the wrong shape: the run ends within its deadline, exits 3, lists the
error in the evidence, judges nothing it could not read as pass or not applicable, and never
shows a traceback (issue 18, parts 1, 2, 7)."""

from __future__ import annotations

import json

import pytest
from fuzz.hostile import run_cli, tally
from k8s_replay import ReplayServer, write_kubeconfig

from auditor.collect import cluster
from auditor.collect.cluster import collect_cluster
from auditor.results.document import expand_results

PODS = "/api/v1/pods"
VAP = "/apis/admissionregistration.k8s.io/v1beta1/validatingadmissionpolicies"


@pytest.fixture
def replay():
    servers: list[ReplayServer] = []

    def start(faults: dict) -> ReplayServer:
        server = ReplayServer(faults=faults)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.stop()


def _kubeconfig(server: ReplayServer, tmp_path) -> str:
    return write_kubeconfig(str(tmp_path / "kc"), {"prod": (server, server.token)}, "prod")


def _pod_page(items: list) -> dict:
    return {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}


FAULTS = {
    "http-500": ("status", 500, "etcdserver: request timed out"),
    "http-403": ("status", 403, "pods is forbidden: User cannot list resource"),
    "http-404": ("status", 404, "the server could not find the requested resource"),
    "cut-body": ("cut", _pod_page([{"metadata": {"name": "p", "namespace": "default"}, "spec": {}}] * 20)),
    "empty-object": ("json", {}),
    "list-not-object": ("json", [{"metadata": {"name": "p"}}]),
    "item-without-metadata": ("json", _pod_page([{"spec": {"containers": [{"securityContext":
                                                                           {"privileged": True}}]}}])),
    "spec-not-object": ("json", _pod_page([{"metadata": {"name": "p", "namespace": "default"}, "spec": [1]}])),
    "no-containers": ("json", _pod_page([{"metadata": {"name": "p", "namespace": "default"}, "spec": {}}])),
    "trickle": ("trickle", _pod_page([{"metadata": {"name": "p" * 50}}] * 10), 0.3),
    "looping-continue": ("loop",),
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_unreadable_pods_are_an_error_never_a_pass(replay, tmp_path, fault):
    server = replay({PODS: FAULTS[fault]})
    run = run_cli(["audit", "--target", "cluster", "--kubeconfig", _kubeconfig(server, tmp_path), "--timeout", "1",
                   "--deadline", "8", "--no-html", "-o", str(tmp_path / "out"), "--format", "json",
                   ], env={"HOME": str(tmp_path)}, timeout=60)
    tally("faults")
    assert run.code == 3, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and run.seconds < 8 + 6, run.seconds
    [evidence] = list((tmp_path / "out").glob("*.evidence.json"))
    meta = json.loads(evidence.read_text())["metadata"]
    assert meta["complete"] is False and "k8s.pod" in meta["target_errors"], meta
    assert any("list Pod" in e["message"] for e in meta["errors"])
    results = expand_results(json.loads(run.stdout))
    pod_controls = [c for c in results["controls"] if c["target"] == "k8s.pod"]
    assert pod_controls and {c["status"] for c in pod_controls} == {"error"}, \
        {c["id"]: c["status"] for c in pod_controls if c["status"] != "error"}
    namespaces = [c for c in results["controls"] if c["target"] == "k8s.namespace"]
    assert namespaces and {c["status"] for c in namespaces} - {"error"}  # the rest was judged
    if fault == "looping-continue":
        assert len(server.requests_for(PODS)) == 2  # the repeat is seen at once
        assert "repeated a continue token" in meta["target_errors"]["k8s.pod"]
    if fault == "http-404":
        assert "a kind every API server serves" in meta["target_errors"]["k8s.pod"]


def test_trickling_api_server_costs_the_timeout(replay, tmp_path):
    server = replay({PODS: FAULTS["trickle"]})
    run = run_cli(["collect", "cluster", "--kubeconfig", _kubeconfig(server, tmp_path), "--timeout", "1.5",
                   "-o", str(tmp_path / "ev.json")], env={"HOME": str(tmp_path)}, timeout=60)
    assert run.code == 3 and "Traceback" not in run.stderr, run.stderr
    assert run.seconds < 1.5 + 5, run.seconds  # ~2 KB at 3 bytes a second would be ten minutes
    doc = json.loads((tmp_path / "ev.json").read_text())
    assert "within 1.5s" in doc["metadata"]["target_errors"]["k8s.pod"]
    assert doc["targets"]["k8s.namespace"]


def test_page_cap_stops_a_list_that_never_ends(replay, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "MAX_PAGES", 1)
    server = replay({})
    collected = collect_cluster(kubeconfig=_kubeconfig(server, tmp_path), timeout=5, page_size=1)
    assert "more than 1 pages" in collected.target_errors["k8s.pod"]


def test_optional_kind_is_not_served_only_where_discovery_agrees(replay, tmp_path):
    discovery = {"kind": "APIResourceList", "groupVersion": "admissionregistration.k8s.io/v1beta1",
                 "resources": [{"name": "validatingadmissionpolicies", "kind": "ValidatingAdmissionPolicy"}]}
    server = replay({VAP: ("status", 404, "not found"),
                     "/apis/admissionregistration.k8s.io/v1beta1": ("json", discovery)})
    collected = collect_cluster(kubeconfig=_kubeconfig(server, tmp_path), timeout=5)
    reason = next(e["message"] for e in collected.errors if "ValidatingAdmissionPolicy " in e["message"])
    assert "which discovery lists as served" in reason
    # without discovery listing it, the same 404 is "not served"
    server = replay({VAP: ("status", 404, "not found")})
    collected = collect_cluster(kubeconfig=_kubeconfig(server, tmp_path), timeout=5)
    assert not [e for e in collected.errors if "ValidatingAdmissionPolicy " in e["message"]]
    assert any(s["status"] == "absent" and "validatingadmissionpolicies" in s["detail"] for s in collected.sources)


def test_error_text_echoing_the_token_is_redacted(replay, tmp_path):
    token = "eyJhbGciOiJSUzI1NiJ9.c2VydmljZWFjY291bnQ.c2lnbmF0dXJlMTIzNDU2Nzg5"
    server = replay({PODS: ("status", 403, f"denied; request headers: Authorization: Bearer {token}")})
    run = run_cli(["collect", "cluster", "--kubeconfig", _kubeconfig(server, tmp_path), "--timeout", "2",
                   "-o", str(tmp_path / "ev.json")], env={"HOME": str(tmp_path)}, timeout=60)
    assert run.code == 3
    text = (tmp_path / "ev.json").read_text() + run.stderr
    assert "HTTP 403" in text and token not in text and "c2VydmljZWFjY291bnQ" not in text


def test_busy_api_server_is_retried_after_retry_after(replay, tmp_path):
    server = replay({})
    answered: list[int] = []
    original = server._answer

    def busy_twice(handler):  # 503 + Retry-After for the first two pod list requests
        if handler.path.startswith(PODS + "?") and len(answered) < 2:
            answered.append(503)
            handler.send_response(503)
            handler.send_header("Retry-After", "1")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        return original(handler)
    server._answer = busy_twice
    collected = collect_cluster(kubeconfig=_kubeconfig(server, tmp_path), timeout=5)
    assert answered == [503, 503] and "k8s.pod" not in collected.target_errors
    assert collected.targets["k8s.pod"]
