"""Issue 18, bounded inputs: regular expressions of packs and globs of waivers run on a
linear-time engine (or are refused when the pack loads, with the reason); waivers, baselines,
results and evidence files have size caps; integers too long and nesting too deep are one line
for that file, and the rest of the run goes on."""

from __future__ import annotations

import fnmatch
import json
import os
import random
import subprocess
import sys
import time

import pytest
from tests_helpers import write_pack

from auditor.cli import DEMO_EVIDENCE, main
from auditor.common.errors import InputError
from auditor.common.linear_regex import glob_match
from auditor.evidence.bundle import content_sha256
from auditor.judging.engine import evaluate
from auditor.judging.waivers import MAX_WAIVERS_BYTES, load_waivers
from auditor.packs.loader import load_pack

CONTROL = """\
controls:
  - id: "1"
    title: Names are not all a
    section: "9"
    severity: low
    assessment: automated
    target: docker.container
    check: {{key: subject.name, op: not-regex, value: '{pattern}'}}
    rationale: r
    audit: a
    remediation: m
"""


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True, timeout=timeout)


def _one_line(run: subprocess.CompletedProcess[str]) -> str:
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    return lines[0]


def test_a_catastrophic_regex_runs_in_linear_time(tmp_path):
    pack = load_pack(write_pack(tmp_path, CONTROL.format(pattern="^(a+)+$")))
    name = "a" * 200_000 + "!"  # Python's re would backtrack for longer than the universe has existed
    evidence = {"kind": "auditor-evidence", "schema_version": "1",
                "metadata": {"host": "h", "complete": True, "errors": [], "target_errors": {}},
                "targets": {"docker.container": [{"subject": {"name": name}},
                                                 {"subject": {"name": "a" * 200_000}}]}}
    started = time.perf_counter()
    ((_, verdicts),) = evaluate(evidence, [pack])
    elapsed = time.perf_counter() - started
    (_, verdict), = verdicts
    assert elapsed < 1.0, elapsed
    assert verdict["status"] == "fail"  # the all-a name matches; the other does not
    assert [f["status"] for f in verdict["findings"]].count("fail") == 1, verdict["findings"]


@pytest.mark.parametrize("pattern,why", [(r"^(?!disable)x", "look-around"), (r"(a)\1", "back-reference")])
def test_packs_validate_refuses_a_regex_the_linear_engine_cannot_run(tmp_path, pattern, why):
    folder = write_pack(tmp_path, CONTROL.format(pattern=pattern))
    run = run_cli("packs", "validate", folder)
    assert run.returncode == 2
    line = _one_line(run)
    assert "a.yaml" in line and "control 1" in line and "RE2" in line, line
    assert "E0000" not in run.stderr  # RE2's own log stays silent


def test_a_pattern_object_says_what_a_negative_look_ahead_said(tmp_path):
    text = CONTROL.replace("value: '{pattern}'", "value: {{match: 'update', unless: 'install'}}")
    pack = load_pack(write_pack(tmp_path, text.format()))
    evidence = {"kind": "auditor-evidence", "schema_version": "1",
                "metadata": {"host": "h", "complete": True, "errors": [], "target_errors": {}},
                "targets": {"docker.container": [{"subject": {"name": "apt-get update"}},
                                                 {"subject": {"name": "apt-get update && apt-get install x"}}]}}
    ((_, verdicts),) = evaluate(evidence, [pack])
    (_, verdict), = verdicts
    assert [f["subject"]["name"] for f in verdict["findings"] if f["status"] == "fail"] == ["apt-get update"]


def test_waiver_globs_match_as_fnmatch_does_in_linear_time():
    rng = random.Random(18)
    alphabet = "ab-*?[]!."
    for _ in range(3000):
        glob = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        text = "".join(rng.choice("ab-.[]!") for _ in range(rng.randint(0, 7)))
        try:
            expected = fnmatch.fnmatchcase(text, glob)
        except Exception:  # noqa: BLE001  (fnmatch's own translation failing: nothing to compare)
            continue
        assert glob_match(text, glob) == expected, (text, glob)
    started = time.perf_counter()
    assert not glob_match("a" * 100_000, "*a*a*a*a*a*a*a*a*a*a*a*b")
    assert time.perf_counter() - started < 0.5


def test_a_50_mb_waivers_file_is_one_line_in_under_a_second(tmp_path):
    big = tmp_path / "waivers.yaml"
    entry = "  - {control: '5.5', reason: r, owner: o, expires: 2030-01-01}\n"
    with open(big, "w", encoding="utf-8") as fh:
        fh.write("waivers:\n")
        fh.write(entry * (50_000_000 // len(entry)))
    assert os.path.getsize(big) > MAX_WAIVERS_BYTES
    started = time.perf_counter()
    with pytest.raises(InputError, match="over the size limit of a waivers file"):
        load_waivers(str(big))
    assert time.perf_counter() - started < 1.0
    started = time.perf_counter()
    run = run_cli("evaluate", DEMO_EVIDENCE, "--waivers", str(big), "-o", str(tmp_path / "out"))
    assert run.returncode == 2 and str(big) in _one_line(run)
    assert time.perf_counter() - started < 5.0  # interpreter start-up included


def _sparse(path, size: int) -> str:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return str(path)


def test_evidence_results_and_baselines_over_the_size_cap_are_one_line(tmp_path):
    from auditor.common.jsonio import MAX_DOCUMENT_BYTES

    huge = _sparse(tmp_path / "huge.json", MAX_DOCUMENT_BYTES + 1)  # sparse: costs no disk
    for args in (["evaluate", huge], ["report", huge, "--format", "html"], ["diff", huge, huge],
                 ["evaluate", DEMO_EVIDENCE, "--baseline", huge, "-o", str(tmp_path / "out")]):
        started = time.perf_counter()
        run = run_cli(*args)
        assert run.returncode == 2, (args, run.stderr)
        line = _one_line(run)
        assert huge in line and "size limit" in line, line
        assert time.perf_counter() - started < 10


def _long_int_demo(tmp_path) -> str:
    doc = json.load(open(DEMO_EVIDENCE, encoding="utf-8"))
    doc["targets"]["docker.container"][0]["inspect"]["HostConfig"]["Memory"] = 1
    doc["sha256"] = content_sha256(doc)
    text = json.dumps(doc).replace('"Memory": 1,', '"Memory": ' + "9" * 5000 + ",", 1)
    path = tmp_path / "long.evidence.json"
    path.write_text(text)
    return str(path)


def test_a_5000_digit_integer_in_evidence_or_results_is_one_line(tmp_path, capsys):
    evidence = _long_int_demo(tmp_path)
    run = run_cli("evaluate", evidence)
    assert run.returncode == 2 and evidence in _one_line(run) and "digits" in run.stderr
    assert main(["evaluate", DEMO_EVIDENCE, "--format", "json", "-o", str(tmp_path / "out")]) == 0
    text = json.dumps(json.loads(capsys.readouterr().out)).replace('"coverage": 100.0', '"coverage": ' + "1" * 5000, 1)
    assert "1" * 5000 in text
    bad = tmp_path / "long.results.json"
    bad.write_text(text)
    run = run_cli("report", str(bad), "--format", "html")
    assert run.returncode == 2 and str(bad) in _one_line(run) and "digits" in run.stderr


def test_a_long_integer_or_deep_nesting_in_one_manifest_spares_the_others(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "long.json").write_text('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "long"}, '
                                      '"spec": {"x": ' + "9" * 5000 + "}}")
    (folder / "long.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: longy}\nspec: {x: "
                                      + "9" * 5000 + "}\n")
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "ok.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: ok, namespace: a}\n"
                                    "spec: {containers: [{name: c, image: x}]}\n")
    out = tmp_path / "e.json"
    run = run_cli("collect", "manifests", str(folder), "-o", str(out))
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    doc = json.load(open(out, encoding="utf-8"))
    names = [i["subject"]["name"] for i in doc["targets"]["k8s.pod"]]
    assert names == ["a/ok"], names
    messages = " ".join(e["message"] for e in doc["metadata"]["errors"])
    for name in ("long.json", "long.yaml", "deep.json"):
        assert name in messages, messages


def test_a_long_integer_in_waivers_is_one_line(tmp_path):
    waivers = tmp_path / "w.yaml"
    waivers.write_text("waivers:\n  - {control: '5.5', reason: r, owner: o, expires: 2030-01-01, ticket: "
                       + "9" * 5000 + "}\n")
    run = run_cli("evaluate", DEMO_EVIDENCE, "--waivers", str(waivers), "-o", str(tmp_path / "out"))
    assert run.returncode == 2 and str(waivers) in _one_line(run)
