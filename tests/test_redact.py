"""The redaction stage (auditor.evidence.redact): by structure and by content, counted, and never
a change of verdict."""

from __future__ import annotations

import copy
import json
import os

import pytest

from auditor.cli import DEMO_EVIDENCE
from auditor.collect.manifests import collect_manifests
from auditor.common.jsonio import canonical_json
from auditor.common.secrets import redact_argv, redact_text
from auditor.evidence.bundle import build_bundle, load_bundle
from auditor.evidence.redact import redact_targets
from auditor.judging.engine import evaluate
from auditor.packs.loader import resolve_packs

HERE = os.path.dirname(os.path.abspath(__file__))
S = "Zq7sEcr3tVa1ue"  # the canary: short, no shape of its own, found only by structure
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1x\nq8w9\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize("text, kept", [
    (f"sleep 600 --password={S} --token {S} postgres://u:{S}@db/x", "sleep 600 --password="),
    (f"/health?token={S}&x=1", "/health?token="),
    (f"Authorization: Bearer {S}", "Authorization: "),
    (f"Server=db;User Id=u;Password={S};", "Server=db;User Id=u;Password="),
    (f"DB_PASSWORD={S} ./run", " ./run"),
    (f'{{"api_key": "{S}"}}', '{"api_key": "'),
    (f"mysql -uroot -p{S} shop", "mysql -uroot -p"),
    (f"redis-cli -a {S} ping", "redis-cli -a "),
    (f"error: token {JWT} expired", "error: token "),
    (f"key AKIAIOSFODNN7EXAMPLE for {S[:3]}", "key "),
    (f"got {PEM} from file", "got "),
    ("bearer x9Kq2LmP4vR7tY1wZ3bN6cF8hJ0dS5gA", "bearer "),
])
def test_redact_text_finds_the_secret(text: str, kept: str) -> None:
    out = redact_text(text)
    assert S not in out and JWT not in out and "AKIAIOSFODNN7EXAMPLE" not in out and "MIIEpAIB" not in out
    assert "x9Kq2LmP4vR7tY1wZ3bN6cF8hJ0dS5gA" not in out
    assert kept in out and "<redacted>" in out
    assert redact_text(out) == out  # idempotent


@pytest.mark.parametrize("text", [
    "--use-service-account-credentials=true", "--authorization-mode=Node,RBAC", "--token-auth-file=/etc/t.csv",
    "registry.example.com/team1/web:1.2.3", "sha256:" + "ab12" * 16, "ServiceAccount-ns0162-app0",
    "3f2b8c1e-9a4d-4c2e-8b7a-1d2e3f4a5b6c", "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
    "/var/lib/docker/overlay2/l/ABCDEFGHIJKLMNOPQRSTUVWXYZ", "secrets is forbidden: User cannot list",
    "--anonymous-auth=false", "tcp://0.0.0.0:2376",
])
def test_redact_text_keeps_evidence(text: str) -> None:
    assert redact_text(text) == text


def test_redact_argv_by_flag_and_program() -> None:
    assert redact_argv(["sleep", "600", f"--password={S}", "--token", S, f"postgres://u:{S}@db/x", "-p", "8080"]) == [
        "sleep", "600", "--password=<redacted>", "--token", "<redacted>", "postgres://<redacted>@db/x", "-p", "8080"]
    assert redact_argv(["mysql", "-p", S, f"-p{S}"]) == ["mysql", "-p", "<redacted>", "-p<redacted>"]
    assert redact_argv(["curl", "-u", f"bob:{S}", "http://x"]) == ["curl", "-u", "<redacted>", "http://x"]
    assert redact_argv(["java", "-password", S, "-jar", "a.jar"]) == [
        "java", "-password", "<redacted>", "-jar", "a.jar"]


MANIFEST = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{{"spec": {{"x": "{S}1"}}}}'
    example.com/config: '{{"password": "{S}2", "mode": "fast"}}'
spec:
  template:
    spec:
      initContainers:
      - name: init
        image: busybox
        env: [{{name: MODE, value: {S}3}}]
      containers:
      - name: app
        image: registry.example/app:1.0
        command: ["/bin/app", "--token={S}4"]
        args: ["--db-password={S}5", "--api-key", "{S}6", "postgres://u:{S}7@db/x"]
        env: [{{name: PLAIN, value: {S}8}}, {{name: REF, valueFrom: {{secretKeyRef: {{name: s, key: k}}}}}}]
        livenessProbe:
          httpGet:
            path: /health?token={S}9
            port: 8080
            httpHeaders: [{{name: Authorization, value: "Bearer {S}10"}}, {{name: X-Api-Key, value: {S}11}},
                          {{name: Accept, value: text/plain}}]
        lifecycle:
          postStart:
            httpGet: {{path: /, port: 80, httpHeaders: [{{name: Cookie, value: "sid={S}12"}}]}}
          preStop:
            exec: {{command: ["sh", "-c", "curl -u admin:{S}13 http://localhost/stop"]}}
        readinessProbe:
          exec: {{command: ["mysql", "-p{S}14", "-e", "select 1"]}}
      ephemeralContainers:
      - name: debug
        image: busybox
        env: [{{name: TOKEN, value: {S}15}}]
"""


def test_manifest_places_are_redacted_counted_and_named(tmp_path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(MANIFEST)
    bundle = build_bundle(collect_manifests([str(path)]), host="h", collected_at="2026-01-01T00:00:00Z")
    text = canonical_json(bundle).decode()
    assert S not in text
    redactions = bundle["metadata"]["redactions"]
    assert redactions["total"] >= 15
    fields = redactions["by_field"]
    assert any(k.startswith("k8s.container:") and k.endswith("args[]") for k in fields), fields
    assert any("httpHeaders" in k for k in fields), fields
    # What checks read survives: names, references, ports, the probe's path, the plain header.
    containers = bundle["targets"]["k8s.container"]
    app = next(i for i in containers if i["container"]["name"] == "app")
    assert [e["name"] for e in app["container"]["env"]] == ["PLAIN", "REF"]
    assert app["container"]["env"][1]["valueFrom"]["secretKeyRef"]["name"] == "s"
    assert app["container"]["args"][1] == "--api-key"
    headers = app["container"]["livenessProbe"]["httpGet"]["httpHeaders"]
    assert headers[2] == {"name": "Accept", "value": "text/plain"}
    assert app["container"]["livenessProbe"]["httpGet"]["path"] == "/health?token=<redacted>"
    assert any(p.startswith("container.args") for p in app["redacted"])
    assert "<redacted>" not in json.dumps(redactions)  # paths and counts, never values
    assert bundle == load_bundle_roundtrip(tmp_path, bundle)


def load_bundle_roundtrip(tmp_path, bundle):  # type: ignore[no-untyped-def]
    from auditor.evidence.bundle import save_bundle

    out = str(tmp_path / "b.json")
    save_bundle(bundle, out)
    return load_bundle(out)


def _verdicts(evidence: dict) -> dict:
    out = {}
    for pack, controls in evaluate(evidence, resolve_packs(None)):
        for control, result in controls:
            findings = sorted((json.dumps(f.get("subject"), sort_keys=True), f.get("status"))
                              for f in result.get("findings", []))
            out[(pack.id, control.id)] = (result.get("status"), findings)
    return out


@pytest.mark.parametrize("evidence_of", ["demo", "manifests"])
def test_redaction_never_changes_a_verdict(evidence_of: str) -> None:
    """Differential over the golden scenario (the demo evidence) and the manifest fixtures."""
    if evidence_of == "demo":
        raw = load_bundle(DEMO_EVIDENCE)
    else:
        collected = collect_manifests([os.path.join(HERE, "fixtures", "manifests")])
        raw = {"kind": "auditor-evidence", "schema_version": "1", "targets": collected.targets,
               "metadata": {"host": "h", "collected_at": "2026-01-01T00:00:00Z", "root": "/", "complete": True,
                            "sources": [], "errors": [], "target_errors": {}}}
    redacted = copy.deepcopy(raw)
    redact_targets(redacted["targets"])
    before, after = _verdicts(raw), _verdicts(redacted)
    assert before.keys() == after.keys()
    changed = [k for k in before if before[k] != after[k]]
    assert changed == []
