"""Reads under --root are made by descriptor (auditor/collect/rootfs.py), so nothing outside the
root is ever read: not through a symlink (absolute targets restart at the root, '..' stops at it),
and not through a node that swaps a directory for a symlink while the collector reads it. Every
test runs twice: with openat2 (this kernel has it) and with the component walk used without it."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid

import nodetree
import pytest

from auditor.collect import host, rootfs
from auditor.collect.node import collect_node

OUTSIDE_MODE = 0o604  # no file inside the test roots has it: seeing it means an outside stat


@pytest.fixture(params=["openat2", "walk"])
def resolution(request):
    if request.param == "openat2":
        rootfs.force_walk(False)
        if not rootfs.openat2_available():
            pytest.skip("this kernel has no openat2")
    else:
        rootfs.force_walk(True)
        assert not rootfs.openat2_available()
    yield request.param
    rootfs.force_walk(False)


@pytest.fixture
def tree(tmp_path):
    """(root, outside, canary): a root, and beside it a folder holding a canary file."""
    root, outside = str(tmp_path / "root"), str(tmp_path / "outside")
    os.makedirs(root)
    os.makedirs(outside)
    canary = f"CANARY-{uuid.uuid4().hex}"
    with open(os.path.join(outside, "secret"), "w") as fh:
        fh.write(canary)
    os.chmod(os.path.join(outside, "secret"), OUTSIDE_MODE)
    return root, outside, canary


def _write(root, path, text, mode=0o600):
    return nodetree.write(root, path, text, mode=mode)


def test_this_kernel_resolves_with_openat2():
    rootfs.force_walk(False)
    assert rootfs.openat2_available(), "openat2 is Linux 5.6+; the machine the tests run on has it"


def test_absolute_symlink_target_is_rerooted(tree, resolution):
    root, outside, canary = tree
    # the same absolute path exists inside the root (with other text) and outside it
    _write(root, os.path.join(outside, "secret"), "inside copy", mode=0o640)
    os.symlink(os.path.join(outside, "secret"), os.path.join(root, "link"))
    assert host.read_text(root, "/link") == "inside copy"
    item = host.file_item(root, "/link", "r", host.Accounts(root))
    assert item["mode"] == "0640" and item["exists"] is True and item["type"] == "file"
    assert item["link_target"] == os.path.join(outside, "secret")  # the host path inside the root


def test_absolute_symlink_to_outside_only_is_missing(tree, resolution):
    root, outside, canary = tree
    os.symlink(os.path.join(outside, "secret"), os.path.join(root, "link"))
    with pytest.raises(FileNotFoundError):
        host.read_text(root, "/link")
    item = host.file_item(root, "/link", "r", host.Accounts(root))
    assert item["exists"] is False and item["type"] == "symlink" and item["mode"] is None
    assert host.read_optional(root, "/link") is None
    assert host.lexists(root, "/link") and not host.is_dir(root, "/link")


def test_dotdot_never_leaves_the_root(tree, resolution):
    root, outside, canary = tree
    rel = os.path.relpath(os.path.join(outside, "secret"), os.path.join(root, "etc"))  # ../../outside/secret
    assert rel.startswith("..")
    os.makedirs(os.path.join(root, "etc"))
    os.symlink(rel, os.path.join(root, "etc", "up"))
    os.symlink("../../../../../../../../../../..", os.path.join(root, "etc", "top"))
    _write(root, "/outside/secret", "clamped at the root")
    for path in ("/etc/up", "/../../" + os.path.relpath(os.path.join(outside, "secret"), "/"), "/etc/top/secret"):
        try:
            text = host.read_text(root, path)
        except FileNotFoundError:
            continue
        assert canary not in text, path
    # ".." stops at the root: /etc/top is the root itself
    assert host.read_text(root, "/etc/top/outside/secret") == "clamped at the root"
    assert host.read_text(root, "/../../../outside/secret") == "clamped at the root"
    assert host.file_item(root, "/etc/top", "r", host.Accounts(root))["type"] == "directory"


def test_relative_symlinks_inside_the_root_resolve(tree, resolution):
    root, _outside, _canary = tree
    _write(root, "/etc/real/docker/daemon.json", "{}", mode=0o644)
    os.symlink("real/docker", os.path.join(root, "etc", "docker"))
    os.symlink("/etc/docker/daemon.json", os.path.join(root, "etc", "abs"))
    assert host.read_text(root, "/etc/docker/daemon.json") == "{}"
    assert host.read_text(root, "/etc/abs") == "{}"
    item = host.file_item(root, "/etc/abs", "r", host.Accounts(root))
    assert item["mode"] == "0644" and item["link_target"] == "/etc/real/docker/daemon.json"
    assert host.is_dir(root, "/etc/docker") and host.list_dir(root, "/etc/docker") == ["daemon.json"]


def test_symlink_loop_is_an_error_not_a_hang(tree, resolution):
    root, _outside, _canary = tree
    os.symlink("b", os.path.join(root, "a"))
    os.symlink("a", os.path.join(root, "b"))
    with pytest.raises(host.RootPathError, match="too many levels of symbolic links"):
        host.read_text(root, "/a")
    item = host.file_item(root, "/a", "r", host.Accounts(root))
    assert item["exists"] is None and "symbolic links" in item["errors"]["mode"]


def test_mode_and_owner_come_from_the_opened_file(tree, resolution):
    root, _outside, _canary = tree
    _write(root, "/etc/kubernetes/admin.conf", "x", mode=0o640)
    os.chown(os.path.join(root, "etc/kubernetes/admin.conf"), 1234, 4321)
    item = host.file_item(root, "/etc/kubernetes/admin.conf", "r", host.Accounts(root))
    assert (item["mode"], item["uid"], item["gid"], item["type"]) == ("0640", 1234, 4321, "file")
    d = host.file_item(root, "/etc/kubernetes", "r", host.Accounts(root))
    assert d["type"] == "directory" and d["mode"] == "0755"


def test_a_fifo_is_refused_without_blocking(tree, resolution):
    root, _outside, _canary = tree
    os.mkfifo(os.path.join(root, "pipe"))
    started = time.monotonic()
    with pytest.raises(OSError, match="not a regular file"):
        host.read_text(root, "/pipe")
    assert time.monotonic() - started < 2


def test_walk_files_never_follows_a_symlinked_directory_out(tree, resolution):
    root, outside, _canary = tree
    _write(root, "/etc/kubernetes/pki/ca.crt", "c")
    _write(root, "/etc/kubernetes/pki/etcd/ca.key", "k")
    os.symlink(outside, os.path.join(root, "etc/kubernetes/pki/out"))        # re-rooted: missing
    os.symlink("etcd", os.path.join(root, "etc/kubernetes/pki/etcd-link"))    # a directory inside
    found = host.walk_files(root, "/etc/kubernetes/pki")
    assert found == ["/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/etcd/ca.key", "/etc/kubernetes/pki/out"]


SWAPPED = ("/etc/kubernetes", "/var/lib/kubelet", "/etc/cni/net.d")


def _swap_tree(root, outside, canary):
    """A kubeadm node whose manifest, kubelet and CNI folders the swapper turns into symlinks out
    of the root: [(directory, absolute link, relative link)]."""
    nodetree.kubeadm_tree(root)
    swaps = []
    for folder in SWAPPED:
        inside = os.path.join(root, folder.lstrip("/"))
        mirror = os.path.join(outside, folder.lstrip("/"))
        # outside: the same layout, every file holding the canary, with a mode no inside file has
        for dirpath, _dirs, files in os.walk(inside):
            rel = os.path.relpath(dirpath, inside)
            os.makedirs(os.path.join(mirror, rel), exist_ok=True)
            for name in files:
                target = os.path.join(mirror, rel, name)
                with open(target, "w") as fh:
                    if name.endswith(".yaml") and rel == "manifests":
                        fh.write(nodetree.static_pod(name[:-5], [f"--canary={canary}"]))
                    elif name == "config.yaml":
                        fh.write(f"apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                                 f"staticPodPath: {canary}\n")
                    else:
                        fh.write(canary)
                os.chmod(target, OUTSIDE_MODE)
        absolute, relative = inside + ".abs", inside + ".rel"
        os.symlink(mirror, absolute)
        os.symlink("../" * 12 + os.path.relpath(mirror, "/"), relative)
        swaps.append((inside, absolute, relative))
    return swaps


def _evidence_text(collected):
    return json.dumps({"targets": collected.targets, "errors": collected.errors, "sources": collected.sources},
                      default=str)


@pytest.mark.slow
def test_swapping_a_directory_and_a_symlink_never_reads_outside(tree, resolution):
    root, outside, canary = tree
    folders = _swap_tree(root, outside, canary)
    stop = threading.Event()
    swaps = [0]

    def swapper():
        while not stop.is_set():
            for inside, absolute, relative in folders:
                link = (absolute, relative)[swaps[0] % 2]
                os.rename(inside, inside + ".real")  # the directory out of the way
                os.rename(link, inside)              # the symlink where it was
                os.rename(inside, link)              # and back
                os.rename(inside + ".real", inside)
            swaps[0] += 1

    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    runs = seen_manifest = seen_kubelet = 0
    deadline = time.monotonic() + 8
    try:
        while time.monotonic() < deadline and (runs < 200 or swaps[0] < 2000):
            text = _evidence_text(collect_node(root=root))
            runs += 1
            assert canary not in text, f"run {runs}: a file outside the root was read"
            assert f'"{OUTSIDE_MODE:04o}"' not in text, f"run {runs}: a file outside the root was stat'ed"
            seen_manifest += "--profiling=false" in text
            seen_kubelet += "clientCAFile" in text
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert swaps[0] >= 1000, f"only {swaps[0]} swaps: the race was not exercised"
    assert runs >= 20 and seen_manifest >= 1 and seen_kubelet >= 1, (runs, seen_manifest, seen_kubelet)
    print(f"{swaps[0]} swaps of {len(folders)} folders, {runs} collections")
    # once the node stops moving, the same collector reads the real tree
    files = {i["path"]: i for i in collect_node(root=root).targets["host.file"]}
    assert files["/etc/kubernetes/manifests/kube-apiserver.yaml"]["mode"] == "0600"
