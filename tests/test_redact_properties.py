"""Property test of the redaction stage (issue 14): random secret-shaped strings, placed at random
paths of generated pods (an existing string, a new field, a new key, a list element; alone or
inside other text), are never found in any output: evidence, results, HTML, CSV, JUnit, SARIF,
OSCAL, the terminal summary. The PDF is covered by the canary matrix (tests/test_redact_canaries.py).

Secret shapes are drawn from a seeded random generator rather than from Hypothesis' own bytes,
so a shrunk example is still a secret (an all-zero "token" is not one)."""

from __future__ import annotations

import atexit
import base64
import json
import os
import random
import shutil
import string
import tempfile
from typing import Any

import canaries as cn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from auditor.collect.manifests import collect_manifests
from auditor.evidence.bundle import build_bundle
from auditor.judging.engine import evaluate
from auditor.packs.loader import resolve_packs
from auditor.report.context import serialize_results
from auditor.report.terminal import render_table
from auditor.report.write import render_report
from auditor.results.document import build_results

_HOME = tempfile.mkdtemp(prefix="auditor-hypothesis-")
set_hypothesis_home_dir(_HOME)
atexit.register(shutil.rmtree, _HOME, True)
SETTINGS = settings(max_examples=int(os.environ.get("AUDITOR_PROPERTY_EXAMPLES", "150")), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PACKS = resolve_packs(["pod-security-standards", "cis-kubernetes-1.12", "container-essentials"])
ALNUM = string.ascii_letters + string.digits
SECRET_NAMES = ["password", "db_password", "api_key", "apiKey", "token", "access_token", "client_secret",
                "secret", "private_key", "auth_token", "passwd"]


def _alnum(rng: random.Random, n: int) -> str:
    chars = [rng.choice(ALNUM) for _ in range(n - 3)] + [rng.choice(string.ascii_uppercase),
                                                         rng.choice(string.ascii_lowercase), rng.choice(string.digits)]
    rng.shuffle(chars)
    return "".join(chars)


def _b64(rng: random.Random, n: int) -> str:
    return base64.urlsafe_b64encode(bytes(rng.getrandbits(8) for _ in range(n))).decode().rstrip("=")


def secret(shape: str, seed: int) -> tuple[str, str]:
    """(the text to plant, the secret in it that must never be found)."""
    rng = random.Random(seed)
    word = "".join(rng.choice(string.ascii_lowercase) for _ in range(8)) + str(rng.randrange(10**6))
    if shape == "token":
        s = _alnum(rng, rng.randrange(32, 64))
        return s, s
    if shape == "jwt":
        head = _b64(rng, 0) or base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
        body = base64.urlsafe_b64encode(json.dumps({"sub": word, "n": rng.random()}).encode()).decode().rstrip("=")
        s = f"{head}.{body}.{_b64(rng, 32)}"
        return s, s
    if shape == "aws":
        s = "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
        return s, s
    if shape == "github":
        s = "ghp_" + _alnum(rng, 36)
        return s, s
    if shape == "pem":
        body = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(90))).decode()
        return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----", body[:40]
    if shape == "url":
        return f"postgres://app:{word}@db.example.internal:5432/shop", word
    if shape == "bearer":
        return f"Authorization: Bearer {word}", word
    if shape == "assignment":
        name = rng.choice(SECRET_NAMES)
        sep = rng.choice(["=", ": ", " = "])
        return f"{name}{sep}{word}", word
    if shape == "flag":
        return f"--{rng.choice(SECRET_NAMES).replace('_', '-')}={word}", word
    raise AssertionError(shape)


SHAPES = ["token", "jwt", "aws", "github", "pem", "url", "bearer", "assignment", "flag"]

names = st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=10).map(lambda s: "c" + s.strip("-"))
plain = st.sampled_from(["nginx:1.27", "/bin/app", "--port=8080", "info", "web", "10m", "/data", "true"])
container = st.fixed_dictionaries({
    "name": names, "image": st.sampled_from(["registry.example.com/a/b:1.0", "busybox:1.36", "nginx"]),
}, optional={
    "command": st.lists(plain, max_size=3), "args": st.lists(plain, max_size=4),
    "env": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["MODE", "LEVEL", "REGION"]), "value": plain}),
                    max_size=2),
    "securityContext": st.fixed_dictionaries({}, optional={"privileged": st.booleans(),
                                                           "runAsNonRoot": st.booleans()}),
    "livenessProbe": st.just({"httpGet": {"path": "/healthz", "port": 8080, "httpHeaders": []}}),
    "workingDir": plain,
})
pods = st.fixed_dictionaries({
    "apiVersion": st.just("v1"), "kind": st.just("Pod"),
    "metadata": st.fixed_dictionaries({"name": names, "namespace": st.sampled_from(["shop", "default", "ops"]),
                                       "labels": st.dictionaries(st.sampled_from(["app", "tier"]), names, max_size=2),
                                       "annotations": st.dictionaries(st.sampled_from(["a.example/x", "note"]), plain,
                                                                      max_size=2)}),
    "spec": st.fixed_dictionaries({"containers": st.lists(container, min_size=1, max_size=2)},
                                  optional={"initContainers": st.lists(container, min_size=1, max_size=1),
                                            "ephemeralContainers": st.lists(container, min_size=1, max_size=1),
                                            "hostNetwork": st.booleans(), "serviceAccountName": names}),
})


def _nodes(obj: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every dict and list in `obj` with its path."""
    out = []
    if isinstance(obj, (dict, list)):
        out.append((path, obj))
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for k, v in items:
            out.extend(_nodes(v, (*path, k)))
    return out


def plant(pod: dict[str, Any], text: str, where: int, how: str, wrap: tuple[str, str]) -> str:
    """Put `text` (wrapped in other words) at a node chosen by `where`; returns a description."""
    nodes = _nodes(pod)
    path, node = nodes[where % len(nodes)]
    value = wrap[0] + text + wrap[1]
    if isinstance(node, list):
        node.insert(where % (len(node) + 1), value)
        return f"{path} list element"
    strings = [k for k, v in node.items() if isinstance(v, str) and k not in ("apiVersion", "kind")]
    if how == "replace" and strings:
        key = strings[where % len(strings)]
        node[key] = value
        return f"{path}.{key}"
    if how == "key":
        node[value] = "x"
        return f"{path} key"
    node[f"x-field-{where % 7}"] = value
    return f"{path} new field"


@SETTINGS
@given(pod=pods, shape=st.sampled_from(SHAPES), seed=st.integers(0, 2**32), where=st.integers(0, 10**6),
       how=st.sampled_from(["replace", "new", "key"]),
       wrap=st.tuples(st.sampled_from(["", "note: ", "x ", "cmd --flag "]), st.sampled_from(["", " end", ";", "\n"])))
def test_secret_shapes_at_random_paths_never_reach_an_output(tmp_path_factory, pod, shape, seed, where, how, wrap):
    text, needle = secret(shape, seed)
    place = plant(pod, text, where, how, wrap)
    folder = tmp_path_factory.mktemp("pod")
    path = folder / "pod.json"
    path.write_text(json.dumps(pod))
    bundle = build_bundle(collect_manifests([str(path)]), host="h", collected_at="2026-01-01T00:00:00Z")
    results = build_results(bundle, evaluate(bundle, PACKS), generated_at="2026-01-01T00:00:01Z")
    data = serialize_results(results)
    blobs = {"evidence": json.dumps(bundle, ensure_ascii=False).encode(), "results": data,
             "table": render_table(results).encode()}
    for fmt in ("html", "csv", "junit", "sarif", "oscal"):
        blobs[fmt] = render_report(results, fmt, data, "r.results.json")
    found = cn.leaks({place: needle}, blobs)
    assert found == [], (shape, text, found)
    assert bundle["metadata"]["redactions"]["total"] >= 1, (shape, place)
