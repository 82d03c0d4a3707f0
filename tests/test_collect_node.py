"""The Kubernetes node collector against real files (modes, owners) and real processes' /proc."""

from __future__ import annotations

import json
import os

import nodetree
import pytest

from auditor.cli import main
from auditor.collect.node import collect_node, component_flags, identify, kubelet_effective
from auditor.results.document import expand_results

ETCD_UID = 2379


@pytest.fixture
def kubeadm(tmp_path):
    root = str(tmp_path / "root")
    os.makedirs(root)
    nodetree.kubeadm_tree(root, etcd_uid=ETCD_UID)
    return root


def _by_component(collected):
    return {i["component"]: i for i in collected.targets["node.process"]}


def _files(collected):
    return {(i["role"], i["path"]): i for i in collected.targets["host.file"]}


def test_kubeadm_tree_static_pods_files_and_roles(kubeadm):
    collected = collect_node(root=kubeadm)
    procs = _by_component(collected)
    assert set(procs) == {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"}
    api = procs["kube-apiserver"]
    assert api["source"] == "static-pod" and api["pid"] is None
    assert api["manifest"] == "/etc/kubernetes/manifests/kube-apiserver.yaml"
    assert api["flags"]["authorization-mode"] == ["Node,RBAC"]  # comma lists stay one string
    assert procs["etcd"]["flags"]["data-dir"] == ["/var/lib/etcd"]
    files = _files(collected)
    manifest = files[("apiserver-manifest", "/etc/kubernetes/manifests/kube-apiserver.yaml")]
    assert (manifest["mode"], manifest["owner"], manifest["group"]) == ("0600", "root", "root")
    data_dir = files[("etcd-data-dir", "/var/lib/etcd")]
    assert (data_dir["type"], data_dir["mode"], data_dir["owner"]) == ("directory", "0700", "etcd")
    roles = {role for role, _ in files}
    assert roles >= {"cni-file", "admin-kubeconfig", "super-admin-kubeconfig", "scheduler-kubeconfig",
                     "controller-manager-kubeconfig", "pki-dir", "pki-cert", "pki-key", "kubelet-service",
                     "kubelet-kubeconfig", "kubelet-config", "kube-proxy-kubeconfig", "client-ca-file"}
    assert ("pki-key", "/etc/kubernetes/pki/etcd/server.key") in files
    assert ("kubelet-service", "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf") in files
    assert ("client-ca-file", "/etc/kubernetes/pki/ca.crt") in files
    info = collected.targets["node.info"][0]
    assert info["distribution"] == "kubeadm" and info["subject"]["name"] == "cp-1"
    assert info["roles"] == ["control-plane", "etcd", "worker"]
    kubelet = collected.targets["node.kubelet"][0]
    assert kubelet["source"] == "config-file" and kubelet["config_path"] == "/var/lib/kubelet/config.yaml"


def test_real_modes_and_owners_are_reported(kubeadm):
    os.chmod(os.path.join(kubeadm, "etc/kubernetes/admin.conf"), 0o644)
    os.chown(os.path.join(kubeadm, "etc/kubernetes/scheduler.conf"), 1000, 1000)
    os.unlink(os.path.join(kubeadm, "etc/kubernetes/super-admin.conf"))
    os.symlink("/etc/kubernetes/admin.conf", os.path.join(kubeadm, "etc/kubernetes/super-admin.conf"))
    files = _files(collect_node(root=kubeadm))
    assert files[("admin-kubeconfig", "/etc/kubernetes/admin.conf")]["mode"] == "0644"
    sched = files[("scheduler-kubeconfig", "/etc/kubernetes/scheduler.conf")]
    assert (sched["owner"], sched["group"], sched["uid"]) == ("alice", "alice", 1000)
    link = files[("super-admin-kubeconfig", "/etc/kubernetes/super-admin.conf")]
    assert link["link_target"] == "/etc/kubernetes/admin.conf" and link["mode"] == "0644"


def test_running_process_wins_over_its_static_pod(kubeadm):
    flags = ["--profiling=true", "--authorization-mode", "Node,RBAC", "--anonymous-auth", "--audit-log-maxage=7",
             "--enable-admission-plugins=NodeRestriction", "--enable-admission-plugins=AlwaysAdmit"]
    with nodetree.fake_process("kube-apiserver", flags) as proc:
        collected = collect_node(root=kubeadm)
    api = _by_component(collected)["kube-apiserver"]
    assert api["source"] == "process" and api["pid"] == proc.pid
    assert api["manifest"] == "/etc/kubernetes/manifests/kube-apiserver.yaml"
    assert api["argv"][0] == "kube-apiserver"
    assert api["flags"]["profiling"] == ["true"]
    assert api["flags"]["authorization-mode"] == ["Node,RBAC"]  # `--flag value`
    assert api["flags"]["anonymous-auth"] == ["true"]  # a boolean given alone
    assert api["flags"]["enable-admission-plugins"] == ["NodeRestriction", "AlwaysAdmit"]  # repeated, in order


def test_processes_are_matched_by_name_only():
    assert identify("kube-controller", "/usr/bin/kube-controller-manager", ["x"])[0] == "kube-controller-manager"
    assert identify("kube-controller", None, ["/opt/bin/kube-controller-manager"])[0] == "kube-controller-manager"
    assert identify("bash", "/bin/bash", ["bash", "-c", "kube-apiserver"])[0] is None
    assert identify("grep", "/bin/grep", ["grep", "kubelet"])[0] is None
    assert identify("hyperkube", "/hyperkube", ["hyperkube", "kubelet", "--x=1"]) == ("kubelet", ["kubelet", "--x=1"])
    assert identify("k3s-server", "/usr/local/bin/k3s", ["/usr/local/bin/k3s", "server"])[0] == "k3s"
    assert component_flags(["--v", "2", "--a=b", "--c", "d"]) == {"v": ["2"], "a": ["b"], "c": ["d"]}


def test_kubelet_flags_win_over_config_file_and_defaults_fill_the_rest(kubeadm):
    flags = [*nodetree.KUBELET_FLAGS, "--anonymous-auth=true", "--read-only-port=10255",
             "--feature-gates=RotateKubeletServerCertificate=false,SomeGate=true", "--tls-cipher-suites=A,B"]
    with nodetree.fake_process("kubelet", flags):
        collected = collect_node(root=kubeadm)
    kubelet = collected.targets["node.kubelet"][0]
    assert kubelet["source"] == "process"
    eff = kubelet["effective"]
    assert kubelet["config"]["authentication"]["anonymous"]["enabled"] is False
    assert eff["authentication"]["anonymous"]["enabled"] is True
    assert eff["readOnlyPort"] == 10255
    assert eff["featureGates"] == {"RotateKubeletServerCertificate": False, "SomeGate": True}
    assert eff["tlsCipherSuites"] == ["A", "B"]
    assert eff["streamingConnectionIdleTimeout"] == "5m"  # from the file
    assert eff["eventBurst"] == 100 and eff["port"] == 10250  # defaults
    assert "kubelet" in _by_component(collected)
    assert collected.targets["node.info"][0]["roles"][-1] == "worker"


def test_kubelet_without_config_file_keeps_command_line_defaults():
    eff = kubelet_effective(None, {})
    assert eff["authentication"]["anonymous"]["enabled"] is True
    assert eff["authorization"]["mode"] == "AlwaysAllow" and eff["readOnlyPort"] == 10255
    eff = kubelet_effective({}, {})
    assert eff["authentication"]["anonymous"]["enabled"] is False
    assert eff["authorization"]["mode"] == "Webhook" and eff["readOnlyPort"] == 0


def test_kubelet_config_option_and_missing_file(kubeadm):
    nodetree.write(kubeadm, "/srv/kubelet.yaml", "readOnlyPort: 10255\n", 0o644)
    kubelet = collect_node(root=kubeadm, kubelet_config="/srv/kubelet.yaml").targets["node.kubelet"][0]
    assert kubelet["config_path"] == "/srv/kubelet.yaml" and kubelet["effective"]["readOnlyPort"] == 10255
    files = _files(collect_node(root=kubeadm, kubelet_config="/srv/kubelet.yaml"))
    assert files[("kubelet-config", "/srv/kubelet.yaml")]["mode"] == "0644"
    kubelet = collect_node(root=kubeadm, kubelet_config="/srv/none.yaml").targets["node.kubelet"][0]
    assert "not found" in kubelet["errors"]["effective"]


def test_etcd_environment_variables_count_as_flags(kubeadm):
    path = os.path.join(kubeadm, "etc/kubernetes/manifests/etcd.yaml")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("    env:\n    - name: ETCD_AUTO_TLS\n      value: \"true\"\n"
                 "    - name: ETCD_CLIENT_CERT_AUTH\n      value: \"false\"\n")
    etcd = _by_component(collect_node(root=kubeadm))["etcd"]
    assert etcd["env_flags"] == {"auto-tls": ["true"], "client-cert-auth": ["false"]}
    assert etcd["flags"]["auto-tls"] == ["true"]
    assert etcd["flags"]["client-cert-auth"] == ["true"]  # the command line wins


def test_broken_yaml_is_an_error_naming_file_and_line(kubeadm):
    nodetree.write(kubeadm, "/etc/kubernetes/manifests/kube-scheduler.yaml", "spec:\n  containers: [\n  - x: : y\n")
    nodetree.write(kubeadm, "/var/lib/kubelet/config.yaml", "authentication:\n  anonymous: {enabled: false\n")
    collected = collect_node(root=kubeadm)
    sched = _by_component(collected)["kube-scheduler"]
    assert sched["errors"]["flags"].startswith("/etc/kubernetes/manifests/kube-scheduler.yaml line ")
    kubelet = collected.targets["node.kubelet"][0]
    assert kubelet["errors"]["config"].startswith("/var/lib/kubelet/config.yaml line 3")
    assert _by_component(collected)["kube-apiserver"].get("errors") is None


def test_k3s_layout_and_flag_passing(tmp_path):
    root = str(tmp_path)
    nodetree.write(root, "/etc/rancher/k3s/config.yaml",
                   "kube-apiserver-arg:\n  - profiling=false\n  - anonymous-auth=false\n"
                   "kubelet-arg: [read-only-port=0]\n", 0o600)
    nodetree.write(root, "/etc/rancher/k3s/k3s.yaml", "apiVersion: v1\n", 0o644)
    nodetree.write(root, "/var/lib/rancher/k3s/server/cred/scheduler.kubeconfig", "x\n", 0o600)
    nodetree.write(root, "/var/lib/rancher/k3s/server/tls/server-ca.key", "x\n", 0o600)
    nodetree.write(root, "/var/lib/rancher/k3s/agent/kubelet.kubeconfig", "x\n", 0o600)
    argv = ["server", "--kube-apiserver-arg=audit-log-path=/var/log/audit.log",
            "--kube-controller-manager-arg", "bind-address=127.0.0.1"]
    with nodetree.fake_process("k3s", argv):
        collected = collect_node(root=root)
    procs = _by_component(collected)
    assert set(procs) == {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"}
    api = procs["kube-apiserver"]
    assert api["source"] == "k3s" and api["notes"]
    assert api["flags"]["audit-log-path"] == ["/var/log/audit.log"]
    assert "profiling" not in api["flags"]  # the command line replaces config.yaml's list, as k3s does
    assert procs["kube-controller-manager"]["flags"]["bind-address"] == ["127.0.0.1"]
    kubelet = collected.targets["node.kubelet"][0]
    assert kubelet["effective"]["readOnlyPort"] == 0
    info = collected.targets["node.info"][0]
    assert info["distribution"] == "k3s" and "etcd" not in info["components"]
    files = _files(collected)
    assert files[("admin-kubeconfig", "/etc/rancher/k3s/k3s.yaml")]["mode"] == "0644"
    assert ("pki-key", "/var/lib/rancher/k3s/server/tls/server-ca.key") in files
    assert ("kubelet-kubeconfig", "/var/lib/rancher/k3s/agent/kubelet.kubeconfig") in files


def test_rke2_static_pods(tmp_path):
    root = str(tmp_path)
    nodetree.write(root, "/var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml",
                   nodetree.static_pod("kube-apiserver", ["--profiling=false"], command=False), 0o600)
    collected = collect_node(root=root)
    api = _by_component(collected)["kube-apiserver"]
    assert api["argv"] == ["kube-apiserver", "--profiling=false"] and api["source"] == "static-pod"
    assert collected.targets["node.info"][0]["distribution"] == "rke2"
    assert ("apiserver-manifest", "/var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml") in _files(collected)


def test_nothing_kubernetes_on_the_node(tmp_path):
    collected = collect_node(root=str(tmp_path))
    assert collected.targets["node.process"] == []
    assert "node.kubelet" not in collected.targets
    assert collected.targets["node.info"][0]["roles"] == []


# ---------------------------------------------------------------- end to end

def _audit(root, tmp_path, capsys):
    code = main(["audit", "--target", "node", "--root", root, "--pack", "cis-kubernetes-1.12", "--format", "json",
                 "-o", str(tmp_path / "reports"), "--section", "1", "--section", "2", "--section", "3",
                 "--section", "4"])
    out = capsys.readouterr().out
    results = expand_results(json.loads(out))
    return code, {c["id"]: c for c in results["controls"]}


@pytest.mark.slow
def test_audit_good_tree(kubeadm, tmp_path, capsys):
    code, controls = _audit(kubeadm, tmp_path, capsys)
    assert code == 0
    statuses = {cid: c["status"] for cid, c in controls.items()}
    failed = sorted(cid for cid, s in statuses.items() if s in ("fail", "error"))
    assert failed == []
    for cid in ("1.1.1", "1.1.12", "1.1.19", "1.2.1", "1.2.6", "1.2.29", "1.3.7", "2.2", "3.2.1", "4.1.1",
                "4.1.7", "4.2.1", "4.2.4", "4.2.12"):
        assert statuses[cid] == "pass", cid
    assert statuses["4.3.1"] == "not_applicable"  # no kube-proxy on this node
    assert statuses["1.2.20"] == "manual"


@pytest.mark.slow
def test_audit_bad_tree(kubeadm, tmp_path, capsys):
    manifests = os.path.join(kubeadm, "etc/kubernetes/manifests")
    os.chmod(os.path.join(manifests, "kube-apiserver.yaml"), 0o644)
    os.chown(os.path.join(manifests, "etcd.yaml"), 1000, 0)
    os.chown(os.path.join(kubeadm, "var/lib/etcd"), 0, 0)
    os.chmod(os.path.join(kubeadm, "etc/kubernetes/pki/ca.key"), 0o640)
    flags = [f for f in nodetree.CONTROLLER_FLAGS if not f.startswith(("--profiling", "--bind-address"))]
    nodetree.write(kubeadm, "/etc/kubernetes/manifests/kube-controller-manager.yaml",
                   nodetree.static_pod("kube-controller-manager", flags))
    nodetree.write(kubeadm, "/etc/kubernetes/manifests/kube-scheduler.yaml", "spec:\n  containers:\n   - a\n  - b\n")
    nodetree.write(kubeadm, "/var/lib/kubelet/config.yaml",
                   nodetree.KUBELET_CONFIG.replace("readOnlyPort: 0", "readOnlyPort: 10255"))
    code, controls = _audit(kubeadm, tmp_path, capsys)
    assert code == 0  # a broken manifest is evidence about that file, not an unreachable source
    status = {cid: c["status"] for cid, c in controls.items()}
    for cid in ("1.1.1", "1.1.8", "1.1.12", "1.1.21", "1.3.2", "1.3.7", "4.2.4"):
        assert status[cid] == "fail", cid
    for cid in ("1.4.1", "1.4.2"):
        assert status[cid] == "error", cid
        assert "/etc/kubernetes/manifests/kube-scheduler.yaml line 4" in controls[cid]["reason"]
    # everything else is still judged
    for cid in ("1.1.5", "1.2.1", "2.2", "4.2.1"):
        assert status[cid] == "pass", cid
    finding = next(f for f in controls["1.1.1"]["findings"] if f["status"] == "fail")
    assert finding["observed"] == "0644" and finding["subject"]["path"].endswith("kube-apiserver.yaml")


def test_collect_node_command_writes_a_bundle(kubeadm, tmp_path):
    out = str(tmp_path / "evidence.json")
    assert main(["collect", "node", "--root", kubeadm, "-o", out]) == 0
    with open(out, encoding="utf-8") as fh:
        doc = json.load(fh)
    assert doc["metadata"]["root"] == kubeadm
    assert {"node.process", "node.kubelet", "host.file", "node.info"} <= set(doc["targets"])
