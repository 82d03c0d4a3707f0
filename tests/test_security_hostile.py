"""Hostile data stays inert: markup, script, CSS url(), file:// and http:// links, spreadsheet
formulas, terminal escapes, NUL bytes, invalid UTF-8 and megabyte strings in names, labels and
file names; YAML alias bombs and deep nesting in packs, manifests, waivers and evidence; symlink
loops, links out of --root, FIFOs, device files and huge files where files are expected.
Each gets a clear verdict or a one-line error, in bounded time and memory (a child process with
an address-space limit and a timeout)."""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import stat
import xml.etree.ElementTree as ET

import nodetree
import pytest
from fuzz.hostile import BIG, HOSTILE, RAW_MARKUP, assert_one_line_error, run_cli, tally

from auditor.evidence.bundle import content_sha256
from auditor.results.document import expand_results

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "auditor", "data",
                    "demo-evidence.json")
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
TERMINAL_CONTROLS = ("\x1b", "\x07", "\x00", "\x9b")


def _inert_terminal(text: str) -> None:
    for char in TERMINAL_CONTROLS:
        assert char not in text, f"raw {char!r} reached the terminal"


def _hostile_evidence(path: str) -> None:
    """The demo evidence with every container renamed and relabelled with hostile strings."""
    with open(DEMO, encoding="utf-8") as fh:
        doc = json.load(fh)
    strings = [*HOSTILE, BIG]
    for index, item in enumerate(doc["targets"]["docker.container"]):
        text = strings[index % len(strings)]
        item["subject"]["name"] = f"{text}-{index}"
        item["inspect"]["Name"] = "/" + text
        item["inspect"]["Config"]["Labels"] = {text: text, "x": text}
        item["inspect"]["Config"]["Image"] = text
        item["inspect"]["HostConfig"]["Privileged"] = True  # so every one is a finding
    doc["metadata"]["host"] = HOSTILE[10] + HOSTILE[0]
    doc.pop("sha256", None)
    doc["sha256"] = content_sha256(doc)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    tally("inputs", len(doc["targets"]["docker.container"]))


def check_outputs_inert(folder: str) -> int:
    """Every report file in `folder` parses and carries no live markup or formula; returns the count."""
    checked = 0
    for path in glob.glob(os.path.join(folder, "*")):
        with open(path, "rb") as fh:
            data = fh.read()
        checked += 1
        if path.endswith(".html"):
            text = data.decode("utf-8")
            for marker in RAW_MARKUP:
                assert marker not in text, f"{path}: raw {marker!r}"
            # Control characters never reach the page (a terminal `cat`ting it is not hijacked).
            for char in TERMINAL_CONTROLS:
                assert char not in text, f"{path}: {char!r}"
        elif path.endswith(".csv"):
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
            for row in rows[1:]:
                for cell in row:
                    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), f"{path}: formula cell {cell[:40]!r}"
        elif path.endswith(".xml"):
            ET.fromstring(data)  # well-formed XML 1.0 (no raw control characters)
        elif path.endswith((".json", ".sarif")):
            json.loads(data)
        elif path.endswith(".pdf"):
            assert data.startswith(b"%PDF")
    return checked


def test_hostile_evidence_renders_inert_in_every_format(tmp_path):
    evidence = str(tmp_path / "hostile.evidence.json")
    _hostile_evidence(evidence)
    out = tmp_path / "out"
    run = run_cli(["evaluate", evidence, "-o", str(out), "--format", "table,oscal"], timeout=120)
    assert run.code == 0, run.stderr[-2000:]
    assert run.seconds < 60
    _inert_terminal(run.stdout + run.stderr)
    [results] = glob.glob(str(out / "*.results.json"))
    assert os.path.getsize(results) < 20 * 2**20  # a megabyte name is not repeated per finding
    rep = tmp_path / "rep"
    run = run_cli(["report", results, "--format", "table,html,json,junit,sarif,csv,oscal", "-o", str(rep)])
    assert run.code == 0, run.stderr[-2000:]
    _inert_terminal(run.stdout + run.stderr)
    assert check_outputs_inert(str(rep)) == 6
    run = run_cli(["diff", results, results, "--format", "table,json"])
    assert run.code == 0 and "Traceback" not in run.stderr
    _inert_terminal(run.stderr)
    tally("inputs", 3)


@pytest.mark.slow
def test_hostile_evidence_pdf_text_is_inert(tmp_path):
    evidence = str(tmp_path / "hostile.evidence.json")
    _hostile_evidence(evidence)
    run = run_cli(["evaluate", evidence, "-o", str(tmp_path), "--format", "json"])
    [results] = glob.glob(str(tmp_path / "*.results.json"))
    run = run_cli(["report", results, "--format", "pdf", "-o", str(tmp_path / "pdf")], timeout=300)
    assert run.code == 0, run.stderr[-2000:]
    [pdf] = glob.glob(str(tmp_path / "pdf" / "*.pdf"))
    import subprocess

    text = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, check=True).stdout.decode("utf-8", "replace")
    # The hostile strings are printed as text (the PDF has no active content), and no control
    # character reaches its text layer (a terminal showing `pdftotext` output is not hijacked).
    assert "<script>alert('xss')</script>" in text
    for char in TERMINAL_CONTROLS:
        assert char not in text, repr(char)


def _write(path: str, data: bytes | str) -> None:
    with open(path, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def _pod(name: str, extra: str = "") -> str:
    return f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {json.dumps(name)}\n{extra}spec:\n  containers:\n" \
           f"  - name: c\n    image: {json.dumps(name)}\n"


HOSTILE_MANIFESTS = {
    "alias-bomb.yaml": _pod("bomb") + "  " + BOMB.replace("\n", "\n  ").rstrip() + "\n",
    "deep-flow.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nspec: " + "[" * 100_000 + "]" * 100_000,
    "deep-block.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: deepb}\nspec:\n" + "- " * 50_000 + "x\n",
    "deep.json": '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"dj"},"spec":' + "[" * 200_000
                 + "]" * 200_000 + "}",
    "self-alias.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: selfref}\nspec: &s {x: *s}\n",
    "nul.yaml": b"apiVersion: v1\nkind: Pod\nmetadata: {name: n\x00ul}\n",
    "latin1.yaml": b"apiVersion: v1\nkind: Pod\nmetadata: {name: caf\xe9}\n",
    "surrogate.yaml": 'apiVersion: v1\nkind: Pod\nmetadata: {name: "sur\\udcffrogate"}\nspec: {containers: '
                      '[{name: c, image: "x\\ud800"}]}\n',
    "surrogate.json": '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sur\\udcffrogate"}}',
    "truncated.json": "[1,",  # found by the fuzzer: an IndexError (traceback) before the fix
    "names.yaml": "---\n".join(_pod(h + f"-{i}") for i, h in enumerate(HOSTILE) if "\x00" not in h),
    "big-name.yaml": _pod(BIG),
    "\x1b[2J<script>\nname.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n",
}


def _hostile_manifest_folder(folder: str) -> None:
    os.makedirs(folder)
    for name, data in HOSTILE_MANIFESTS.items():
        _write(os.path.join(folder, name), data)
    os.mkfifo(os.path.join(folder, "fifo.yaml"))
    os.mknod(os.path.join(folder, "zero.yaml"), stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero
    os.symlink("loop-b.yaml", os.path.join(folder, "loop-a.yaml"))
    os.symlink("loop-a.yaml", os.path.join(folder, "loop-b.yaml"))
    with open(os.path.join(folder, "huge.yaml"), "wb") as fh:
        fh.truncate(5 * 2**30)  # sparse: 5 GiB claimed, nothing stored
    _write(os.path.join(folder, "good.yaml"), _pod("good"))
    tally("inputs", len(HOSTILE_MANIFESTS) + 5)


def test_hostile_manifests_each_get_a_verdict_or_an_error_in_bounded_time(tmp_path):
    folder = str(tmp_path / "m")
    _hostile_manifest_folder(folder)
    run = run_cli(["collect", "manifests", folder, "-o", str(tmp_path / "ev.json")], timeout=120, memory_mb=2048)
    assert run.code == 3, run.stderr[-3000:]  # incomplete: the broken files are errors
    assert run.seconds < 60
    assert "Traceback" not in run.stderr
    _inert_terminal(run.stderr)
    evidence = json.loads((tmp_path / "ev.json").read_text())
    errors = " | ".join(e["message"] for e in evidence["metadata"]["errors"])
    for name in ("alias-bomb.yaml", "deep-flow.yaml", "deep-block.yaml", "deep.json", "self-alias.yaml", "nul.yaml",
                 "latin1.yaml", "surrogate.yaml", "truncated.json", "fifo.yaml", "zero.yaml", "loop-a.yaml",
                 "huge.yaml"):
        assert name in errors, name
    assert "alias bomb" in errors and "not a regular file (fifo)" in errors and "not a regular file (char)" in errors
    pods = {i["subject"]["name"] for i in evidence["targets"]["k8s.pod"]}
    assert "default/good" in pods and len(pods) >= len(HOSTILE) - 1
    assert "default/sur\ufffdrogate" in pods  # JSON: lone surrogates replaced, so the bundle can be written
    assert "surrogate.yaml line 3 column 24: not valid YAML: found invalid Unicode character escape" in errors
    assert max(len(p) for p in pods) >= len(BIG)  # kept in the evidence; bounded in the results
    out = tmp_path / "out"
    run = run_cli(["audit", "--manifests", folder, "--no-pdf", "-o", str(out), "--format", "table,json,oscal"],
                  timeout=180)
    assert run.code == 3 and "Traceback" not in run.stderr, run.stderr[-3000:]
    _inert_terminal(run.stderr)
    report = run_cli(["report", glob.glob(str(out / "*.results.json"))[0], "--format", "junit,sarif,csv",
                      "-o", str(out)])
    assert report.code == 0, report.stderr[-2000:]
    assert check_outputs_inert(str(out)) >= 6


def _mini_pack(folder: str, controls_text: str) -> str:
    os.makedirs(os.path.join(folder, "controls"))
    _write(os.path.join(folder, "pack.yaml"), 'id: mini\nkind: benchmark\ntitle: Mini\nversion: "1"\n'
                                              'sections:\n  - {id: "9", title: Nine}\n')
    _write(os.path.join(folder, "controls", "a.yaml"), controls_text)
    return folder


@pytest.mark.parametrize("name,text,expect", [
    ("alias-bomb", "controls: []\n" + BOMB.replace("a: &a", "x: &a", 1), "alias bomb"),
    ("deep-flow", "controls: " + "[" * 100_000 + "]" * 100_000, "nesting deeper"),
    ("deep-condition", "controls:\n- id: '1'\n  title: t\n  section: '9'\n  severity: low\n  assessment: automated\n"
     "  target: docker.container\n  rationale: r\n  audit: a\n  remediation: m\n  check: "
     + "{not: " * 400 + "{key: a, op: present}" + "}" * 400 + "\n", "nesting deeper"),
    ("self-alias", "controls: &c [*c]\n", "contains it"),
    ("nul", "controls: [\x00]\n", "invalid YAML"),
], ids=["alias-bomb", "deep-flow", "deep-condition", "self-alias", "nul"])
def test_hostile_packs_are_one_line_errors(tmp_path, name, text, expect):
    pack = _mini_pack(str(tmp_path / name), text)
    run = run_cli(["packs", "validate", pack], timeout=60, memory_mb=1024)
    assert run.code == 2, run.stderr[-2000:]
    assert_one_line_error(run)
    assert expect in run.stderr and "a.yaml" in run.stderr
    tally("inputs")


@pytest.mark.parametrize("text,expect", [
    ("waivers: " + "[" * 100_000 + "]" * 100_000, "nesting deeper"),
    ("waivers: []\n" + BOMB.replace("a: &a", "x: &a", 1), "alias bomb"),
], ids=["deep", "alias-bomb"])
def test_hostile_waivers_are_one_line_errors(tmp_path, text, expect):
    waivers = tmp_path / "w.yaml"
    waivers.write_text(text)
    run = run_cli(["evaluate", DEMO, "--waivers", str(waivers), "-o", str(tmp_path / "o")], timeout=60, memory_mb=1024)
    assert run.code == 2 and expect in run.stderr, run.stderr[-2000:]
    assert_one_line_error(run)
    assert not (tmp_path / "o").exists()  # bad input fails before anything is written
    tally("inputs")


@pytest.mark.parametrize("body,expect", [
    ('{"kind":"auditor-evidence","schema_version":"1","metadata":{},"targets":{"x":[{"subject":{},"d":'
     + "[" * 100_000 + "]" * 100_000 + "}]}}", "nested too deeply"),
    ('{"kind":"auditor-evidence","schema_version":"1","metadata":{"host":"\\udcff"},"targets":{}}', "lone surrogate"),
    (b'\xff\xfe{"kind":1}', "cannot read evidence"),
    ('{"kind":"auditor-evidence","schema_version":"1","metadata":{},"targets":{"docker.container":[1]}}',
     "an item must be an object"),
], ids=["deep", "surrogate", "not-utf8", "bad-item"])
def test_hostile_evidence_files_are_one_line_errors(tmp_path, body, expect):
    path = tmp_path / "e.json"
    _write(str(path), body)
    run = run_cli(["evaluate", str(path), "-o", str(tmp_path / "o")], timeout=60, memory_mb=1024)
    assert run.code == 2 and expect in run.stderr, run.stderr[-2000:]
    assert_one_line_error(run)
    tally("inputs")


def test_hostile_results_files_are_one_line_errors(tmp_path):
    for index, body in enumerate(["[" * 100_000 + "]" * 100_000, '{"schema_version": "\\ud800"}', "{" * 10]):
        path = tmp_path / f"r{index}.results.json"
        _write(str(path), body)
        for args in (["report", str(path), "--format", "csv"], ["diff", str(path), str(path)]):
            run = run_cli(args, timeout=60, memory_mb=1024)
            assert run.code == 2, (args, run.stderr[-2000:])
            assert_one_line_error(run)
            tally("inputs")


def test_hostile_node_root_never_blocks_or_escapes(tmp_path):
    """FIFOs, devices, loops, huge files and links out of the root where the node collector
    expects regular files: each is an error or a verdict, nothing blocks, nothing outside is read."""
    root = str(tmp_path / "root")
    nodetree.kubeadm_tree(root)
    real = os.path.join(root, "etc/kubernetes/manifests")
    os.unlink(os.path.join(root, "var/lib/kubelet/config.yaml"))
    os.mkfifo(os.path.join(root, "var/lib/kubelet/config.yaml"))
    os.unlink(os.path.join(real, "kube-apiserver.yaml"))
    os.symlink("kube-apiserver.yaml", os.path.join(real, "kube-apiserver.yaml"))  # a loop of one
    os.unlink(os.path.join(real, "etcd.yaml"))
    os.mknod(os.path.join(real, "etcd.yaml"), stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero
    with open(os.path.join(real, "kube-scheduler.yaml"), "wb") as fh:
        fh.truncate(4 * 2**30)
    _write(os.path.join(real, "kube-controller-manager.yaml"), _pod("kcm") + "  " + BOMB.replace("\n", "\n  "))
    os.unlink(os.path.join(root, "etc/kubernetes/admin.conf"))
    os.symlink("/etc/shadow", os.path.join(root, "etc/kubernetes/admin.conf"))  # resolved inside the root
    os.symlink("../../../../../../../../etc/passwd", os.path.join(root, "etc/kubernetes/scheduler.conf.tmp"))
    _write(os.path.join(root, "etc/hostname"), HOSTILE[10] + HOSTILE[0] + "\n")
    tally("inputs", 8)
    run = run_cli(["collect", "node", "--root", root, "-o", str(tmp_path / "node.json")], timeout=60, memory_mb=1024)
    assert run.code in (0, 3), run.stderr[-3000:]
    assert run.seconds < 30 and "Traceback" not in run.stderr
    _inert_terminal(run.stderr)
    doc = json.loads((tmp_path / "node.json").read_text())
    text = json.dumps(doc)
    assert "root:" not in text  # nothing of the real /etc/shadow or /etc/passwd
    files = {i["path"]: i for i in doc["targets"]["host.file"]}
    assert files["/etc/kubernetes/admin.conf"]["link_target"] == "/etc/shadow"
    assert files["/etc/kubernetes/admin.conf"]["exists"] is False  # /etc/shadow under the root: absent
    kubelet = doc["targets"]["node.kubelet"][0]
    assert "not a regular file (fifo)" in kubelet["errors"]["config"]
    procs = {i["component"]: i for i in doc["targets"]["node.process"]}
    assert "too many levels of symbolic links" in procs["kube-apiserver"]["errors"]["flags"]
    assert "not a regular file (char)" in procs["etcd"]["errors"]["flags"]
    assert "alias bomb" in procs["kube-controller-manager"]["errors"]["flags"]
    assert "kube-scheduler" in procs  # the first MiB of the huge file was read and judged
    audit = run_cli(["audit", "--target", "node", "--root", root, "--no-pdf", "-o", str(tmp_path / "out")])
    assert audit.code in (0, 1, 3) and "Traceback" not in audit.stderr
    _inert_terminal(audit.stdout + audit.stderr)
    assert check_outputs_inert(str(tmp_path / "out")) >= 3


def _strict_json(data: str) -> object:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} in JSON output")

    return json.loads(data, parse_constant=refuse)


def test_nan_and_infinity_never_reach_the_results(tmp_path):
    """Found by the fuzzer: NaN read from evidence (Python's JSON reader accepts it, YAML has .nan)
    was written into the results, which strict JSON readers refuse."""
    with open(DEMO, encoding="utf-8") as fh:
        doc = json.load(fh)
    for item in doc["targets"]["docker.container"]:
        item["inspect"]["HostConfig"]["Memory"] = float("nan")
        item["inspect"]["HostConfig"]["Privileged"] = float("inf")
    doc.pop("sha256")
    doc["sha256"] = content_sha256(doc)
    evidence = tmp_path / "nan.evidence.json"
    evidence.write_text(json.dumps(doc))
    run = run_cli(["evaluate", str(evidence), "-o", str(tmp_path / "out"), "--format", "json,oscal"])
    assert run.code in (0, 1) and "Traceback" not in run.stderr, run.stderr[-2000:]
    _strict_json(run.stdout)
    for path in glob.glob(str(tmp_path / "out" / "*.json")):
        _strict_json(open(path, encoding="utf-8").read())
    bad = tmp_path / "nan.results.json"
    results = expand_results(json.loads(run.stdout))
    results["summary"]["score"] = float("nan")  # written as the bare token NaN
    bad.write_text(json.dumps(results))
    assert "NaN" in bad.read_text()
    run = run_cli(["report", str(bad), "--format", "csv"])
    assert run.code == 2 and "NaN is not a JSON number" in run.stderr
    tally("inputs", 2)


def test_a_namespace_that_is_not_text_is_shown_not_used_as_a_key(tmp_path):
    """Found by the fuzzer (seed 11): `metadata.namespace: [a]` made the namespace counts crash."""
    manifest = tmp_path / "odd.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: [a, b]}\n"
                        "spec: {containers: [{name: c, image: i}]}\n---\n"
                        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: 7}\n"
                        "spec: {template: {spec: {containers: [{name: c, image: i}]}}}\n")
    run = run_cli(["audit", "--manifests", str(manifest), "-o", str(tmp_path / "out"), "--format", "json"])
    assert run.code in (0, 1) and "Traceback" not in run.stderr, run.stderr[-2000:]
    pods = {c["pack"] + ":" + c["id"]: c for c in expand_results(json.loads(run.stdout))["controls"]}
    names = {f["subject"]["name"] for c in pods.values() for f in c["findings"]}
    assert '["a", "b"]/p' in names and "7/d" in names
    tally("inputs", 1)


def test_a_results_file_with_a_non_text_section_id_is_refused(tmp_path):
    """Found by the fuzzer (seed 11): a section id that is a list passed the schema and crashed the diff."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "demo-results.json"),
              encoding="utf-8") as fh:
        doc = json.load(fh)
    doc["packs"][0]["sections"][1]["id"] = [[["1.1"]]]
    bad = tmp_path / "bad.results.json"
    bad.write_text(json.dumps(doc))
    run = run_cli(["diff", str(bad), str(bad)])
    assert_one_line_error(run)
    assert run.code == 2 and "bad.results.json" in run.stderr and "sections/1/id" in run.stderr, run.stderr
    tally("inputs", 1)
