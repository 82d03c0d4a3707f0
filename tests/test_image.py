"""The auditor's container image, built on the real dockerd here from the local wheel and the
top-level Dockerfile, FROM base images made by `docker import` (tests/python_rootfs.py; nothing
can be pulled), then run against a temporary host root mounted read-only at /host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import nodetree
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.docker]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _docker():
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as exc:  # no daemon on this machine
        pytest.skip(f"no Docker daemon: {exc}")
    return client


def _wheel(tmp: str) -> str:
    """The auditor's wheel, built from a copy of the checkout (the worktree stays untouched)."""
    src = os.path.join(tmp, "src")
    listed = subprocess.run(["git", "-C", REPO, "ls-files", "-co", "--exclude-standard"], capture_output=True,
                            text=True)
    if listed.returncode == 0:
        for rel in listed.stdout.splitlines():
            if os.path.isfile(os.path.join(REPO, rel)):
                os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
                shutil.copy2(os.path.join(REPO, rel), os.path.join(src, rel))
    else:
        shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "reports", "__pycache__", "build"))
    dist = os.path.join(tmp, "context", "dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", dist, src], check=True, capture_output=True)
    (name,) = os.listdir(dist)
    return os.path.join(dist, name)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    import python_rootfs

    client = _docker()
    tmp = str(tmp_path_factory.mktemp("image"))
    tag = uuid.uuid4().hex[:8]
    build_base, runtime_base, image = (f"auditor-test/python-build:{tag}", f"auditor-test/python-runtime:{tag}",
                                       f"auditor-test/auditor:{tag}")
    made = []
    try:
        _wheel(tmp)
        shutil.copy(os.path.join(REPO, "Dockerfile"), os.path.join(tmp, "context", "Dockerfile"))
        for base, build in ((build_base, True), (runtime_base, False)):
            tar = python_rootfs.build_rootfs(os.path.join(tmp, f"{'build' if build else 'runtime'}.tar"), build)
            made.append(python_rootfs.import_image(client, tar, base))
            os.unlink(tar)
        client.images.build(path=os.path.join(tmp, "context"), tag=image, pull=False, rm=True, forcerm=True,
                            buildargs={"BUILD_BASE": build_base, "RUNTIME_BASE": runtime_base,
                                       "PIP_OPTIONS": "--no-deps --no-index"})
        made.append(image)
        yield client, image
    finally:
        for name in reversed(made):
            try:
                client.images.remove(name, force=True)
            except Exception:
                pass
        client.images.prune(filters={"dangling": True})


def _run(client, image, args, **kw):
    container = client.containers.create(image, args, **kw)
    try:
        container.start()
        status = container.wait(timeout=300)["StatusCode"]
        return status, container.logs(stdout=True, stderr=False).decode(), container.logs(stdout=False,
                                                                                           stderr=True).decode()
    finally:
        container.remove(force=True)


def test_the_image_runs_non_root_with_no_shell(image):
    client, name = image
    config = client.images.get(name).attrs["Config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["python3", "-m", "auditor"]
    assert "AUDITOR_NO_PDF=1" in config["Env"]
    status, out, _err = _run(client, name, ["--version"])
    assert status == 0 and out.startswith("auditor ")
    container = client.containers.create(name, ["--version"])
    try:
        import docker

        for shell in ("/bin/sh", "/bin/bash", "/bin/busybox"):
            with pytest.raises(docker.errors.NotFound):
                container.get_archive(shell)
    finally:
        container.remove(force=True)


def test_the_image_collects_a_node_under_host_and_frames_the_bundle_on_stdout(image, tmp_path):
    from auditor.evidence.framing import read_framed

    client, name = image
    root = str(tmp_path / "root")
    os.makedirs(root)
    nodetree.kubeadm_tree(root)
    before = {p: os.stat(os.path.join(dp, p)).st_mtime_ns for dp, _d, fs in os.walk(root) for p in fs}
    status, out, err = _run(client, name, ["collect", "node", "--root", "/host", "-o", "-"], user="0:0",
                            volumes={root: {"bind": "/host", "mode": "ro"}}, read_only=True,
                            cap_drop=["ALL"], cap_add=["DAC_READ_SEARCH", "SYS_PTRACE"], network_mode="none")
    assert status == 0, err
    bundle = read_framed(out, "collector log")
    assert bundle["targets"]["node.info"][0]["subject"]["name"] == "cp-1"
    files = {i["path"]: i for i in bundle["targets"]["host.file"]}
    assert files["/etc/kubernetes/manifests/kube-apiserver.yaml"]["mode"] == "0600"
    assert {p: os.stat(os.path.join(dp, p)).st_mtime_ns for dp, _d, fs in os.walk(root) for p in fs} == before
    out_dir = tmp_path / "reports"
    out_dir.mkdir()
    os.chmod(out_dir, 0o777)
    (out_dir / "node.json").write_text(json.dumps(bundle))
    status, out, err = _run(client, name, ["evaluate", "/reports/node.json", "-o", "/reports"], read_only=True,
                            volumes={str(out_dir): {"bind": "/reports", "mode": "rw"}}, network_mode="none")
    assert status == 0, err
    written = os.listdir(out_dir)
    results = next(n for n in written if n.endswith(".results.json"))
    assert f"results: /reports/{results}" in out
    assert os.stat(out_dir / results).st_uid == 65532  # written by the image's non-root user
    doc = json.loads((out_dir / results).read_text())
    assert "cis-kubernetes-1.12" in [p["id"] for p in doc["packs"]]
    apiserver = next(c for c in doc["controls"] if c["pack"] == "cis-kubernetes-1.12" and c["id"] == "1.1.1")
    assert apiserver["status"] == "pass"  # the manifest's mode, read through the read-only mount
