"""Read-only: every file under the audited root (content hash, mode, owner, size, mtime, ctime,
link target) and every container of the daemon (full inspect) are identical before and after a
full audit, and nothing is written outside the output folder (not even in the working folder)."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import dockerd
import nodetree
from fuzz.hostile import run_cli, tally


def snapshot(top: str) -> dict[str, tuple]:
    """path -> (type and mode, uid, gid, size, mtime, ctime, sha256 or link target) for everything below."""
    state: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                digest = "-> " + os.readlink(path)
            else:
                digest = ""
            # ctime moves on any change of content, mode, owner or links; atime is left out (reads set it).
            state[os.path.relpath(path, top)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns,
                                                 st.st_ctime_ns, digest)
    return state


def _containers(host: str) -> dict[str, str]:
    ids = dockerd.docker_cli(host, "ps", "-aq", "--no-trunc").split()
    return {cid: dockerd.docker_cli(host, "inspect", cid) for cid in ids}


def _audited_root(root: str) -> None:
    nodetree.kubeadm_tree(root)
    nodetree.write(root, "/etc/docker/daemon.json", json.dumps({"icc": False, "log-level": "info"}), 0o644)
    nodetree.write(root, "/etc/group", "root:x:0:\ndocker:x:999:alice\n", 0o644)
    nodetree.write(root, "/lib/systemd/system/docker.service", "[Service]\nExecStart=/usr/bin/dockerd\n", 0o644)
    os.mkfifo(os.path.join(root, "etc/docker/key.json"))  # a FIFO where a file may be read: never opened
    os.symlink("/etc/docker", os.path.join(root, "etc/docker-link"))
    os.makedirs(os.path.join(root, "run/containerd"), exist_ok=True)


def test_a_full_audit_changes_nothing_it_reads_and_writes_only_its_output(tmp_path):
    root = str(tmp_path / "root")
    _audited_root(root)
    work = tmp_path / "cwd"
    work.mkdir()
    out = tmp_path / "out"
    host = dockerd.SYSTEM_HOST if dockerd.answers(dockerd.SYSTEM_HOST) else None
    if host:  # one running and one stopped container of our own, so there is something to compare
        dockerd.ensure_busybox(host)
        dockerd.docker_cli(host, "run", "-d", *dockerd.LABEL_ARGS, dockerd.BUSYBOX_IMAGE, "sleep", "600")
        dockerd.docker_cli(host, "create", *dockerd.LABEL_ARGS, dockerd.BUSYBOX_IMAGE, "true")
    try:
        _audit_and_compare(tmp_path, root, work, out, host)
    finally:
        if host:
            dockerd.remove_test_containers(host)


def _audit_and_compare(tmp_path, root: str, work, out, host: str | None) -> None:  # type: ignore[no-untyped-def]
    before_root = snapshot(root)
    before_containers = _containers(host) if host else {}
    before_tmp = set(os.listdir(tmp_path))
    targets = "docker,node" if host else "node"
    run = run_cli(["audit", "--target", targets, "--root", root, "-o", str(out), "--format", "table,json,oscal"],
                  env={"AUDITOR_NO_PDF": "0"}, cwd=str(work), timeout=300)
    assert run.code in (0, 1, 3) and "Traceback" not in run.stderr, run.stderr[-2000:]
    run = run_cli(["collect", "node", "--root", root, "-o", str(out / "node.json")], cwd=str(work))
    assert run.code in (0, 3)
    tally("inputs", len(before_root) + len(before_containers))
    after_root = snapshot(root)
    changed = sorted(p for p in set(before_root) | set(after_root) if before_root.get(p) != after_root.get(p))
    assert changed == [], changed
    if host:
        after_containers = _containers(host)
        # Containers other tests start or remove meanwhile are not ours to compare: the common ones must match.
        common = set(before_containers) & set(after_containers)
        assert common and all(before_containers[c] == after_containers[c] for c in common)
    assert os.listdir(work) == []  # nothing in the working folder
    assert set(os.listdir(tmp_path)) - before_tmp == {"out"}
    names = os.listdir(out)
    assert {n.rsplit(".", 2)[-2] if n.endswith(".json") else n.rsplit(".", 1)[-1] for n in names} >= \
        {"evidence", "results", "oscal", "html", "pdf"}
    assert not [n for n in names if n.startswith(".tmp-")]
