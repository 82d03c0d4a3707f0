"""The Docker collector against a real dockerd, and its host facts against a real temp root."""

from __future__ import annotations

import json
import os
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import dockerd
import pytest

from auditor.collect import host
from auditor.collect.docker import (
    DOCKERD_BOOL_FLAGS,
    DOCKERD_SHORT,
    collect_docker,
    effective_settings,
    env_names,
    redact,
    redact_argv,
    redact_build_step,
)
from auditor.common.argv import parse_flags
from auditor.evidence.bundle import build_bundle


def only(collected: Any, target: str) -> dict[str, Any]:
    items = collected.targets[target]
    assert len(items) == 1, items
    return items[0]


def by_role(collected: Any, target: str) -> dict[str, dict[str, Any]]:
    return {item["role"] + ":" + item["path"]: item for item in collected.targets[target]}


def role(collected: Any, target: str, name: str) -> dict[str, Any]:
    found = [item for item in collected.targets[target] if item["role"] == name]
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- argv parser

def test_parse_flags_pflag_forms() -> None:
    argv = ["-H", "unix:///a.sock", "--host=tcp://0.0.0.0:2376", "--icc=false", "--tlsverify",
            "--log-opt", "max-size=10m", "--log-opt=max-file=3", "-D", "--storage-driver", "overlay2",
            "positional", "--", "--ignored=1"]
    flags = parse_flags(argv, DOCKERD_BOOL_FLAGS, DOCKERD_SHORT)
    assert flags == {"host": ["unix:///a.sock", "tcp://0.0.0.0:2376"], "icc": ["false"],
                     "tlsverify": ["true"], "log-opt": ["max-size=10m", "max-file=3"],
                     "debug": ["true"], "storage-driver": ["overlay2"]}


def test_parse_flags_unknown_and_short_forms() -> None:
    flags = parse_flags(["--unknown", "--other", "v", "-Hunix:///x.sock", "-l=debug", "-Dg", "/data",
                         "--iptables=0", "--last"], {"debug", "iptables"}, DOCKERD_SHORT)
    assert flags == {"unknown": ["true"], "other": ["v"], "host": ["unix:///x.sock"], "log-level": ["debug"],
                     "debug": ["true"], "data-root": ["/data"], "iptables": ["false"], "last": ["true"]}


def test_parse_flags_kubelet_style() -> None:
    # Generic enough for kubelet/apiserver: `--flag value`, repeated flags, no short map.
    flags = parse_flags(["--anonymous-auth=false", "--authorization-mode", "Node,RBAC",
                         "--feature-gates=A=true", "--feature-gates=B=false"], set(), {})
    assert flags == {"anonymous-auth": ["false"], "authorization-mode": ["Node,RBAC"],
                     "feature-gates": ["A=true", "B=false"]}


# ---------------------------------------------------------------- pure helpers

def test_effective_settings_order_types_and_conflicts() -> None:
    flags = parse_flags(["--icc=false", "--insecure-registry", "r:5000", "--default-ulimit", "nofile=1024:2048",
                         "--log-opt", "max-size=10m", "--live-restore", "--storage-opt", "dm.basesize=20G",
                         "--mtu", "1400"], DOCKERD_BOOL_FLAGS, DOCKERD_SHORT)
    effective, conflicts = effective_settings({"icc": True, "log-level": "warn"}, flags)
    assert effective["icc"] is False and effective["live-restore"] is True
    assert effective["log-level"] == "warn" and effective["iptables"] is True
    assert effective["insecure-registries"] == ["r:5000"]
    assert effective["default-ulimits"] == {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}}
    assert effective["log-opts"] == {"max-size": "10m"}
    assert effective["storage-opts"] == ["dm.basesize=20G"] and effective["mtu"] == 1400
    assert conflicts == ["icc"]


def test_env_secret_detection() -> None:
    names, secret = env_names(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin", "DB_PASSWORD=x",
                               "JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64", "GOLANG_VERSION=1.21.3",
                               "UPSTREAM=https://bob:hunter2@example.com/x", "OPAQUE=Zx81kQp02LmTaV9rWc7yHb3N",
                               "CERT=-----BEGIN PRIVATE KEY-----abc", "HOME=/root"])
    assert names == ["PATH", "DB_PASSWORD", "JAVA_HOME", "GOLANG_VERSION", "UPSTREAM", "OPAQUE", "CERT", "HOME"]
    assert secret == ["CERT", "DB_PASSWORD", "OPAQUE", "UPSTREAM"]


def test_history_steps_lose_values() -> None:
    assert redact_build_step("/bin/sh -c #(nop)  ENV API_KEY=abc OTHER=d") == "/bin/sh -c #(nop)  ENV API_KEY OTHER"
    assert redact_build_step("ENV TOKEN=abc") == "ENV TOKEN"
    assert (redact_build_step("RUN |2 A=secret B=x /bin/sh -c make")
            == "RUN |2 A=<redacted> B=<redacted> /bin/sh -c make")
    assert redact_build_step("/bin/sh -c apt-get update") == "/bin/sh -c apt-get update"


def test_redaction_of_settings_and_argv() -> None:
    assert redact_argv(["dockerd", "--log-opt", "splunk-token=abc", "--api-token", "xyz", "--tlskey", "/k.pem",
                        "-H", "tcp://u:pw@h:2376"]) == [
        "dockerd", "--log-opt", "splunk-token=<redacted>", "--api-token", "<redacted>", "--tlskey", "/k.pem",
        "-H", "tcp://<redacted>@h:2376"]
    assert redact({"HttpProxy": "http://u:pw@proxy:3128", "log-opts": {"splunk-token": "t", "tag": "x"},
                   "Secrets": [{"SecretID": "i", "SecretName": "n"}], "password": 5, "tlskey": "/k.pem"}) == {
        "HttpProxy": "http://<redacted>@proxy:3128", "log-opts": {"splunk-token": "<redacted>", "tag": "x"},
        "Secrets": [{"SecretID": "i", "SecretName": "n"}], "password": "<redacted>", "tlskey": "/k.pem"}


def test_audit_rules_parsing_and_coverage() -> None:
    rules = host.parse_audit_rules(
        "# comment\n-w /usr/bin/dockerd -p wa -k docker\n"
        "-a always,exit -F arch=b64 -S all -F path=/usr/bin/runc -F perm=wa -F key=docker\n"
        "-a exit,always -F dir=/var/lib/docker/ -F perm=war -k docker\n-w /var/run/docker.sock -k sock\n"
        "-D\n-b 8192\n")
    assert [(r["path"], r["perms"], r["key"], r["kind"]) for r in rules] == [
        ("/usr/bin/dockerd", "wa", "docker", "watch"), ("/usr/bin/runc", "wa", "docker", "syscall"),
        ("/var/lib/docker", "war", "docker", "syscall"), ("/var/run/docker.sock", "rwxa", "sock", "watch")]
    assert [r["path"] for r in host.rules_covering("/var/lib/docker/volumes", rules)] == ["/var/lib/docker"]
    assert host.rules_covering("/var/lib/dockerfile", rules) == []
    assert [r["key"] for r in host.rules_covering("/run/docker.sock", rules)] == ["sock"]


# ---------------------------------------------------------------- unreachable daemons

@pytest.fixture
def short_tmp() -> Iterator[str]:
    # Unix socket paths are limited to 108 bytes: keep them short.
    with tempfile.TemporaryDirectory(prefix="aud-", dir="/tmp") as directory:
        yield directory


def _assert_unreachable(collected: Any, endpoint: str) -> None:
    daemon = only(collected, "docker.daemon")
    assert daemon["info"] is None and daemon["version"] is None
    assert endpoint in daemon["errors"]["info"] and endpoint in daemon["errors"]["version"]
    for target in ("docker.container", "docker.image", "docker.network"):
        assert endpoint in collected.target_errors[target]
    assert collected.errors[0]["source"] == "docker.api" and "\n" not in collected.errors[0]["message"]
    # Host facts are still collected.
    assert collected.targets["host.info"] and collected.targets["host.file"]
    assert build_bundle(collected)["metadata"]["complete"] is False


def test_unreachable_socket_path(short_tmp: str) -> None:
    endpoint = f"unix://{short_tmp}/nothing.sock"
    _assert_unreachable(collect_docker(docker_host=endpoint, timeout=2), endpoint)


def test_socket_that_refuses(short_tmp: str) -> None:
    path = f"{short_tmp}/refuse.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(path)  # bound but never listening: connections are refused
        _assert_unreachable(collect_docker(docker_host=f"unix://{path}", timeout=2), f"unix://{path}")


def test_socket_that_never_answers_finishes_within_timeout(short_tmp: str) -> None:
    path = f"{short_tmp}/mute.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # accept, read nothing, answer nothing
            except OSError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        collected = collect_docker(docker_host=f"unix://{path}", timeout=1.0)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()
    _assert_unreachable(collected, f"unix://{path}")
    assert "no answer within 1s" in collected.errors[0]["message"]
    assert elapsed < 2.5, elapsed


# ---------------------------------------------------------------- the real daemon

def test_system_daemon_collected(docker_host: str, busybox_image: str) -> None:
    collected = collect_docker(docker_host=docker_host)
    daemon = only(collected, "docker.daemon")
    assert daemon["info"]["DockerRootDir"] and daemon["version"]["ApiVersion"]
    assert daemon["endpoint"] == docker_host and "errors" not in daemon
    assert daemon["process"] is not None and os.path.basename(daemon["process"]["exe"]) == "dockerd"
    assert "/var/run/docker.sock" in daemon["socket_paths"] or "/run/docker.sock" in daemon["socket_paths"]
    images = {t for item in collected.targets["docker.image"] for t in item["inspect"]["RepoTags"]}
    assert busybox_image in images
    assert {n["subject"]["name"] for n in collected.targets["docker.network"]} >= {"bridge", "host", "none"}
    assert collected.errors == [] and collected.target_errors == {}


def test_env_values_never_in_bundle(test_containers: str, busybox_image: str) -> None:
    host_url = test_containers
    canary, image_canary = secrets.token_hex(16), secrets.token_hex(16)
    image_tag = f"auditor-test/canary:{canary[:8]}"
    dockerd.import_busybox(host_url, image_tag, changes=[f"ENV IMAGE_CANARY={image_canary}",
                                                         f"ENV REGISTRY_TOKEN={image_canary}x"])
    try:
        dockerd.docker_cli(host_url, "create", *dockerd.LABEL_ARGS, "--name", f"auditor-test-canary-{canary[:6]}",
                           "-e", f"PLAIN_CANARY={canary}", "-e", f"DB_PASSWORD={canary}y",
                           "--log-driver", "splunk", "--log-opt", "splunk-url=https://127.0.0.1:8088",
                           "--log-opt", f"splunk-token={canary}z",
                           image_tag, "sleep", "1")
        collected = collect_docker(docker_host=host_url)
    finally:
        dockerd.remove_test_containers(host_url)
        dockerd.docker_cli(host_url, "rmi", image_tag)
    text = json.dumps(build_bundle(collected))
    assert canary not in text and image_canary not in text
    container = next(c for c in collected.targets["docker.container"]
                     if c["subject"]["name"] == f"auditor-test-canary-{canary[:6]}")
    assert {"PLAIN_CANARY", "DB_PASSWORD", "IMAGE_CANARY"} <= set(container["inspect"]["Config"]["Env"])
    assert "DB_PASSWORD" in container["env_secret_like"] and "REGISTRY_TOKEN" in container["env_secret_like"]
    assert container["processes"] is None and container["process_commands"] == []
    assert container["inspect"]["HostConfig"]["LogConfig"]["Config"]["splunk-token"] == "<redacted>"
    image = next(i for i in collected.targets["docker.image"] if image_tag in i["inspect"]["RepoTags"])
    assert "IMAGE_CANARY" in image["inspect"]["Config"]["Env"]
    assert image["env_secret_like"] == ["REGISTRY_TOKEN"]


def test_top_of_running_container(test_containers: str, busybox_image: str) -> None:
    host_url = test_containers
    cid = dockerd.docker_cli(host_url, "run", "-d", *dockerd.LABEL_ARGS, busybox_image, "sleep", "300")
    collected = collect_docker(docker_host=host_url)
    container = next(c for c in collected.targets["docker.container"] if c["subject"]["id"] == cid)
    assert container["inspect"]["State"]["Running"] is True
    assert "PID" in container["processes"]["Titles"]
    assert container["process_commands"] == ["sleep 300"]
    assert container["image"]["tags"] == [busybox_image]


def test_many_running_containers_collected_quickly(test_containers: str, busybox_image: str) -> None:
    host_url = test_containers
    count = 12
    for _ in range(count):
        dockerd.docker_cli(host_url, "run", "-d", *dockerd.LABEL_ARGS, busybox_image, "sleep", "300")
    started = time.monotonic()
    collected = collect_docker(docker_host=host_url)
    elapsed = time.monotonic() - started
    running = [c for c in collected.targets["docker.container"] if c["processes"]]
    assert len(running) >= count
    assert elapsed < 1.5, elapsed


def test_second_dockerd_settings(second_dockerd: Any) -> None:
    daemon_json = {"icc": False, "log-level": "warn", "log-driver": "splunk",
                   "log-opts": {"splunk-url": "https://127.0.0.1:8088", "splunk-token": "s3cr3t-tok"}}
    with second_dockerd(daemon_json, ["--no-new-privileges", "--default-ulimit", "nofile=1024:2048"]) as url:
        collected = collect_docker(docker_host=url)
    daemon = only(collected, "docker.daemon")
    assert daemon["process"] is not None and url in daemon["process"]["argv"]
    assert daemon["flags"]["host"] == [url] and daemon["flags"]["no-new-privileges"] == ["true"]
    assert daemon["flags"]["bridge"] == ["none"]
    effective = daemon["effective"]
    assert effective["icc"] is False and effective["no-new-privileges"] is True
    assert effective["log-level"] == "warn" and effective["hosts"] == [url]
    assert effective["log-opts"] == {"splunk-url": "https://127.0.0.1:8088", "splunk-token": "<redacted>"}
    assert effective["default-ulimits"]["nofile"]["Hard"] == 2048
    assert daemon["daemon_json"]["log-opts"]["splunk-token"] == "<redacted>"
    assert daemon["daemon_json_path"] == daemon["flags"]["config-file"][0]
    assert daemon["conflicts"] == []
    socket_path = url[len("unix://"):]
    assert daemon["socket_paths"] == [socket_path]
    sock_item = role(collected, "host.file", "docker-sock")
    assert sock_item["type"] == "socket" and sock_item["owner"] == "root"
    assert daemon["info"]["DockerRootDir"].startswith(os.path.dirname(socket_path))
    assert "s3cr3t-tok" not in json.dumps(build_bundle(collected))


def test_malformed_daemon_json_names_line(docker_host: str, tmp_path: Any) -> None:
    (tmp_path / "etc/docker").mkdir(parents=True)
    (tmp_path / "etc/docker/daemon.json").write_text('{\n  "icc": false\n  "log-level": "warn"\n}\n')
    collected = collect_docker(docker_host=docker_host, root=str(tmp_path),
                               daemon_json_path="/etc/docker/daemon.json")
    daemon = only(collected, "docker.daemon")
    message = "/etc/docker/daemon.json line 3 column 3: Expecting ',' delimiter"
    assert daemon["errors"]["daemon_json"] == message and daemon["errors"]["effective"] == message
    assert daemon["daemon_json"] is None and daemon["info"] is not None


# ---------------------------------------------------------------- host facts in a temp root

def _write(root: str, path: str, text: str, mode: int = 0o644, owner: tuple[int, int] = (0, 0)) -> None:
    real = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(real), exist_ok=True)
    with open(real, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(real, mode)
    os.chown(real, *owner)


@pytest.fixture
def fake_root(tmp_path: Any) -> str:
    """A host tree with real modes and owners, its own accounts, audit rules and /proc files."""
    root = str(tmp_path / "root")
    _write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:999::/home/alice:/bin/sh\n"
                                "bob:x:1001:1001::/home/bob:/bin/sh\n", 0o640)
    _write(root, "/etc/group", "root:x:0:\ndocker:x:999:bob\nbob:x:1001:\n")
    _write(root, "/etc/hostname", "audited-node\n")
    _write(root, "/etc/environment", 'PATH="/usr/bin"\nDOCKER_CONTENT_TRUST="1"\n')
    _write(root, "/lib/systemd/system/docker.service", "[Service]\n", 0o644)
    _write(root, "/etc/systemd/system/docker.service", "[Service]\n", 0o600, (1000, 999))  # wins
    _write(root, "/etc/docker/certs.d/reg:5000/ca.crt", "cert", 0o444, (1000, 999))
    os.chmod(os.path.join(root, "etc/docker"), 0o750)
    os.chown(os.path.join(root, "etc/docker"), 0, 999)
    _write(root, "/srv/daemon.json", '{"tlscacert": "/etc/docker/ca.pem", "tlsverify": true}', 0o600)
    os.symlink("/srv/daemon.json", os.path.join(root, "etc/docker/daemon.json"))
    _write(root, "/etc/docker/ca.pem", "ca", 0o444)
    os.makedirs(os.path.join(root, "etc/default"))
    os.symlink("../../../../../../../../etc/passwd", os.path.join(root, "etc/default/docker"))
    os.makedirs(os.path.join(root, "etc/sysconfig"))
    os.symlink("docker", os.path.join(root, "etc/sysconfig/docker"))  # a loop
    _write(root, "/usr/bin/dockerd", "", 0o755)
    _write(root, "/usr/sbin/runc", "", 0o755)
    _write(root, "/etc/audit/rules.d/docker.rules",
           "-w /usr/bin/dockerd -p wa -k docker\n-w /etc/docker -p wa -k docker\n"
           "-a always,exit -F arch=b64 -S all -F path=/usr/sbin/runc -F perm=wa -k docker\n")
    # A /proc with a numeric dir makes the collector use it (and find no dockerd there).
    _write(root, "/proc/1/comm", "systemd\n")
    _write(root, "/proc/1/mountinfo", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                                      "30 22 8:17 / /var/lib/docker rw - ext4 /dev/sdb1 rw\n")
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    _write(root, "/proc/net/tcp", header + "   0: 00000000:0948 00000000:0000 0A 0 0 0 0 0\n"
                                           "   1: 0100007F:1F90 0100007F:D431 01 0 0 0 0 0\n")
    _write(root, "/proc/net/tcp6", header + "   0: 00000000000000000000000001000000:0CEA "
                                            "00000000000000000000000000000000:0000 0A 0 0 0 0 0\n")
    return root


def test_host_facts_in_temp_root(fake_root: str, short_tmp: str) -> None:
    collected = collect_docker(docker_host=f"unix://{short_tmp}/none.sock", root=fake_root, timeout=1)
    daemon = only(collected, "docker.daemon")
    assert daemon["process"] is None and daemon["units"]["docker.service"] == "/etc/systemd/system/docker.service"
    assert daemon["daemon_json"] == {"tlscacert": "/etc/docker/ca.pem", "tlsverify": True}
    files = by_role(collected, "host.file")
    service = files["docker.service:/etc/systemd/system/docker.service"]
    assert (service["mode"], service["owner"], service["group"], service["uid"]) == ("0600", "alice", "docker", 1000)
    etc = files["etc-docker:/etc/docker"]
    assert (etc["type"], etc["mode"], etc["owner"], etc["group"]) == ("directory", "0750", "root", "docker")
    cert = files["registry-cert:/etc/docker/certs.d/reg:5000/ca.crt"]
    assert (cert["mode"], cert["owner"]) == ("0444", "alice")
    assert files["tls-ca:/etc/docker/ca.pem"]["exists"] is True
    daemon_json = files["daemon-json:/etc/docker/daemon.json"]
    assert daemon_json["link_target"] == "/srv/daemon.json" and daemon_json["mode"] == "0600"
    # The link climbs far above the root but stays inside it: the root's passwd, mode 0640.
    default = files["etc-default-docker:/etc/default/docker"]
    assert default["link_target"] == "/etc/passwd" and default["mode"] == "0640"
    loop = files["etc-sysconfig-docker:/etc/sysconfig/docker"]
    assert "symbolic links" in loop["errors"]["mode"] and loop["exists"] is None
    sock = files["docker-sock:/var/run/docker.sock"]
    assert sock["exists"] is False and sock["type"] is None
    assert files["docker.socket:/lib/systemd/system/docker.socket"]["exists"] is False

    audit = {item["role"]: item for item in collected.targets["host.audit_path"]}
    assert audit["dockerd"]["path"] == "/usr/bin/dockerd" and audit["dockerd"]["rules"][0]["key"] == "docker"
    assert [r["path"] for r in audit["daemon-json"]["rules"]] == ["/etc/docker"]
    assert audit["runc"]["path"] == "/usr/sbin/runc" and audit["runc"]["rules"][0]["kind"] == "syscall"
    assert audit["docker-root"]["rules"] == [] and audit["docker-root"]["exists"] is False
    assert audit["runc"]["rules_source"].startswith("/etc/audit")

    info = only(collected, "host.info")
    assert info["subject"]["name"] == "audited-node"
    assert info["docker_root"] == {"path": "/var/lib/docker", "mount_point": "/var/lib/docker",
                                   "device": "8:17", "root_device": "8:1", "separate": True}
    assert info["docker_group"] == {"exists": True, "gid": 999, "members": ["alice", "bob"]}
    assert info["listening"] == [{"proto": "tcp", "address": "0.0.0.0", "port": 2376},
                                 {"proto": "tcp6", "address": "::1", "port": 3306}]
    assert info["content_trust"]["etc_environment"] == "1"


def test_fifo_daemon_json_does_not_block(tmp_path: Any, short_tmp: str) -> None:
    os.makedirs(tmp_path / "etc/docker")
    os.mkfifo(tmp_path / "etc/docker/daemon.json")
    started = time.monotonic()
    collected = collect_docker(docker_host=f"unix://{short_tmp}/none.sock", root=str(tmp_path), timeout=1)
    assert time.monotonic() - started < 5
    daemon = only(collected, "docker.daemon")
    assert "fifo" in daemon["errors"]["daemon_json"]
    assert role(collected, "host.file", "daemon-json")["type"] == "fifo"


def test_resolve_in_root_never_escapes(tmp_path: Any) -> None:
    root = str(tmp_path)
    os.makedirs(tmp_path / "a")
    os.symlink("/../../etc", tmp_path / "a/up")
    assert host.resolve_in_root(root, "/a/up/shadow") == "/etc/shadow"
    with pytest.raises(host.RootPathError):
        os.symlink("b", tmp_path / "a/b")
        host.resolve_in_root(root, "/a/b")


def test_socket_mounts_are_derived_against_the_daemon_sockets():
    from auditor.collect.docker import socket_mounts

    def mounts(*sources):
        return {"Mounts": [{"Source": s, "Destination": "/x", "RW": True} for s in sources]}

    sockets = ["/var/run/docker.sock", "/srv/custom/engine.sock"]
    assert socket_mounts(mounts("/srv/data", "/etc/localtime"), sockets) == []
    found = socket_mounts(mounts("/run/docker.sock", "/var/run", "/srv/custom", "/tmp/x/docker.sock"), sockets)
    assert [m["Source"] for m in found] == ["/run/docker.sock", "/var/run", "/srv/custom", "/tmp/x/docker.sock"]
    assert socket_mounts(None, sockets) == []


def test_a_daemon_on_another_machine_is_never_given_this_machines_dockerd_or_daemon_json(tmp_path):
    """A fleet's tcp:// or ssh:// host elsewhere: the local dockerd (same default data root) is not
    it, and the local /etc/docker/daemon.json is not its configuration: flags and settings are
    errors saying why, not this machine's values judged under the other host's name."""
    from auditor.collect.docker import Api, Process, choose_dockerd, daemon_item, endpoint_is_local

    local = Process(pid=1, exe="/usr/bin/dockerd", argv=["dockerd"], flags={})
    for address in ("tcp://10.0.0.5:2376", "ssh://ops@build-7.example", "tcp://[2001:db8::1]:2376"):
        assert not endpoint_is_local(address)
        assert choose_dockerd([local], address, "/var/lib/docker") is None
    for address in ("unix:///var/run/docker.sock", "tcp://127.0.0.1:2375", "tcp://localhost:2376",
                    "ssh://localhost"):
        assert endpoint_is_local(address)
    assert choose_dockerd([local], "tcp://127.0.0.1:2375", "/var/lib/docker") is local
    (tmp_path / "etc/docker").mkdir(parents=True)
    (tmp_path / "etc/docker/daemon.json").write_text('{"icc": false, "userns-remap": "default"}')
    api = Api("tcp://10.0.0.5:2376", info={"Name": "build-7"}, version={"Version": "27.0.0"})
    item = daemon_item(api, None, str(tmp_path), None, {})
    assert item["daemon_json"] is None and "another machine" in item["errors"]["effective"]
    assert set(item["errors"]) >= {"flags", "effective", "daemon_json"}
    here = daemon_item(Api("unix:///var/run/docker.sock", info={}, version={}), None, str(tmp_path), None, {})
    assert here["daemon_json"] == {"icc": False, "userns-remap": "default"}
    assert "effective" not in here.get("errors", {})
