"""A Docker daemon that trickles, fails, cuts answers off or answers the wrong shape: the run ends
within its deadline, exits 3, lists the error in the evidence, judges nothing of the subject it
could not read as pass or not applicable, and never shows a traceback (issue 18, parts 1, 2, 7)."""

from __future__ import annotations

import glob
import json
import os
import tempfile
import time

import pytest
from fake_docker import CID, IID, FakeDocker
from fuzz.hostile import run_cli, tally

from auditor.collect import reads
from auditor.collect.docker import collect_docker
from auditor.results.document import expand_results

INSPECT = f"/containers/{CID}/json"
IMAGE = f"/images/{IID}/json"


@pytest.fixture
def sock_dir():
    with tempfile.TemporaryDirectory(prefix="fd", dir="/tmp") as d:  # unix socket paths are short
        yield d


def _audit(daemon: FakeDocker, tmp_path, *extra: str):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    run = run_cli(["audit", "--target", "docker", "--docker-host", daemon.url, "--timeout", "1", "--deadline", "6",
                   "--root", str(root), "--no-html", "-o", str(tmp_path / "out"), "--format", "json", *extra],
                  timeout=60)
    tally("faults")
    [evidence] = glob.glob(str(tmp_path / "out" / "*.evidence.json"))
    return run, json.loads(open(evidence).read())


def _subject_verdicts(results: dict, name: str, target: str) -> dict[str, str]:
    """Control key -> the verdict the subject `name` got, for every control of `target`."""
    out = {}
    for control in results["controls"]:
        if control["target"] != target:
            continue
        statuses = [f["status"] for f in control["findings"] if f["subject"].get("name") == name]
        out[f"{control['pack']}/{control['id']}"] = statuses[0] if statuses else control["status"]
    return out


FAULTS = {
    "http-500": {INSPECT: ("status", 500, {"message": "internal error"})},
    "http-404": {INSPECT: ("status", 404, {"message": "No such container"})},
    "http-403": {INSPECT: ("status", 403, {"message": "authorization denied by plugin"})},
    "cut-body": {INSPECT: ("cut", {"Id": CID, "State": {}, "Config": {}, "HostConfig": {"Privileged": True}})},
    "empty-object": {INSPECT: ("json", {})},
    "list-not-object": {INSPECT: ("json", [{"Id": CID}])},
    "wrong-field-shape": {INSPECT: ("json", {"Id": CID, "State": {}, "Config": {}, "HostConfig": [1]})},
    "wrong-nested-type": {INSPECT: ("json", {"Id": CID, "State": {"Running": True}, "Config": {},
                                             "HostConfig": {"Privileged": "false", "SecurityOpt": "x"}})},
    "trickle": {INSPECT: ("trickle", {"Id": CID, "State": {}, "Config": {}, "HostConfig": {}})},
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_unreadable_container_is_an_error_never_a_pass(sock_dir, tmp_path, fault):
    with FakeDocker(f"{sock_dir}/d.sock", FAULTS[fault]) as daemon:
        run, evidence = _audit(daemon, tmp_path, "--fail-on", "critical")
    assert run.code == 3, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and run.seconds < 6 + 5, run.seconds
    meta = evidence["metadata"]
    assert meta["complete"] is False
    assert any("container web: inspect failed" in e["message"] for e in meta["errors"]), meta["errors"]
    [item] = evidence["targets"]["docker.container"]
    assert "inspect failed" in item["errors"]["inspect"]
    verdicts = _subject_verdicts(expand_results(json.loads(run.stdout)), "web", "docker.container")
    assert verdicts and set(verdicts.values()) == {"error"}, {k: v for k, v in verdicts.items() if v != "error"}
    # the image and the daemon were still read and judged
    image_verdicts = _subject_verdicts(expand_results(json.loads(run.stdout)), "auditor-test/busybox:latest",
                                       "docker.image")
    assert "pass" in image_verdicts.values() or "fail" in image_verdicts.values()


@pytest.mark.slow
def test_a_healthy_fake_daemon_is_complete(sock_dir, tmp_path):
    with FakeDocker(f"{sock_dir}/d.sock") as daemon:
        run, evidence = _audit(daemon, tmp_path)
    assert run.code in (0, 1), run.stderr[-2000:]
    assert evidence["metadata"]["complete"] is True
    verdicts = _subject_verdicts(expand_results(json.loads(run.stdout)), "web", "docker.container")
    assert "pass" in verdicts.values()


def test_trickling_daemon_costs_the_timeout_not_a_byte_each(sock_dir):
    # one byte every 0.3 s of a ~2 KB answer: 10 minutes if every byte restarted the timeout
    with FakeDocker(f"{sock_dir}/d.sock", {"/containers/json": ("trickle", [{"Id": CID}])},
                    trickle_every=0.3) as daemon:
        started = time.monotonic()
        collected = collect_docker(docker_host=daemon.url, root=sock_dir, timeout=1.5)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 2, elapsed
    assert "docker.container" in collected.target_errors
    assert "within 1.5s" in collected.target_errors["docker.container"]


def test_source_deadline_bounds_the_whole_daemon(sock_dir):
    many = [{"Id": IID, "RepoTags": []}] * 20  # ~2 KB at 5 bytes a second
    slow = {p: ("trickle", many) for p in ("/images/json", "/networks", "/plugins")}
    with FakeDocker(f"{sock_dir}/d.sock", slow, trickle_every=0.2) as daemon:
        started = time.monotonic()
        collected = collect_docker(docker_host=daemon.url, root=sock_dir, timeout=30, deadline=1.0)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 2, elapsed
    assert "deadline of 1s passed" in collected.target_errors["docker.image"]


def test_a_wrong_shaped_list_is_a_target_error_not_a_traceback(sock_dir):
    with FakeDocker(f"{sock_dir}/d.sock", {"/images/json": ("json", [{"RepoTags": []}]),
                                           "/containers/json": ("json", {"Id": CID})}) as daemon:
        collected = collect_docker(docker_host=daemon.url, root=sock_dir, timeout=2)
    assert "entry 0 is not an object with an Id" in collected.target_errors["docker.image"]
    assert "expected a JSON array" in collected.target_errors["docker.container"]
    assert collected.targets["docker.network"]  # the rest was read


def test_busy_daemon_is_retried_after_retry_after(sock_dir):
    with FakeDocker(f"{sock_dir}/d.sock", {INSPECT: ("retry", 1)}, retry_count=2) as daemon:
        collected = collect_docker(docker_host=daemon.url, root=sock_dir, timeout=3)
        asked = [p for p, _ in daemon.requests if p == INSPECT]
    [item] = collected.targets["docker.container"]
    assert "errors" not in item and item["inspect"]["Id"] == CID
    assert len(asked) == 3  # refused twice, then answered


def test_a_retry_is_never_waited_past_the_deadline(sock_dir):
    with FakeDocker(f"{sock_dir}/d.sock", {INSPECT: ("retry", 30)}, retry_count=10) as daemon:
        started = time.monotonic()
        collected = collect_docker(docker_host=daemon.url, root=sock_dir, timeout=3, deadline=3)
        elapsed = time.monotonic() - started
    assert elapsed < 3 + 2
    [item] = collected.targets["docker.container"]
    assert "HTTP 503" in item["errors"]["inspect"]


def test_error_text_echoing_credentials_is_redacted(sock_dir):
    leak = "denied: request had Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXZhbHVl.abcdefgh12345678"
    with FakeDocker(f"{sock_dir}/d.sock", {INSPECT: ("status", 403, {"message": leak})}) as daemon:
        collected = collect_docker(docker_host=daemon.url, root=sock_dir, timeout=2)
    text = json.dumps([collected.errors, collected.targets["docker.container"]])
    assert "HTTP 403" in text and "eyJhbGciOiJIUzI1NiJ9" not in text and "c2VjcmV0LXZhbHVl" not in text


def test_oversized_answer_is_refused(sock_dir, monkeypatch):
    monkeypatch.setattr(reads, "MAX_RESPONSE_BYTES", 4096)
    with FakeDocker(f"{sock_dir}/d.sock", {"/plugins": ("json", ["x" * 100] * 100)}) as daemon:
        collected = collect_docker(docker_host=daemon.url, root=sock_dir, timeout=2)
    assert any("larger than" in e["message"] for e in collected.errors), collected.errors


def test_real_daemon_still_collected_through_the_bounded_reader(docker_host, busybox_image):
    collected = collect_docker(docker_host=docker_host, root="/", timeout=10)
    assert not collected.target_errors, collected.target_errors
    [daemon] = collected.targets["docker.daemon"]
    assert daemon["version"]["ApiVersion"] and daemon["info"]["DockerRootDir"]
    assert any(i["subject"]["name"] == busybox_image for i in collected.targets["docker.image"])
    assert not [i for i in collected.targets["docker.image"] if i.get("errors")]
    assert os.path.exists(docker_host.removeprefix("unix://"))


def test_ssh_daemon_calls_run_under_the_watchdog(monkeypatch):
    """ssh:// goes through the docker SDK; a call that hangs costs `timeout`, the deadline
    bounds them all (the SDK itself is replaced: no ssh server in the tests)."""
    import threading

    from auditor.collect import docker as docker_collector

    release = threading.Event()

    class HangingSdk:
        def version(self):
            return {"ApiVersion": "1.43"}

        def info(self):
            release.wait(30)  # never answers in time
            return {}

        def close(self):
            release.set()

    monkeypatch.setattr(docker_collector, "_sdk_client", lambda endpoint, timeout: HangingSdk())
    started = time.monotonic()
    api = docker_collector.query_api("ssh://ops@h3", timeout=1.0, deadline=10)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 1.5, elapsed
    assert api.unreachable and "within 1s" in api.unreachable
    release.set()


@pytest.mark.slow
def test_a_list_for_an_object_and_an_image_without_id_still_judge_the_rest(sock_dir, tmp_path):
    """The issue's traceback case end to end: the run writes its evidence, exits 3, and the host
    file controls (read under --root, not from the daemon) are still judged."""
    with FakeDocker(f"{sock_dir}/d.sock", {"/images/json": ("json", [{"RepoTags": []}]),
                                           "/containers/json": ("json", {"Id": CID})}) as daemon:
        run, evidence = _audit(daemon, tmp_path, "--fail-on", "critical")
    assert run.code == 3 and "Traceback" not in run.stderr, run.stderr[-2000:]
    meta = evidence["metadata"]
    assert meta["complete"] is False and {"docker.image", "docker.container"} <= set(meta["target_errors"])
    controls = expand_results(json.loads(run.stdout))["controls"]
    for target in ("docker.image", "docker.container"):
        statuses = {c["status"] for c in controls if c["target"] == target}
        assert statuses == {"error"}, (target, statuses)
    host_files = {c["status"] for c in controls if c["target"] == "host.file"}
    assert host_files and host_files - {"error"}, host_files


@pytest.mark.slow
def test_error_text_echoing_credentials_reaches_no_output(sock_dir, tmp_path):
    """A daemon message that echoes the Authorization header: not in the evidence, the results,
    the HTML report or stderr."""
    secret = "c2VjcmV0LWhlYWRlci12YWx1ZQ"
    leak = f"denied: request had Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.{secret}.abcdefgh12345678"
    root = tmp_path / "root"
    root.mkdir()
    with FakeDocker(f"{sock_dir}/d.sock", {INSPECT: ("status", 403, {"message": leak})}) as daemon:
        run = run_cli(["audit", "--target", "docker", "--docker-host", daemon.url, "--timeout", "2", "--root",
                       str(root), "--no-pdf", "-o", str(tmp_path / "out")], timeout=60)
    assert run.code == 3, run.stderr[-2000:]
    outputs = sorted(glob.glob(str(tmp_path / "out" / "*")))
    kinds = {os.path.basename(p).split(".", 1)[1] for p in outputs}
    assert {"evidence.json", "results.json", "html"} <= kinds, kinds
    texts = {p: open(p, encoding="utf-8", errors="replace").read() for p in outputs}
    texts["stderr"], texts["stdout"] = run.stderr, run.stdout
    assert any("HTTP 403" in t for t in texts.values())
    leaked = [name for name, text in texts.items() if secret in text or "eyJhbGciOiJIUzI1NiJ9" in text]
    assert not leaked, leaked
