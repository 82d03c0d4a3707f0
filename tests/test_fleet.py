"""A fleet of Docker hosts in one audit: the system dockerd and a second real dockerd, each a
subject of its own, collected in parallel, and an address that never answers becoming an
`error` host within its timeout."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys

import dockerd
import pytest
import relay

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


def _tls_material(folder):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as the docker CLI names
    them in $DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, key, issuer, issuer_key, ca=False, server=False):
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        if not ca:
            usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
            b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    def write(name, data):
        path = os.path.join(folder, name)
        with open(path, "wb") as fh:
            fh.write(data)
        return path

    def pem_key(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key, srv_key, cli_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = cert("fleet-test-ca", ca_key, "fleet-test-ca", ca_key, ca=True)
    pem = serialization.Encoding.PEM
    paths = {"ca": write("ca.pem", ca.public_bytes(pem)),
             "server_cert": write("server-cert.pem", cert("127.0.0.1", srv_key, "fleet-test-ca", ca_key,
                                                          server=True).public_bytes(pem)),
             "server_key": write("server-key.pem", pem_key(srv_key)),
             "cert": write("cert.pem", cert("auditor", cli_key, "fleet-test-ca", ca_key).public_bytes(pem)),
             "key": write("key.pem", pem_key(cli_key))}
    return paths


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _tcp_into_namespace(unix_host: str, inner_port: int):
    """127.0.0.1:PORT here reaching 127.0.0.1:inner_port inside the second dockerd's own network
    namespace: a forwarder in that namespace listens on a unix socket (sockets on the filesystem
    cross network namespaces), and a thread here forwards a loopback TCP port to it. Bytes only:
    TLS is between the client and dockerd."""
    base = unix_host[len("unix://"):].rsplit("/", 1)[0]
    with open(os.path.join(base, "docker.pid"), encoding="ascii") as fh:
        pid = int(fh.read().strip())
    relay_path = os.path.join(base, "relay.sock")
    # a new network namespace starts with its loopback interface down
    subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "link", "set", "lo", "up"], check=True)
    inner = subprocess.Popen(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, relay.__file__,
                              relay_path, str(inner_port)], stdout=subprocess.PIPE, text=True)
    try:
        assert inner.stdout is not None and inner.stdout.readline().strip() == "ready"
        with relay.loopback_to_unix(relay_path) as port:
            yield port
    finally:
        inner.kill()
        inner.wait()


def test_a_unix_daemon_and_a_tls_daemon_in_one_fleet_report(tmp_path, capsys, monkeypatch):
    """The system dockerd on its unix socket and a second real dockerd on TCP with TLS client
    certificates made here: both judged in one run; the TLS one without the client certificate
    is an `error` host, not a missing one."""
    if not dockerd.answers(dockerd.SYSTEM_HOST):
        pytest.skip("no system dockerd")
    certs_dir = tmp_path / "certs"
    certs_dir.mkdir()
    tls = _tls_material(str(certs_dir))
    inner_port = _free_port()
    extra = ["-H", f"tcp://127.0.0.1:{inner_port}", "--tlsverify", "--tlscacert", tls["ca"],
             "--tlscert", tls["server_cert"],
             "--tlskey", tls["server_key"]]
    with dockerd.second_dockerd({"icc": False}, extra_args=extra) as second, \
            _tcp_into_namespace(second, inner_port) as port:
        tcp = f"tcp://127.0.0.1:{port}"
        monkeypatch.setenv("DOCKER_CERT_PATH", str(certs_dir))
        monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
        # as on many machines: a system CA bundle for requests, which must not replace the daemon's CA
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", ssl.get_default_verify_paths().openssl_cafile)
        code = main(["audit", "--docker-host", dockerd.SYSTEM_HOST, "--docker-host", tcp, "--timeout", "10",
                     "--pack", "cis-docker-1.6.0", "--format", "json", "-o", str(tmp_path / "a"),
                     "--no-pdf", "--no-html"])
        results = expand_results(json.loads(capsys.readouterr().out))
        monkeypatch.delenv("DOCKER_CERT_PATH")
        monkeypatch.delenv("DOCKER_TLS_VERIFY")
        refused = main(["audit", "--docker-host", dockerd.SYSTEM_HOST, "--docker-host", tcp, "--timeout", "5",
                        "--pack", "cis-docker-1.6.0", "--format", "json", "-o", str(tmp_path / "b"),
                        "--no-pdf", "--no-html"])
        without = expand_results(json.loads(capsys.readouterr().out))
    # both daemons read; exit 3 only because the TLS host's files are not this machine's to read
    assert code == 3
    assert not results["evidence"]["errors"]
    skipped = [s for s in results["evidence"]["sources"] if s["status"] == "skipped"]
    assert [s["name"] for s in skipped] == ["host.files"] and tcp in skipped[0]["detail"]
    hosts = {h["host"]: h for h in results["hosts"]}
    assert len(hosts) == 2 and all(h["score"] is not None for h in hosts.values())
    tls_host = next(h for h in hosts if "127.0.0.1" in h)
    icc = next(c for c in results["controls"] if c["id"] == "2.2")
    by_host = {f["subject"]["host"]: f["status"] for f in icc["findings"]}
    assert by_host[tls_host] == "pass"  # the TLS daemon runs with icc: false: its own settings judged
    assert not any(e.get("source") == "docker.api" for e in results["evidence"].get("errors", []))
    assert refused == 3  # no client certificate: the TLS daemon cannot be read
    bad = next(h for h in without["hosts"] if tcp in h["host"] or "127.0.0.1" in h["host"])
    assert bad["score"] is None and bad["counts"]["error"] > 0
