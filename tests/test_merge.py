"""`auditor merge`: node bundles from real temporary node roots (kubeadm control plane, workers,
k3s), the cluster collection from the replay API server, into one bundle whose verdicts are the
parts' verdicts; bad inputs refused with one line naming the input."""

from __future__ import annotations

import json
import os

import nodetree
import pytest
from k8s_replay import ReplayServer, write_kubeconfig

from auditor.collect.cluster import collect_cluster
from auditor.collect.node import collect_node
from auditor.common.errors import InputError
from auditor.evidence.bundle import build_bundle, load_bundle, save_bundle
from auditor.evidence.merge import merge_bundles
from auditor.judging.engine import evaluate
from auditor.packs.loader import resolve_packs
from auditor.results.document import build_results, validate_results


@pytest.fixture(scope="module")
def server():
    s = ReplayServer()
    yield s
    s.stop()


def _ca(server) -> bytes:
    with open(server.cert, "rb") as fh:
        return fh.read()


def _node_bundle(tmp_path, name, build, **kw) -> str:
    root = str(tmp_path / f"root-{name}")
    os.makedirs(root)
    build(root, **kw)
    path = str(tmp_path / f"{name}.evidence.json")
    save_bundle(build_bundle(collect_node(root=root), root=root), path)
    return path


def _cp(root, ca_pem):
    nodetree.kubeadm_tree(root)
    nodetree.write(root, "/etc/kubernetes/kubelet.conf", nodetree.kubelet_kubeconfig(ca_pem), 0o600)
    nodetree.write(root, "/etc/kubernetes/pki/ca.crt", ca_pem.decode(), 0o644)


def _k3s(root, ca_pem):
    nodetree.write(root, "/etc/hostname", "k3s-1\n", 0o644)
    nodetree.write(root, "/etc/rancher/k3s/config.yaml", "write-kubeconfig-mode: '0600'\n", 0o600)
    nodetree.write(root, "/etc/rancher/k3s/k3s.yaml", "apiVersion: v1\n", 0o644)  # too open: fails 1.1.13-like
    nodetree.write(root, "/var/lib/rancher/k3s/agent/kubelet.kubeconfig", nodetree.kubelet_kubeconfig(ca_pem),
                   0o600)


@pytest.fixture
def cluster(server, tmp_path):
    """Bundles of one cluster: the API objects, a kubeadm control plane, three workers (w-2's
    kubelet kubeconfig is world readable) and a k3s node."""
    ca = _ca(server)
    kubeconfig = write_kubeconfig(str(tmp_path / "kubeconfig"), {"prod": (server, server.token)}, "prod")
    cluster_path = str(tmp_path / "cluster.evidence.json")
    save_bundle(build_bundle(collect_cluster(kubeconfig=kubeconfig)), cluster_path)
    nodes = [_node_bundle(tmp_path, "cp-1", _cp, ca_pem=ca)]
    for name in ("w-1", "w-2", "w-3"):
        nodes.append(_node_bundle(tmp_path, name, nodetree.worker_tree, hostname=name, ca_pem=ca,
                                  kubelet_conf_mode=0o644 if name == "w-2" else 0o600))
    nodes.append(_node_bundle(tmp_path, "k3s-1", _k3s, ca_pem=ca))
    return cluster_path, nodes


def _evaluate(doc):
    packs = resolve_packs(["cis-kubernetes-1.12", "pod-security-standards"])
    return build_results(doc, evaluate(doc, packs))


def _combined(statuses):
    for status in ("fail", "error", "pass"):
        if status in statuses:
            return status
    return statuses[0] if len(set(statuses)) == 1 else "not_applicable"


def test_merged_bundle_keeps_each_node_a_subject_and_the_inputs_hashes(cluster):
    cluster_path, nodes = cluster
    merged = merge_bundles([cluster_path, *nodes])
    meta = merged["metadata"]
    hosts = [p["host"] for p in meta["parts"] if p["host"]]
    assert hosts == ["cp-1", "w-1", "w-2", "w-3", "k3s-1"]
    assert {p["sha256"] for p in meta["parts"]} == {load_bundle(p)["sha256"] for p in [cluster_path, *nodes]}
    assert [m["source"] for m in meta["merged_from"]] == [cluster_path, *nodes]
    assert next(p for p in meta["parts"] if p["host"] == "cp-1")["roles"] == ["control-plane", "etcd", "worker"]
    assert next(p for p in meta["parts"] if p["host"] == "k3s-1")["kinds"] == ["node"]
    assert {i["subject"]["host"] for i in merged["targets"]["host.file"]} == set(hosts)
    assert all("host" not in i["subject"] for i in merged["targets"]["k8s.pod"])
    cas = {p.get("cluster_ca_sha256") for p in meta["parts"]}
    assert len(cas) == 1 and None not in cas  # the kubelets trust the CA the kubeconfig names


def test_evaluating_merged_equals_evaluating_the_parts(cluster, tmp_path):
    cluster_path, nodes = cluster
    merged = merge_bundles([cluster_path, *nodes])
    merged_results = _evaluate(merged)
    validate_results(json.loads(json.dumps(merged_results)))
    parts = {path: _evaluate(load_bundle(path)) for path in [cluster_path, *nodes]}
    hosts = {path: load_bundle(path)["targets"].get("node.info", [{}])[0].get("subject", {}).get("name")
             for path in parts}
    for control in merged_results["controls"]:
        key = (control["pack"], control["id"])
        own = [next(c for c in r["controls"] if (c["pack"], c["id"]) == key) for r in parts.values()]
        assert control["status"] == _combined([c["status"] for c in own]), key
        expected = []
        for path, c in zip(parts, own, strict=True):
            for f in c["findings"]:
                subject = dict(f["subject"])
                if hosts[path] and subject.get("type") != "cluster" and "namespace" not in subject \
                        and "file" not in subject and not subject.get("kind"):
                    subject["host"] = hosts[path]
                expected.append({**f, "subject": subject})
        key_of = lambda f: json.dumps(f, sort_keys=True)  # noqa: E731
        assert sorted(map(key_of, control["findings"])) == sorted(map(key_of, expected)), key
    # "fails on 1 of 4": 4.1.5-like kubelet kubeconfig permissions fail on w-2 only
    kubeconfig_mode = next(c for c in merged_results["controls"]
                           if c["pack"] == "cis-kubernetes-1.12" and c["status"] == "fail"
                           and c.get("hosts", {}).get("failing") == ["w-2"])
    assert kubeconfig_mode["hosts"]["roles"]["worker"]["fail"] == 1
    assert kubeconfig_mode["hosts"]["total"] >= 4
    scores = merged_results["hosts"]
    assert {h["host"] for h in scores} == {"cp-1", "w-1", "w-2", "w-3", "k3s-1"}
    w2 = next(h for h in scores if h["host"] == "w-2")
    w1 = next(h for h in scores if h["host"] == "w-1")
    assert w2["counts"]["fail"] == w1["counts"]["fail"] + 1 and w2["score"] < w1["score"]
    assert scores.index(w2) < scores.index(w1)  # worst first


def test_a_node_that_could_not_collect_is_an_error_for_its_controls_only(cluster, tmp_path):
    cluster_path, nodes = cluster
    doc = load_bundle(nodes[2])  # w-2
    doc["metadata"]["target_errors"] = {"host.file": "pod unschedulable: 0/4 nodes available"}
    doc["metadata"]["complete"] = False
    from auditor.evidence.bundle import content_sha256

    doc["sha256"] = content_sha256(doc)
    broken = str(tmp_path / "w-2-broken.json")
    save_bundle(doc, broken)
    merged = merge_bundles([cluster_path, nodes[0], nodes[1], broken])
    assert merged["metadata"]["complete"] is False and "w-2" in merged["metadata"]["incomplete_reason"]
    results = _evaluate(merged)
    file_controls = [c for c in results["controls"] if c["target"] == "host.file"]
    assert file_controls
    for control in file_controls:
        errors = [f for f in control["findings"] if f["status"] == "error"]
        assert [f["subject"] for f in errors] == [{"type": "node", "name": "w-2", "host": "w-2"}]
        assert "pod unschedulable" in errors[0]["message"]
        assert control["hosts"]["erroring"] == ["w-2"]
        judged = {f["subject"]["host"] for f in control["findings"] if f["status"] != "error"}
        assert "w-2" not in judged
    process = [c for c in results["controls"] if c["target"] == "node.kubelet"]
    assert any(c["status"] == "pass" for c in process)  # w-2's kubelet item is still judged


def _rewrite(path, tmp_path, name, change):
    from auditor.evidence.bundle import content_sha256

    doc = load_bundle(path)
    change(doc)
    doc["sha256"] = content_sha256(doc)
    out = str(tmp_path / name)
    save_bundle(doc, out)
    return out


def test_bad_inputs_are_refused_naming_the_input(cluster, tmp_path, server):
    cluster_path, nodes = cluster
    with pytest.raises(InputError, match=r"w-1.evidence.json: is the same bundle as .*w-1.evidence.json"):
        merge_bundles([nodes[1], nodes[1]])
    again = _rewrite(nodes[1], tmp_path, "w-1-again.json",
                     lambda d: d["metadata"].update(collected_at="2026-01-01T00:00:00Z"))
    with pytest.raises(InputError, match=r"w-1-again.json: host 'w-1' is already in .*w-1.evidence.json "
                                         r"\(conflicting evidence"):
        merge_bundles([cluster_path, nodes[1], again])
    with pytest.raises(InputError, match="holds a cluster collection"):
        merge_bundles([cluster_path, _rewrite(cluster_path, tmp_path, "c2.json",
                                              lambda d: d["metadata"].update(host="other"))])
    other = _node_bundle(tmp_path, "w-9", nodetree.worker_tree, hostname="w-9",
                         ca_pem=b"-----BEGIN CERTIFICATE-----\nb3RoZXIgY2x1c3Rlcg==\n-----END CERTIFICATE-----\n")
    with pytest.raises(InputError, match=r"w-9.evidence.json: node 'w-9' belongs to another cluster than "):
        merge_bundles([cluster_path, nodes[1], other])
    tampered = str(tmp_path / "tampered.json")
    doc = json.load(open(nodes[1]))
    doc["targets"]["host.file"][0]["mode"] = "0600" if doc["targets"]["host.file"][0]["mode"] != "0600" else "0644"
    json.dump(doc, open(tampered, "w"))
    with pytest.raises(InputError, match=r"tampered.json: sha256 does not match"):
        merge_bundles([cluster_path, tampered])
    log = str(tmp_path / "job.log")
    with open(log, "w") as fh:
        fh.write("Error from server (BadRequest): container \"collector\" in pod is waiting to start\n")
    with pytest.raises(InputError, match=r"job.log"):
        merge_bundles([cluster_path, log])


def test_a_merged_bundle_merges_again_and_loads(cluster, tmp_path):
    cluster_path, nodes = cluster
    first = str(tmp_path / "first.json")
    save_bundle(merge_bundles([cluster_path, nodes[0]]), first)
    again = merge_bundles([first, *nodes[1:]])
    assert [p["host"] for p in again["metadata"]["parts"]] == [None, "cp-1", "w-1", "w-2", "w-3", "k3s-1"]
    with pytest.raises(InputError, match="host 'cp-1' is already in"):
        merge_bundles([first, nodes[0]])
    path = str(tmp_path / "again.json")
    save_bundle(again, path)
    assert load_bundle(path)["sha256"] == again["sha256"]


def test_reports_roll_up_per_host_and_the_diff_compares_node_by_node(cluster, tmp_path):
    from auditor.report.diff_table import render_diff_table
    from auditor.report.html import render_html
    from auditor.report.terminal import render_table
    from auditor.results.diff import diff_results

    cluster_path, nodes = cluster
    results = _evaluate(merge_bundles([cluster_path, *nodes]))
    table = render_table(results)
    assert "5 nodes, worst first:" in table
    assert "fails on 1 of 5 nodes (worker 1 of 4): w-2" in table
    assert table.index("w-2") < table.index("w-1")  # worst first
    html = render_html(results)
    assert 'id="hosts"' in html and "w-2: /etc/kubernetes/kubelet.conf" in html
    assert "fails on 1 of 5 nodes (worker 1 of 4): w-2" in html
    fewer = _evaluate(merge_bundles([cluster_path, *nodes[:2], *nodes[3:]]))  # w-2 left the cluster
    diff = diff_results(results, fewer)
    assert [h["host"] for h in diff["hosts"]["disappeared"]] == ["w-2"] and diff["hosts"]["appeared"] == []
    resolved = {f["identity"] for f in diff["findings"]["resolved"]}
    assert any("host=w-2" in i for i in resolved) and not any("host=w-1" in i for i in resolved)
    assert "GONE" in render_diff_table(diff)
    validate_results(json.loads(json.dumps({**fewer, "baseline": {"source": "x", "diff": diff}})))


def test_merge_command_writes_the_bundle_and_refuses_bad_input_with_exit_2(cluster, tmp_path, capsys):
    from auditor.cli import main

    cluster_path, nodes = cluster
    out = str(tmp_path / "merged.json")
    assert main(["merge", cluster_path, *nodes, "-o", out]) == 0
    assert "5 hosts, cluster from 6 bundles" in capsys.readouterr().err
    reports = str(tmp_path / "reports")
    code = main(["evaluate", out, "-o", reports, "--pack", "cis-kubernetes-1.12"])
    assert code == 0
    table = capsys.readouterr().out
    assert "fails on 1 of 5 nodes (worker 1 of 4): w-2" in table
    assert main(["merge", cluster_path, nodes[1], nodes[1], "-o", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is the same bundle as" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "x.json")
