"""Canaries planted in every place of a Kubernetes object or a Docker container where a secret can
hide, and the search for them in every output (tests/test_redact_canaries.py and the property
test in tests/test_redact_properties.py).

Two kinds of canary:
- structural ones (lowercase letters and digits, no shape of their own: no entropy rule, no
  detector would find them): only the structure they sit in (a secret-like flag, header, URL
  user-info, environment value, embedded object) can hide them;
- shaped ones (a JWT, an AWS key id, a PEM private key block, a random token) in free text, where
  only the content detectors can find them.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import subprocess
import uuid
from typing import Any

# Places in a pod spec (and its object's metadata); each gets its own canary.
K8S_PLACES = (
    "args_eq", "args_sep", "command_eq", "args_url", "args_connstr",
    "init_args", "init_command", "ephemeral_args", "ephemeral_command",
    "probe_path", "probe_authorization", "startup_cookie", "lifecycle_api_key", "lifecycle_basic", "exec_probe",
    "env_value", "init_env", "ephemeral_env",
    "last_applied", "annotation_json", "annotation_jwt", "annotation_aws", "annotation_pem", "annotation_token",
    "configmap_value",
)
DOCKER_PLACES = ("cmd_password", "cmd_token", "cmd_url", "entrypoint_api_key", "env_secret", "env_plain",
                 "label_token", "healthcheck_authorization")
SHAPED = {"annotation_jwt", "annotation_aws", "annotation_pem", "annotation_token"}
_TOKEN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


def structural_canary() -> str:
    """Lowercase letters and digits, 20 characters: nothing about it looks secret."""
    return "cnry" + uuid.uuid4().hex[:16]


def jwt_canary() -> tuple[str, str]:
    """(the JWT to plant, the marker to look for: the JWT itself)."""
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    token = ".".join([part({"alg": "HS256", "typ": "JWT"}), part({"sub": uuid.uuid4().hex, "iat": 1700000000}),
                      base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")])
    return token, token


def random_token(n: int = 32) -> str:
    raw = b"".join(uuid.uuid4().bytes for _ in range(-(-n // 16)))  # n characters, not at most 32
    chars = [_TOKEN_ALPHABET[b % len(_TOKEN_ALPHABET)] for b in raw]
    chars[:3] = ["Q", "7", "k"]  # all three classes, whatever the draw
    return "".join(chars)[:n]


def canaries(places: tuple[str, ...], prefix: str = "") -> dict[str, str]:
    """One canary per place (keyed `prefix + place`): shaped for SHAPED places, structural else."""
    out = {}
    for place in places:
        if place == "annotation_jwt":
            value = jwt_canary()[0]
        elif place == "annotation_aws":
            value = "AKIA" + "".join(_TOKEN_ALPHABET[b % 24].upper() for b in uuid.uuid4().bytes)[:16]
        elif place in ("annotation_pem", "annotation_token"):
            value = random_token(40)
        else:
            value = structural_canary()
        out[prefix + place] = value
    return out


def pod_spec(c: dict[str, str], p: str = "") -> dict[str, Any]:
    """A pod spec with each canary of `c` (keys `p + place`) in its place."""
    def http(path: str, headers: list[dict[str, str]]) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": 8080, "httpHeaders": headers}}

    return {
        "initContainers": [{
            "name": "init", "image": "registry.example.com/tools/init:1.0",
            "command": ["/bin/init", "--token", c[p + "init_command"]],
            "args": [f"--db-password={c[p + 'init_args']}"],
            "env": [{"name": "MODE", "value": c[p + "init_env"]}],
        }],
        "containers": [{
            "name": "app", "image": "registry.example.com/shop/app:1.0",
            "command": ["/bin/app", f"--token={c[p + 'command_eq']}"],
            "args": [f"--db-password={c[p + 'args_eq']}", "--api-key", c[p + "args_sep"],
                     f"--upstream=postgres://app:{c[p + 'args_url']}@db.shop.svc:5432/shop",
                     f"Server=db;Database=shop;User Id=app;Password={c[p + 'args_connstr']};"],
            "env": [{"name": "GREETING", "value": c[p + "env_value"]},
                    {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "app", "key": "password"}}}],
            "envFrom": [{"secretRef": {"name": "app-env"}}, {"configMapRef": {"name": "app-config"}}],
            "ports": [{"containerPort": 8080}],
            "livenessProbe": http(f"/healthz?token={c[p + 'probe_path']}&verbose=1", []),
            "readinessProbe": http("/ready", [
                {"name": "Authorization", "value": f"Bearer {c[p + 'probe_authorization']}"},
                {"name": "Accept", "value": "application/json"}]),
            "startupProbe": http("/started", [{"name": "Cookie", "value": f"session={c[p + 'startup_cookie']}"}]),
            "lifecycle": {
                "postStart": http("/hooks/start", [{"name": "X-Api-Key", "value": c[p + "lifecycle_api_key"]}]),
                "preStop": http("/hooks/stop", [{"name": "Authorization",
                                                 "value": f"Basic {c[p + 'lifecycle_basic']}"}]),
            },
        }, {
            "name": "sidecar", "image": "registry.example.com/shop/sidecar:1.0",
            "livenessProbe": {"exec": {"command": ["sh", "-c", "curl -fsS -H 'Authorization: Bearer "
                                                   f"{c[p + 'exec_probe']}' http://127.0.0.1:9000/health"]}},
        }],
        "ephemeralContainers": [{
            "name": "debug", "image": "registry.example.com/tools/debug:1.0",
            "command": ["/bin/debug", f"--api-key={c[p + 'ephemeral_command']}"],
            "args": [f"--token={c[p + 'ephemeral_args']}"],
            "env": [{"name": "DEBUG_LEVEL", "value": c[p + "ephemeral_env"]}],
        }],
    }


def metadata(name: str, namespace: str, c: dict[str, str], p: str = "") -> dict[str, Any]:
    """Object metadata whose annotations carry the metadata canaries (last-applied, embedded
    JSON, shaped secrets in free text)."""
    last = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "env": [{"name": "GREETING", "value": c[p + "last_applied"]}]}]}}
    return {"name": name, "namespace": namespace, "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name + namespace)),
            "labels": {"app.kubernetes.io/name": name},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(last),
                "example.com/settings": json.dumps({"password": c[p + "annotation_json"], "mode": "fast"}),
                "example.com/ci-token": f"issued for ci: {c[p + 'annotation_jwt']}",
                "example.com/deployed-with": f"aws key {c[p + 'annotation_aws']} by the pipeline",
                "example.com/signing": ("-----BEGIN EC PRIVATE KEY-----\n" + c[p + "annotation_pem"]
                                        + "\n-----END EC PRIVATE KEY-----\n"),
                "example.com/build": f"build {c[p + 'annotation_token']} ok",
            }}


def k8s_objects(c: dict[str, str], p: str = "", namespace: str = "shop") -> list[dict[str, Any]]:
    """A Pod, a Deployment (the pod template) and a ConfigMap carrying the canaries."""
    return [
        {"apiVersion": "v1", "kind": "Pod", "metadata": metadata(f"{p.strip(':') or 'canary'}-pod", namespace, c, p),
         "spec": pod_spec(c, p)},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": metadata(f"{p.strip(':') or 'canary'}-deploy", namespace, c, p),
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}},
                  "template": {"metadata": {"labels": {"app": "x"}}, "spec": pod_spec(c, p)}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config", "namespace": namespace},
         "data": {"DATABASE_URL": f"postgres://app:{c[p + 'configmap_value']}@db/shop",
                  "settings.json": json.dumps({"password": c[p + "configmap_value"]})}},
    ]


def forms(value: str) -> list[bytes]:
    """The ways a value can leak: raw, base64 (padded and cut), hex, JSON-escaped."""
    raw = value.encode()
    b64 = base64.b64encode(raw)
    return [raw, b64, b64[:-4] if len(b64) > 8 else b64, raw.hex().encode(),
            json.dumps(value)[1:-1].encode()]


def output_blobs(folders: list[str], extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """Every file under `folders`, the text layer and attachments of every PDF among them."""
    blobs: dict[str, bytes] = {}
    for folder in folders:
        for path in glob.glob(os.path.join(folder, "**", "*"), recursive=True):
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as fh:
                blobs[path] = fh.read()
            if path.endswith(".pdf"):
                blobs[path + " (text)"] = subprocess.run(["pdftotext", path, "-"], capture_output=True,
                                                         check=True).stdout
                attached = path + ".attachments"
                os.makedirs(attached)
                subprocess.run(["pdfdetach", "-saveall", "-o", attached, path], capture_output=True, check=True)
                names = os.listdir(attached)
                assert names, f"{path}: the PDF carries the results file"
                for name in names:
                    with open(os.path.join(attached, name), "rb") as fh:
                        blobs[f"{path} (attachment {name})"] = fh.read()
    blobs.update(extra or {})
    return blobs


def leaks(c: dict[str, str], blobs: dict[str, bytes]) -> list[tuple[str, str]]:
    """(place, where) for every canary found in any form in any blob."""
    return sorted({(place, where) for place, value in c.items() for form in forms(value)
                   for where, data in blobs.items() if form in data})
