"""End to end against real daemons: containers with chosen flags, a second dockerd with a chosen
daemon.json, and real files with real modes and owners under a temporary --root."""

from __future__ import annotations

import json
import os
import socket

import dockerd
import pytest
import scenario

from auditor.cli import main
from auditor.collect.docker import collect_docker
from auditor.evidence.bundle import build_bundle
from auditor.judging.engine import evaluate
from auditor.packs.loader import find_pack_paths, load_pack
from auditor.results.document import build_results, expand_results, validate_results

pytestmark = [pytest.mark.slow, pytest.mark.docker]
PACK = "cis-docker-1.6.0"


def audit(host: str, **kwargs) -> dict:
    evidence = build_bundle(collect_docker(docker_host=host, **kwargs))
    results = build_results(evidence, evaluate(evidence, [load_pack(find_pack_paths()[PACK])]))
    validate_results(results)
    return results


def subject_status(control: dict, name: str) -> str:
    """The verdict of one subject under a control; not_applicable when it was not judged."""
    for finding in control["findings"]:
        if finding["subject"]["name"] == name:
            return finding["status"]
    return "not_applicable"


@pytest.fixture(scope="module")
def scenario_results(docker_host):
    with scenario.Scenario(docker_host) as made:
        results = audit(docker_host)
        yield made, results


def test_every_container_control_verdict_for_every_container(scenario_results):
    made, results = scenario_results
    controls = {c["id"]: c for c in results["controls"]}
    daemon_opts = " ".join(made.api.info().get("SecurityOptions") or [])
    wrong = []
    for case in made.cases:
        name = f"auditor-test-{case.name}"
        for control_id in scenario.CONTAINER_CONTROLS:
            if control_id in scenario.LSM_CONTROLS:
                expected = "pass" if scenario.LSM_CONTROLS[control_id] in daemon_opts else "not_applicable"
            elif control_id == "5.7" and not case.start:
                expected = "not_applicable"  # no process list for a container that is not running
            else:
                expected = "fail" if control_id in case.fails else "pass"
            got = subject_status(controls[control_id], name)
            if got != expected:
                wrong.append(f"{name} {control_id}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_failing_findings_name_the_container_and_what_was_seen(scenario_results):
    _, results = scenario_results
    privileged = next(c for c in results["controls"] if c["id"] == "5.5")
    finding = next(f for f in privileged["findings"] if f["subject"]["name"] == "auditor-test-privileged")
    assert finding["status"] == "fail" and finding["observed"] is True
    assert finding["subject"]["id"] and finding["expected"]
    sock = next(c for c in results["controls"] if c["id"] == "5.32")
    finding = next(f for f in sock["findings"] if f["subject"]["name"] == "auditor-test-docker-sock")
    assert "docker.sock" in json.dumps(finding["observed"])


def _section2(results: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in results["controls"] if c["section"] == "2"}


def test_second_dockerd_settings_change_section_2(docker_host):
    hardened = {"icc": False, "live-restore": True, "userland-proxy": False, "no-new-privileges": True,
                "log-level": "info", "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}}}
    with dockerd.second_dockerd(hardened) as host:
        good = _section2(audit(host))
    loose = {"iptables": False, "insecure-registries": ["registry.invalid:5000"], "live-restore": False}
    with dockerd.second_dockerd(loose, extra_args=["--log-level", "debug"]) as host:
        bad = _section2(audit(host))
    expectations = {  # control: (with the hardened daemon.json, with the loose one)
        "2.2": ("pass", "fail"),    # icc
        "2.3": ("pass", "fail"),    # log level (debug given as a flag)
        "2.4": ("pass", "fail"),    # iptables
        "2.5": ("pass", "fail"),    # insecure registries
        "2.8": ("pass", "fail"),    # default ulimits
        "2.14": ("pass", "fail"),   # no-new-privileges
        "2.15": ("pass", "fail"),   # live restore
        "2.16": ("pass", "fail"),   # userland proxy
    }
    wrong = [f"{cid}: expected {exp}, got {(good[cid], bad[cid])}" for cid, exp in expectations.items()
             if (good[cid], bad[cid]) != exp]
    assert not wrong, "\n".join(wrong)


def test_malformed_daemon_json_gives_errors_naming_file_and_line(docker_host, tmp_path):
    broken = tmp_path / "daemon.json"
    broken.write_text('{\n  "icc": false,\n  "live-restore": true\n  "log-level": "info"\n}\n')
    results = audit(docker_host, daemon_json_path=str(broken))
    statuses = _section2(results)
    assert statuses["2.2"] == "error"
    control = next(c for c in results["controls"] if c["id"] == "2.2")
    message = control["reason"] or control["findings"][0]["message"]
    assert str(broken) in message and "line 4" in message
    assert statuses["2.15"] in ("pass", "fail")  # read from the API, still judged


def _write(root, rel, text="x", mode=0o644, uid=0, gid=0):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    os.chown(path, uid, gid)
    return path


def test_section_3_against_real_files_under_a_root(tmp_path, capsys):
    root = tmp_path / "host"
    _write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n")
    _write(root, "etc/group", "root:x:0:\ndocker:x:998:alice\nalice:x:1000:\n")
    tls = {"tlsverify": True, "tlscacert": "/etc/docker/tls/ca.pem", "tlscert": "/etc/docker/tls/cert.pem",
           "tlskey": "/etc/docker/tls/key.pem"}
    _write(root, "etc/docker/daemon.json", json.dumps(tls), mode=0o666)
    os.chmod(root / "etc/docker", 0o755)
    _write(root, "etc/docker/tls/ca.pem", mode=0o444)
    _write(root, "etc/docker/tls/cert.pem", mode=0o644)
    _write(root, "etc/docker/tls/key.pem", mode=0o600)
    _write(root, "etc/docker/certs.d/registry.example:5000/ca.crt", mode=0o444)
    _write(root, "etc/docker/certs.d/registry.example:5000/client.cert", mode=0o644)
    _write(root, "lib/systemd/system/docker.service", mode=0o644, uid=1000)
    _write(root, "lib/systemd/system/docker.socket", mode=0o664)
    _write(root, "etc/default/docker", mode=0o644)
    sock_dir = root / "var/run"
    sock_dir.mkdir(parents=True)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_dir / "docker.sock"))
    os.chmod(sock_dir / "docker.sock", 0o660)
    os.chown(sock_dir / "docker.sock", 0, 998)
    try:
        code = main(["audit", "--root", str(root), "--docker-host", f"unix://{tmp_path}/nothing.sock",
                     "--timeout", "2", "--section", "3", "--section", "1.1.2", "--format", "json", "--pack", PACK,
                     "-o", str(tmp_path / "out")])
    finally:
        sock.close()
    out = capsys.readouterr().out
    results = expand_results(json.loads(out))
    assert code == 3  # the daemon was unreachable: evidence incomplete, files still judged
    got = {c["id"]: c["status"] for c in results["controls"]}
    expected = {
        "1.1.2": "fail",                      # alice is in the docker group
        "3.1": "fail", "3.2": "pass",         # docker.service owned by alice, 0644
        "3.3": "pass", "3.4": "fail",         # docker.socket 0664
        "3.5": "pass", "3.6": "pass",         # /etc/docker 0755 root:root
        "3.7": "pass", "3.8": "fail",         # a registry certificate 0644
        "3.9": "pass", "3.10": "pass",        # CA 0444
        "3.11": "pass", "3.12": "fail",       # server certificate 0644
        "3.13": "pass", "3.14": "fail",       # key 0600 (must be 0400)
        "3.15": "pass", "3.16": "pass",       # socket root:docker 0660
        "3.17": "pass", "3.18": "fail",       # daemon.json 0666
        "3.19": "pass", "3.20": "pass",       # /etc/default/docker
        "3.21": "not_applicable", "3.22": "not_applicable",  # no /etc/sysconfig/docker
        "3.23": "not_applicable", "3.24": "not_applicable",  # no containerd socket
    }
    wrong = [f"{cid}: expected {exp}, got {got.get(cid)}" for cid, exp in expected.items() if got.get(cid) != exp]
    assert not wrong, "\n".join(wrong)
    by_id = {c["id"]: c for c in results["controls"]}
    finding = next(f for f in by_id["3.14"]["findings"] if f["status"] == "fail")
    assert finding["subject"]["path"] == "/etc/docker/tls/key.pem" and finding["observed"] == "0600"


def test_unreachable_daemon_turns_daemon_and_container_controls_into_errors(tmp_path, capsys):
    code = main(["audit", "--docker-host", f"unix://{tmp_path}/nothing.sock", "--timeout", "2",
                 "--format", "json", "-o", str(tmp_path), "--pack", PACK])
    results = expand_results(json.loads(capsys.readouterr().out))
    assert code == 3
    statuses = {c["id"]: c["status"] for c in results["controls"]}
    for cid in ("2.2", "5.5", "5.10", "4.6"):
        assert statuses[cid] == "error", cid
    reason = next(c for c in results["controls"] if c["id"] == "5.5")["reason"]
    assert "nothing.sock" in reason
    assert statuses["3.5"] in ("pass", "fail", "not_applicable")
