"""The canary matrix (issue 14): the same places planted with their own canary in every source —
a live container on the real dockerd, a folder of manifests, a `kubectl get -A -o json` dump,
and the live cluster collector against the loopback replay API server (whose error answer echoes
an Authorization header) — then every command runs and every output is searched: evidence,
results, HTML, PDF text and its attachment, JUnit, SARIF, CSV, OSCAL, terminal output and
error messages. No canary may appear, raw, base64 or hex encoded or JSON-escaped."""

from __future__ import annotations

import json
import os
import shutil

import canaries as cn
import dockerd
import pytest
import yaml
from fuzz.hostile import run_cli, tally
from k8s_replay import FIXTURES, ReplayServer, write_kubeconfig

DAEMONSETS = "/apis/apps/v1/daemonsets"


def _replay_fixtures(folder: str, objects: list[dict]) -> None:
    """The recorded API answers, with the canary Pod added to the pods and the Deployment to the
    deployments (ConfigMaps are not listed by the cluster collector)."""
    shutil.copytree(FIXTURES, folder)
    for name, kind in (("pods.json", "Pod"), ("deployments.json", "Deployment")):
        path = os.path.join(folder, name)
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        doc["pages"][0]["items"].extend(o for o in objects if o["kind"] == kind)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)


def _docker_containers(host: str, c: dict[str, str]) -> list[str]:
    """A running container whose argv carries the issue's command line, environment, label and
    health check canaries, and a created one whose entrypoint carries one."""
    image = dockerd.ensure_busybox(host) and dockerd.BUSYBOX_IMAGE
    running = dockerd.docker_cli(
        host, "run", "-d", *dockerd.LABEL_ARGS, "--label", f"com.example.api-token={c['d:label_token']}",
        "-e", f"DB_PASSWORD={c['d:env_secret']}", "-e", f"GREETING={c['d:env_plain']}",
        "--health-cmd", f"wget -q --header 'Authorization: Bearer {c['d:healthcheck_authorization']}' "
                        "http://127.0.0.1:8080/ || true",
        "--entrypoint", "sh", image, "-c", "sleep 600", "sleep", "600", f"--password={c['d:cmd_password']}",
        "--token", c["d:cmd_token"], f"postgres://u:{c['d:cmd_url']}@db/x")
    created = dockerd.docker_cli(host, "create", *dockerd.LABEL_ARGS,
                                 "--entrypoint", f"/bin/app --api-key={c['d:entrypoint_api_key']}", image)
    return [running, created]


@pytest.mark.slow
def test_canary_matrix_no_leak_from_any_source_in_any_output(tmp_path):
    c: dict[str, str] = {}
    for prefix in ("m:", "j:", "r:"):  # manifests, JSON dump, replayed live cluster
        c.update(cn.canaries(cn.K8S_PLACES, prefix))
    c["m:broken_line"] = cn.structural_canary()
    c["r:error_echo"] = cn.structural_canary()
    c["r:kubeconfig_token"] = cn.random_token(40)
    docker = dockerd.answers(dockerd.SYSTEM_HOST)
    if docker:
        c.update(cn.canaries(cn.DOCKER_PLACES, "d:"))
    tally("canaries", len(c))

    inputs = tmp_path / "in"
    manifests = inputs / "manifests"
    manifests.mkdir(parents=True)
    (manifests / "app.yaml").write_text(yaml.safe_dump_all(cn.k8s_objects(c, "m:")))
    # A broken file: the parser's error names file and line; it must not quote the secret.
    (manifests / "broken.yaml").write_text(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: b}}\nspec:\n"
                                           f"  containers: [{{name: x, args: [--token={c['m:broken_line']}\n")
    dump = inputs / "cluster-dump.json"
    dump.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                                "items": cn.k8s_objects(c, "j:")}, indent=2))
    fixtures = str(inputs / "api")
    _replay_fixtures(fixtures, cn.k8s_objects(c, "r:"))
    server = ReplayServer(token=c["r:kubeconfig_token"], fixtures=fixtures,
                          forbidden={DAEMONSETS: "daemonsets.apps is forbidden: request with header "
                                                 f"Authorization: Bearer {c['r:error_echo']} was refused"})
    containers: list[str] = []
    try:
        kubeconfig = write_kubeconfig(str(inputs / "kubeconfig"), {"prod": (server, server.token)}, "prod")
        if docker:
            containers = _docker_containers(dockerd.SYSTEM_HOST, c)
        out = tmp_path / "out"
        env = {"HOME": str(tmp_path / "home"), "KUBECONFIG": kubeconfig}
        sources = ["cluster", "manifests"] + (["docker"] if docker else [])
        runs = []
        for source in sources:
            extra = {"cluster": ["--kubeconfig", kubeconfig], "manifests": [str(manifests), str(dump)],
                     "docker": []}[source]
            runs.append(run_cli(["collect", source, *extra, "-o", str(out / f"{source}.evidence.json")], env=env))
            assert runs[-1].code in (0, 3), runs[-1].stderr[-2000:]
        audit = out / "audit"
        runs.append(run_cli(["audit", "--target", ",".join(sources), "--kubeconfig", kubeconfig,
                             "--manifests", str(manifests), "--manifests", str(dump),
                             "--format", "table,json,oscal", "-o", str(audit)],
                            env={**env, "AUDITOR_NO_PDF": "0"}, timeout=400))
        assert runs[-1].code in (0, 1, 3), runs[-1].stderr[-3000:]
        [results] = [str(p) for p in audit.glob("*.results.json")]
        runs.append(run_cli(["report", results, "--format", "table,html,json,junit,sarif,csv,oscal",
                             "-o", str(out / "report")], env=env))
        assert runs[-1].code == 0, runs[-1].stderr[-2000:]
        for source in sources:
            runs.append(run_cli(["evaluate", str(out / f"{source}.evidence.json"), "-o", str(out / f"eval-{source}"),
                                 "--format", "table,json,oscal"], env=env))
            assert runs[-1].code in (0, 3), runs[-1].stderr[-2000:]
        runs.append(run_cli(["diff", results, results, "--format", "table,json"], env=env))
        assert all("Traceback" not in r.stderr for r in runs)

        blobs = cn.output_blobs([str(out)], {f"run {i} {stream}": getattr(r, stream).encode()
                                             for i, r in enumerate(runs) for stream in ("stdout", "stderr")})
        assert sum(p.endswith(".pdf") for p in blobs) >= 1 and len(blobs) >= 30
        found = cn.leaks(c, blobs)
        tally("leaks", len(found))
        assert found == [], found

        # The places were read: the structure around each canary survives, its value does not.
        for source in ("manifests", "cluster"):
            evidence = json.loads((out / f"{source}.evidence.json").read_text())
            fields = evidence["metadata"]["redactions"]["by_field"]
            apps = [i for i in evidence["targets"]["k8s.container"] if i["container"]["name"] == "app"]
            assert apps, source
            for app in apps:
                box = app["container"]
                assert box["args"][1:3] == ["--api-key", "<redacted>"] and box["args"][0] == "--db-password=<redacted>"
                assert box["livenessProbe"]["httpGet"]["path"] == "/healthz?token=<redacted>&verbose=1"
                headers = box["readinessProbe"]["httpGet"]["httpHeaders"]
                assert headers == [{"name": "Authorization", "value": "<redacted>"},
                                   {"name": "Accept", "value": "application/json"}]
                assert [e["name"] for e in box["env"]] == ["GREETING", "FROM_SECRET"]
                assert box["envFrom"] == [{"secretRef": {"name": "app-env"}}, {"configMapRef": {"name": "app-config"}}]
                assert "container.args[]" in app["redacted"]
            for path in ("k8s.container:container.args[]", "k8s.container:container.command[]",
                         "k8s.container:container.readinessProbe.httpGet.httpHeaders[].value"):
                assert fields.get(path, 0) >= 1, (source, path, sorted(fields))
            assert evidence["metadata"]["redactions"]["total"] >= 20
        cluster = json.loads((out / "cluster.evidence.json").read_text())
        assert any(DAEMONSETS in e["message"] or "daemonsets" in e["message"] for e in cluster["metadata"]["errors"])
        if docker:
            evidence = json.loads((out / "docker.evidence.json").read_text())
            ours = [i for i in evidence["targets"]["docker.container"] if i["subject"]["id"] in containers]
            assert len(ours) == 2
            running = next(i for i in ours if i["inspect"]["State"]["Running"])
            assert running["inspect"]["Args"][4:7] == ["--password=<redacted>", "--token", "<redacted>"]
            assert set(running["inspect"]["Config"]["Env"]) >= {"DB_PASSWORD", "GREETING"}
            assert running["processes"], "the live container's processes were read (top)"
        # The reports say what was redacted, in one line, with counts and no values: the terminal
        # summary of audit (on stderr beside --format json) and report, the HTML and the PDF.
        line = "Redacted from the evidence before evaluation: "
        said = [where for where, data in blobs.items() if line.encode() in data]
        assert any(w.endswith(".html") for w in said) and any(w.endswith(".pdf (text)") for w in said), said
        assert any(w.startswith("run ") and w.endswith("stderr") for w in said), said
        assert any(w.startswith("run ") and w.endswith("stdout") for w in said), said
        for where in said:
            text = blobs[where].decode("utf-8", "replace")
            if where.endswith("(text)"):  # the PDF's text layer wraps the line
                text = " ".join(text.split())
            shown = text[text.index(line):].split("\n", 1)[0].split("stored.", 1)[0] + "stored."
            assert "<redacted>" not in shown and "values are never stored" in shown, (where, shown)
    finally:
        server.stop()
        if docker:
            dockerd.remove_test_containers(dockerd.SYSTEM_HOST)


def test_canary_helpers_find_what_they_plant():
    """The search itself works: a canary left in an output is found in each form."""
    c = cn.canaries(cn.K8S_PLACES)
    assert len(set(c.values())) == len(c)
    text = json.dumps(cn.k8s_objects(c)).encode()
    assert {p for p, _ in cn.leaks(c, {"x": text})} == set(c)
    assert cn.leaks({"x": "cnryabc123"}, {"b64": b"Y25yeWFiYzEyMw=="}) == [("x", "b64")]
