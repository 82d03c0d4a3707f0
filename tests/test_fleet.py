"""A fleet of Docker hosts in one audit: the system dockerd and a second real dockerd, each a
subject of its own, collected in parallel, and an address that never answers becoming an
`error` host within its timeout."""

from __future__ import annotations

import json
import socket

import dockerd
import pytest

from auditor.cli import main
from auditor.results.document import expand_results

pytestmark = [pytest.mark.slow, pytest.mark.docker]


@pytest.fixture
def black_hole():
    """A TCP address that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_two_real_daemons_and_a_silent_address_in_one_fleet_report(tmp_path, capsys, black_hole):
    if not dockerd.answers(dockerd.SYSTEM_HOST):
        pytest.skip("no system dockerd")
    with dockerd.second_dockerd({"icc": False, "live-restore": True}) as second:
        code = main(["audit", "--docker-host", dockerd.SYSTEM_HOST, "--docker-host", second, "--docker-host",
                     black_hole, "--timeout", "2", "--pack", "cis-docker-1.6.0", "--format", "json",
                     "-o", str(tmp_path), "--no-pdf", "--no-html"])
    results = expand_results(json.loads(capsys.readouterr().out))
    assert code == 3  # one host could not be read
    hosts = {h["host"]: h for h in results["hosts"]}
    assert len(hosts) == 3 and black_hole in hosts
    assert results["hosts"][0]["host"] == black_hole  # worst first: nothing could be judged on it
    local = [h for h in hosts if h != black_hole]
    assert any(dockerd.SYSTEM_HOST in h for h in local) and any(second in h for h in local)
    assert all(hosts[h]["score"] is not None for h in local)
    icc = next(c for c in results["controls"] if c["id"] == "2.2")  # inter-container traffic
    by_host = {f["subject"]["host"]: f["status"] for f in icc["findings"]}
    assert by_host[next(h for h in local if second in h)] == "pass"  # the second daemon sets icc: false
    assert by_host[black_hole] == "error"
    error = next(f for f in icc["findings"] if f["subject"]["host"] == black_hole)
    assert "no answer within 2s" in error["message"] or "cannot connect" in error["message"]
    assert icc["hosts"]["total"] == 3


def test_a_fleet_is_a_docker_audit_only(tmp_path, capsys):
    code = main(["audit", "--target", "docker,cluster", "--docker-host", "unix:///a.sock", "--docker-host",
                 "unix:///b.sock", "-o", str(tmp_path)])
    assert code == 2 and "several --docker-host make a fleet audit" in capsys.readouterr().err
