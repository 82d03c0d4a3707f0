"""Pipeline gates and their exit codes: --fail-under, --fail-on, --fail-on-regression, with waivers and baselines."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from auditor.cli import DEMO_EVIDENCE, main
from auditor.evidence.bundle import content_sha256
from auditor.results.document import load_results

PACK = ["--pack", "cis-docker-1.6.0"]  # the demo's score (28.7) stays put when other packs are added


def run(tmp_path, *args: str) -> int:
    shutil.rmtree(tmp_path / "out", ignore_errors=True)  # each run its own names: keep only this run's
    return main(["evaluate", DEMO_EVIDENCE, *PACK, "-o", str(tmp_path / "out"), *args])


def written(tmp_path) -> dict:
    folder = tmp_path / "out"
    (name,) = [n for n in os.listdir(folder) if n.endswith(".results.json")]
    return load_results(str(folder / name))


def evidence_variant(tmp_path, change) -> str:  # type: ignore[no-untyped-def]
    doc = json.load(open(DEMO_EVIDENCE, encoding="utf-8"))
    change(doc)
    doc["sha256"] = content_sha256(doc)
    path = tmp_path / "variant.evidence.json"
    path.write_text(json.dumps(doc))
    return str(path)


def baseline_file(tmp_path) -> str:
    assert main(["evaluate", DEMO_EVIDENCE, *PACK, "-o", str(tmp_path / "base"), "--format", "table"]) == 0
    (name,) = os.listdir(tmp_path / "base")
    return str(tmp_path / "base" / name)


def test_fail_under_overall_and_per_pack(tmp_path, capsys):
    assert run(tmp_path, "--fail-under", "28") == 0
    assert run(tmp_path, "--fail-under", "cis-docker-1.6.0=28", "--fail-under", "20") == 0
    assert run(tmp_path, "--fail-under", "20", "--fail-under", "cis-docker-1.6.0=30") == 1
    assert "gate breached: cis-docker-1.6.0 score 28.7 is below --fail-under 30" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--fail-under", "abc"], "--fail-under 'abc': expected SCORE or ID=SCORE"),
    (["--fail-under", "=80"], "expected SCORE or ID=SCORE"),
    (["--fail-under", "101"], "between 0 and 100"),
    (["--fail-under", "nope=80"], "no pack or framework 'nope' in the results (have: cis-docker-1.6.0"),
    (["--fail-on", "severe"], "--fail-on 'severe': choose a severity from critical, high"),
    (["--fail-on-regression"], "--fail-on-regression needs --baseline OLD.json"),
    (["--baseline", "/nonexistent/old.json"], "no such results file"),
    (["--waivers", "/nonexistent/w.yaml"], "/nonexistent/w.yaml: cannot read"),
])
def test_bad_gate_options_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    assert run(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_fail_on_severity_counts_only_unwaived_failures(tmp_path, capsys):
    assert run(tmp_path, "--fail-on", "critical") == 1
    err = capsys.readouterr().err
    assert "3 failing control(s) of severity critical or higher" in err and "cis-docker-1.6.0:5.5 (critical)" in err
    waivers = tmp_path / "w.yaml"
    waivers.write_text("waivers:\n" + "".join(
        f"  - {{control: '{c}', reason: lab host, owner: sec-team, ticket: SEC-{n}, expires: 2999-12-31}}\n"
        for n, c in enumerate(("5.5", "5.6", "5.32"))))
    assert run(tmp_path, "--fail-on", "critical", "--waivers", str(waivers)) == 0
    results = written(tmp_path)
    assert {c["id"]: c["status"] for c in results["controls"]}["5.32"] == "waived"
    assert results["summary"]["score"] > results["summary"]["score_without_waivers"] == 28.7
    assert run(tmp_path, "--fail-on", "high", "--waivers", str(waivers)) == 1


def test_broken_waivers_file_fails_before_collecting(tmp_path, capsys):
    waivers = tmp_path / "w.yaml"
    waivers.write_text("waivers:\n  - control: '5.5'\n    owner: o\n    expires: 2030-01-01\n")
    code = main(["audit", "--docker-host", f"unix://{tmp_path}/none.sock", "--waivers", str(waivers),
                 "-o", str(tmp_path / "out")])
    assert code == 2  # not 3: nothing was collected
    err = capsys.readouterr().err
    assert f"{waivers} line 2: waiver 1: 'reason' is a required property" in err
    assert not os.path.exists(tmp_path / "out")


def test_baseline_goes_into_the_results_and_gates_regressions(tmp_path, capsys):
    base = baseline_file(tmp_path)
    assert run(tmp_path, "--baseline", base, "--fail-on-regression") == 0
    results = written(tmp_path)
    assert results["baseline"]["source"] == base and results["baseline"]["diff"]["summary"]["changed"] is False

    def privilege_the_hardened_container(doc: dict) -> None:
        item = next(c for c in doc["targets"]["docker.container"] if c["subject"]["name"] == "demo-hardened")
        item["inspect"]["HostConfig"]["Privileged"] = True

    variant = evidence_variant(tmp_path, privilege_the_hardened_container)
    out = tmp_path / "v"
    assert main(["evaluate", variant, *PACK, "-o", str(out), "--baseline", base]) == 0  # no gate asked
    code = main(["evaluate", variant, *PACK, "-o", str(out), "--baseline", base, "--fail-on-regression"])
    assert code == 1
    captured = capsys.readouterr()
    assert "Compared with the baseline" in captured.out and "container:demo-hardened" in captured.out
    assert "subject(s) newly fail a control" in captured.err
    name = next(n for n in os.listdir(out) if n.endswith("-2.results.json"))  # the second run's results: NAME-2 (each run names its own files)
    diff = load_results(str(out / name))["baseline"]["diff"]
    assert ("5.5", "container:demo-hardened", "pass") in {(f["control"], f["identity"], f["before"])
                                                           for f in diff["findings"]["new"]}
    assert diff["controls"]["regressed"] == []  # 5.5 already failed (demo-privileged): a subject-level regression


def test_incomplete_evidence_wins_over_a_breached_gate(tmp_path, capsys):
    def break_the_daemon(doc: dict) -> None:
        doc["metadata"]["complete"] = False
        doc["metadata"]["errors"] = [{"source": "docker.api", "message": "cannot connect"}]

    variant = evidence_variant(tmp_path, break_the_daemon)
    code = main(["evaluate", variant, *PACK, "-o", str(tmp_path / "out"), "--fail-under", "99"])
    assert code == 3
    err = capsys.readouterr().err
    assert "gate breached" in err and "evidence is incomplete" in err
