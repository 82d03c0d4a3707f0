"""Secrets never leave: unique canary values planted in container and image environment
variables, Kubernetes Secret data (also from a server that ignores the metadata-only request),
pod and workload env values and their last-applied copies, ConfigMap data, a kubeconfig token,
private keys, kubeconfig files and component flags on a node root, and a malformed config file;
then every command and every output format runs (evidence, results, HTML, PDF text and
attachment, JUnit, SARIF, CSV, OSCAL, terminal output, error messages) and no canary may appear
anywhere, raw or base64-encoded."""

from __future__ import annotations

import base64
import glob
import json
import os
import shutil
import subprocess
import uuid

import dockerd
import nodetree
import pytest
from fuzz.hostile import run_cli, tally
from k8s_replay import FIXTURES, ReplayServer, write_kubeconfig

from auditor.collect.docker import value_looks_secret

PLACES = ("docker_env_secret", "docker_env_plain", "image_env_secret", "image_env_plain", "image_build_arg",
          "k8s_secret_data", "k8s_secret_string", "k8s_secret_last_applied", "k8s_pod_env", "k8s_pod_last_applied",
          "k8s_deployment_env", "kubeconfig_token", "manifest_secret_data", "manifest_secret_string",
          "manifest_configmap", "manifest_pod_env", "manifest_cronjob_env", "manifest_last_applied",
          "node_kubeconfig_token", "node_private_key", "node_apiserver_flag", "node_etcd_env",
          "node_broken_kubelet_config")


@pytest.fixture
def canaries() -> dict[str, str]:
    # Mixed case, digits, 30+ characters: shaped like a real token, so value heuristics see one too.
    return {place: f"Cn4ry{uuid.uuid4().hex[:16]}Q{index:02d}x{place[:4].upper()}Zz9" for index, place in
            enumerate(PLACES)}


def _forms(value: str) -> list[bytes]:
    raw = value.encode()
    return [raw, base64.b64encode(raw), base64.b64encode(raw)[:-4], raw.hex().encode()]


def _replay_fixtures(folder: str, c: dict[str, str]) -> None:
    """The recorded API answers with canaries added (the server ignores the Table request)."""
    shutil.copytree(FIXTURES, folder)

    def edit(name: str, change) -> None:  # type: ignore[no-untyped-def]
        path = os.path.join(folder, name)
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        change(doc)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)

    def secrets(doc):  # type: ignore[no-untyped-def]
        doc.pop("table_pages", None)
        item = doc["pages"][0]["items"][0]
        item["data"] = {"password": base64.b64encode(c["k8s_secret_data"].encode()).decode()}
        item["stringData"] = {"token": c["k8s_secret_string"]}
        item["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = \
            json.dumps({"stringData": {"x": c["k8s_secret_last_applied"]}})

    def pods(doc):  # type: ignore[no-untyped-def]
        pod = doc["pages"][0]["items"][0]
        pod["spec"]["containers"][0]["env"] = [{"name": "PASSWORD", "value": c["k8s_pod_env"]},
                                               {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s",
                                                                                                      "key": "k"}}}]
        pod["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = \
            json.dumps({"spec": {"containers": [{"env": [{"value": c["k8s_pod_last_applied"]}]}]}})

    def deployments(doc):  # type: ignore[no-untyped-def]
        spec = doc["pages"][0]["items"][0]["spec"]["template"]["spec"]
        spec.setdefault("initContainers", []).append({"name": "init", "image": "busybox",
                                                      "env": [{"name": "API_KEY", "value": c["k8s_deployment_env"]}]})

    edit("secrets.json", secrets)
    edit("pods.json", pods)
    edit("deployments.json", deployments)


def _manifests(folder: str, c: dict[str, str]) -> None:
    os.makedirs(folder)
    b64 = base64.b64encode(c["manifest_secret_data"].encode()).decode()
    env = [{"value": c["manifest_last_applied"]}]
    last = json.dumps({"spec": {"template": {"spec": {"containers": [{"env": env}]}}}})
    text = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: shop}}
data: {{password: {b64}}}
stringData: {{token: {c["manifest_secret_string"]}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg, namespace: shop}}
data: {{settings: "dsn=postgres://app:{c["manifest_configmap"]}@db/shop"}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: shop}}
spec:
  containers:
  - name: web
    image: nginx:1.27
    env: [{{name: DB_PASSWORD, value: {c["manifest_pod_env"]}}}, {{name: MODE, value: prod}}]
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
  namespace: shop
  annotations: {{kubectl.kubernetes.io/last-applied-configuration: {json.dumps(last)}}}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: r
            image: busybox
            env: [{{name: TOKEN, value: {c["manifest_cronjob_env"]}}}]
"""
    with open(os.path.join(folder, "app.yaml"), "w", encoding="utf-8") as fh:
        fh.write(text)


def _node_root(root: str, c: dict[str, str]) -> None:
    nodetree.kubeadm_tree(root)
    kubeconfig = (f"apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: "
                  f"{c['node_kubeconfig_token']}\n    client-key-data: "
                  f"{base64.b64encode(c['node_private_key'].encode()).decode()}\n")
    for conf in ("admin.conf", "super-admin.conf", "scheduler.conf", "controller-manager.conf", "kubelet.conf"):
        nodetree.write(root, f"/etc/kubernetes/{conf}", kubeconfig, 0o600)
    for key in nodetree.PKI_KEYS:
        nodetree.write(root, f"/etc/kubernetes/pki/{key}",
                       f"-----BEGIN PRIVATE KEY-----\n{c['node_private_key']}\n-----END PRIVATE KEY-----\n", 0o600)
    assert value_looks_secret(c["node_apiserver_flag"])
    nodetree.write(root, "/etc/kubernetes/manifests/kube-apiserver.yaml", nodetree.static_pod(
        "kube-apiserver", [*nodetree.APISERVER_FLAGS, f"--oidc-client-secret={c['node_apiserver_flag']}"]), 0o600)
    etcd = nodetree.static_pod("etcd", nodetree.ETCD_FLAGS) + \
        f"    env:\n    - name: ETCD_INITIAL_CLUSTER_TOKEN\n      value: {c['node_etcd_env']}\n"
    nodetree.write(root, "/etc/kubernetes/manifests/etcd.yaml", etcd, 0o600)
    nodetree.write(root, "/var/lib/kubelet/config.yaml",
                   f"apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                   f"staticPodURLHeader: {{Authorization: [Bearer {c['node_broken_kubelet_config']}]\n  broken: [\n",
                   0o600)


def _docker(tmp_path, c: dict[str, str]):  # type: ignore[no-untyped-def]
    """An image and a container carrying canaries on the system dockerd, or None without one."""
    host = dockerd.SYSTEM_HOST
    if not dockerd.answers(host):
        return None
    tag = f"auditor-test/canary:{uuid.uuid4().hex[:8]}"
    dockerd.import_busybox(host, tag, changes=[f"ENV API_TOKEN={c['image_env_secret']}",
                                               f"ENV GREETING={c['image_env_plain']}", 'CMD ["sleep", "600"]'])
    dockerd.docker_cli(host, "create", *dockerd.LABEL_ARGS, "-e", f"DB_PASSWORD={c['docker_env_secret']}",
                       "-e", f"MOTD={c['docker_env_plain']}", tag, "sleep", "600")
    return host, tag


def test_no_canary_leaves_through_any_command_or_format(tmp_path, canaries):
    c = canaries
    fixtures = str(tmp_path / "in" / "api")
    _replay_fixtures(fixtures, c)
    server = ReplayServer(token=c["kubeconfig_token"], fixtures=fixtures)
    docker = None
    try:
        kubeconfig = write_kubeconfig(str(tmp_path / "in" / "kubeconfig"), {"prod": (server, server.token)}, "prod")
        manifests = str(tmp_path / "in" / "manifests")
        _manifests(manifests, c)
        root = str(tmp_path / "in" / "root")
        _node_root(root, c)
        docker = _docker(tmp_path, c)
        # Not every place can be planted without a dockerd; the build arg place is covered by the
        # history redaction tests (tests/test_collect_docker.py), so it is not counted here.
        planted = [p for p in PLACES if p != "image_build_arg" and (docker or not p.startswith(("docker", "image")))]
        tally("canaries", len(planted))
        out = tmp_path / "out"
        env = {"HOME": str(tmp_path / "home"), "KUBECONFIG": kubeconfig}
        runs = []
        sources = ["node", "cluster", "manifests"] + (["docker"] if docker else [])
        for source in sources:
            args = ["collect", source, *{"node": ["--root", root], "cluster": ["--kubeconfig", kubeconfig],
                                         "manifests": [manifests], "docker": []}[source],
                    "-o", str(out / f"{source}.evidence.json")]
            runs.append(run_cli(args, env=env))
            assert runs[-1].code in (0, 3), runs[-1].stderr[-2000:]
        audit_out = out / "audit"
        runs.append(run_cli(["audit", "--target", ",".join(sources), "--root", root, "--kubeconfig", kubeconfig,
                             "--manifests", manifests, "--format", "table,json,oscal", "-o", str(audit_out)],
                            env={**env, "AUDITOR_NO_PDF": "0"}, timeout=300))
        assert runs[-1].code in (0, 1, 3), runs[-1].stderr[-3000:]
        [results] = glob.glob(str(audit_out / "*.results.json"))
        runs.append(run_cli(["evaluate", str(out / "manifests.evidence.json"), "-o", str(out / "eval"),
                             "--format", "table,json,oscal"], env=env))
        runs.append(run_cli(["report", results, "--format", "table,html,json,junit,sarif,csv,oscal",
                             "-o", str(out / "report")], env=env))
        runs.append(run_cli(["diff", results, results, "--format", "table,json"], env=env))
        runs.append(run_cli(["collect", "cluster", "--kubeconfig", kubeconfig, "--context", "missing",
                             "-o", str(out / "bad.json")], env=env))  # an error message
        assert all("Traceback" not in r.stderr for r in runs)
        # The PDF: its text layer and its attachment (the results file).
        [pdf] = glob.glob(str(audit_out / "*.pdf"))
        texts = [subprocess.run(["pdftotext", pdf, "-"], capture_output=True, check=True).stdout]
        attached = tmp_path / "attached"
        attached.mkdir()
        subprocess.run(["pdfdetach", "-saveall", "-o", str(attached), pdf], capture_output=True, check=True)
        assert os.listdir(attached), "the PDF carries the results file"
        outputs = [p for p in glob.glob(str(tmp_path / "out" / "**" / "*"), recursive=True) if os.path.isfile(p)]
        outputs += [str(p) for p in attached.iterdir()]
        assert len(outputs) >= 15
        blobs = {path: open(path, "rb").read() for path in outputs}
        blobs.update({f"run {i} stdout": r.stdout.encode() for i, r in enumerate(runs)})
        blobs.update({f"run {i} stderr": r.stderr.encode() for i, r in enumerate(runs)})
        blobs["pdf text"] = texts[0]
        leaks = [(place, where) for place in planted for form in _forms(c[place])
                 for where, data in blobs.items() if form in data]
        tally("leaks", len(leaks))
        assert leaks == [], leaks
        # The planted places were really read: names survive where values do not.
        evidence = json.loads((out / "manifests.evidence.json").read_text())
        env_names = [e["name"] for i in evidence["targets"]["k8s.container"] for e in i["container"].get("env", [])]
        assert "DB_PASSWORD" in env_names and "TOKEN" in env_names
        node = json.loads((out / "node.evidence.json").read_text())
        apiserver = next(i for i in node["targets"]["node.process"] if i["component"] == "kube-apiserver")
        assert apiserver["flags"]["oidc-client-secret"] == ["<redacted>"]
        if docker:
            doc = json.loads((out / "docker.evidence.json").read_text())
            container = next(i for i in doc["targets"]["docker.container"]
                             if i["image"]["tags"] == [docker[1]])
            assert {"DB_PASSWORD", "MOTD"} <= set(container["inspect"]["Config"]["Env"])  # dockerd's order varies
    finally:
        server.stop()
        if docker:
            dockerd.remove_test_containers(docker[0])
            subprocess.run(["docker", "-H", docker[0], "rmi", "-f", docker[1]], capture_output=True, check=False)
