"""`auditor audit --target cluster --all-nodes` against the loopback replay API server, which
plays the Jobs too (tests/k8s_replay.py JobWorld): Job bodies checked, every node's evidence read
back from its Job's log, faulty nodes reported as errors while the others are judged, everything
created deleted, also on a 403 and on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import nodetree
import pytest
from k8s_replay import JobWorld, NodeSim, ReplayServer, write_kubeconfig

from auditor.cli import main
from auditor.collect.node import collect_node
from auditor.evidence.bundle import build_bundle, load_bundle
from auditor.evidence.framing import frame_bundle
from auditor.results.document import expand_results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "registry.example/auditor:test"



def _interruptible() -> None:
    """Ctrl-C reaches the run even when the tests themselves run as a background job (a shell
    starts those with SIGINT ignored, and a Python started so ignores it too)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def _node(name, *, ready=True, cordoned=False, control_plane=False, message="kubelet is posting ready status"):
    labels = {"kubernetes.io/hostname": name}
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    return {"metadata": {"name": name, "labels": labels}, "spec": {"unschedulable": True} if cordoned else {},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "Unknown",
                                       "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                                       "message": message}]}}


def _log(tmp_path, name, ca, control_plane=False):
    root = str(tmp_path / f"root-{name}")
    os.makedirs(root)
    if control_plane:
        nodetree.kubeadm_tree(root)
        nodetree.write(root, "/etc/kubernetes/kubelet.conf", nodetree.kubelet_kubeconfig(ca), 0o600)
    else:
        nodetree.worker_tree(root, name, ca_pem=ca, kubelet_conf_mode=0o644 if name == "worker-1" else 0o600)
    return frame_bundle(build_bundle(collect_node(root=root, node_name=name), root="/host"))


@pytest.fixture
def cluster(tmp_path):
    world = JobWorld()
    server = ReplayServer(jobs=world)
    with open(server.cert, "rb") as fh:
        ca = fh.read()
    nodes = [_node("cp-1", control_plane=True), _node("worker-1"), _node("worker-2"), _node("worker-3"),
             _node("worker-4", ready=False, message="Kubelet stopped posting node status."),
             _node("worker-5", cordoned=True), _node("worker-6"), _node("worker-7")]
    server.routes["/api/v1/nodes"] = {"path": "/api/v1/nodes", "pages": [
        {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": nodes}]}
    world.nodes = {"cp-1": NodeSim(_log(tmp_path, "cp-1", ca, control_plane=True), polls=2),
                   "worker-1": NodeSim(_log(tmp_path, "worker-1", ca), polls=3),
                   "worker-2": NodeSim(behaviour="hang"),
                   "worker-3": NodeSim(_log(tmp_path, "worker-3", ca), behaviour="cut"),
                   "worker-6": NodeSim(behaviour="fail"),
                   "worker-7": NodeSim("Error: failed to create containerd task: exec format error\n")}
    kubeconfig = write_kubeconfig(str(tmp_path / "kubeconfig"), {"prod": (server, server.token)}, "prod")
    yield server, world, kubeconfig
    server.stop()


def _audit(kubeconfig, out, *extra):
    return main(["audit", "--target", "cluster", "--all-nodes", "--kubeconfig", kubeconfig, "--node-image", IMAGE,
                 "--node-timeout", "1.5", "--node-parallel", "2", "--pack", "cis-kubernetes-1.12", "--format", "json",
                 "-o", out, "--no-pdf", "--no-html", *extra])


def test_every_node_is_judged_or_an_error_with_its_reason(cluster, tmp_path, capsys):
    server, world, kubeconfig = cluster
    code = _audit(kubeconfig, str(tmp_path / "out"))
    captured = capsys.readouterr()
    results = expand_results(json.loads(captured.out))
    assert code == 3  # some nodes could not be collected: incomplete, and the rest is judged
    hosts = {h["host"]: h for h in results["hosts"]}
    assert set(hosts) == {f"worker-{i}" for i in range(1, 8)} | {"cp-1"}
    assert hosts["cp-1"]["score"] is not None and hosts["worker-1"]["score"] is not None
    assert hosts["cp-1"]["roles"] == ["control-plane", "etcd", "worker"]
    assert hosts["worker-4"]["roles"] == ["worker"] and not hosts["worker-4"]["complete"]
    assert [h["host"] for h in results["hosts"][:6]] == sorted(f"worker-{i}" for i in (2, 3, 4, 5, 6, 7))
    control = next(c for c in results["controls"] if c["id"] == "4.1.5")  # kubelet kubeconfig mode
    reasons = {f["subject"]["host"]: f.get("message", f["status"]) for f in control["findings"]}
    assert reasons["worker-1"] == "fail" and reasons["cp-1"] == "pass"
    assert "did not finish within 1.5 s (pod cannot be scheduled: 0/3 nodes are available" in reasons["worker-2"]
    assert "the evidence was cut off" in reasons["worker-3"]
    assert "node is NotReady (Kubelet stopped posting node status.)" in reasons["worker-4"]
    assert "node is cordoned" in reasons["worker-5"]
    assert "collector Job failed: BackoffLimitExceeded" in reasons["worker-6"]
    assert "holds no framed evidence bundle (it says: 'Error: failed to create containerd task" in reasons["worker-7"]
    assert control["hosts"]["failing"] == ["worker-1"] and len(control["hosts"]["erroring"]) == 6
    assert any(c["pack"] == "cis-kubernetes-1.12" and c["section"].startswith("5") and c["status"] == "fail"
               for c in results["controls"])  # the cluster's own objects are judged alongside
    # Jobs: one per schedulable node, pinned by name, this image and deadline, all deleted again
    def pinned(body):
        affinity = body["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
        terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        return terms[0]["matchFields"][0]["values"][0]

    created = {pinned(b): b for b in world.created}
    assert set(created) == {"cp-1", "worker-1", "worker-2", "worker-3", "worker-6", "worker-7"}
    for node, body in created.items():
        pod = body["spec"]["template"]["spec"]
        assert body["metadata"]["namespace"] == "auditor" and body["metadata"]["labels"]["auditor.invalid/node"] == node
        assert pod["containers"][0]["image"] == IMAGE and pod["hostPID"] is True
        assert body["spec"]["activeDeadlineSeconds"] == 2 and body["spec"]["backoffLimit"] == 0
        assert pod["containers"][0]["args"][:6] == ["collect", "node", "--root", "/host", "--node-name", "$(NODE_NAME)"]
    assert sorted(world.deleted) == sorted(b["metadata"]["name"] for b in world.created) and world.live == {}
    assert world.max_live <= 2  # --node-parallel 2
    posts = [r for r in server.requests if r.method != "GET"]
    assert {r.method for r in posts} == {"POST", "DELETE"}
    assert all(r.body["propagationPolicy"] == "Background" for r in posts if r.method == "DELETE")
    out = tmp_path / "out"
    evidence = next(os.path.join(out, n) for n in os.listdir(out) if n.endswith(".evidence.json"))
    doc = load_bundle(evidence)
    assert len(doc["metadata"]["parts"]) == 9 and doc["metadata"]["complete"] is False


def test_a_403_on_job_creation_makes_every_node_an_error_and_creates_nothing(cluster, tmp_path, capsys):
    server, world, kubeconfig = cluster
    world.forbid_create = 'jobs.batch is forbidden: User "system:serviceaccount:auditor:auditor" cannot create'
    code = _audit(kubeconfig, str(tmp_path / "out"))
    results = expand_results(json.loads(capsys.readouterr().out))
    assert code == 3
    control = next(c for c in results["controls"] if c["id"] == "4.1.5")
    assert control["status"] == "error" and len(control["hosts"]["erroring"]) == 8
    assert all("refused: HTTP 403: jobs.batch is forbidden" in f["message"] or "node is" in f["message"]
               for f in control["findings"])
    assert world.created == [] and len([r for r in server.requests if r.method == "POST"]) <= 2


def test_ctrl_c_deletes_every_job_it_created_and_saves_what_was_gathered(cluster, tmp_path):
    server, world, kubeconfig = cluster
    for sim in world.nodes.values():
        sim.behaviour = "hang"
    out = str(tmp_path / "out")
    env = {**os.environ, "PYTHONPATH": REPO, "AUDITOR_NO_PDF": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "audit", "--target", "cluster", "--all-nodes",
                             "--kubeconfig", kubeconfig, "--node-timeout", "60", "--node-parallel", "3", "-o", out,
                             "--no-html"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_interruptible)
    try:
        for _ in range(300):
            if len(world.live) == 3:
                break
            time.sleep(0.05)
        assert len(world.live) == 3
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert world.live == {} and sorted(world.deleted) == sorted(b["metadata"]["name"] for b in world.created)
    saved = [n for n in os.listdir(out) if n.endswith(".evidence.json")]
    doc = load_bundle(os.path.join(out, saved[0]))
    assert doc["metadata"]["complete"] is False and "interrupted" in doc["metadata"]["incomplete_reason"]
    assert b"interrupted" in err
