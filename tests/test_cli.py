"""The command line as a user meets it: commands, formats, gates and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from auditor.cli import DEMO_EVIDENCE, main


def run_cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_demo_audit_writes_results_and_prints_the_summary(tmp_path):
    proc = run_cli("audit", "--demo", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Score" in proc.stdout and "coverage" in proc.stdout and "5.5" in proc.stdout
    files = sorted(os.listdir(tmp_path / "reports"))  # the PDF is skipped in tests (AUDITOR_NO_PDF, conftest.py)
    assert len(files) == 2 and all(f.startswith("docker-demo-docker-host-") for f in files)
    assert files[0].endswith(".html") and files[1].endswith(".results.json")


def test_json_format_and_selection(tmp_path, capsys):
    assert main(["audit", "--demo", "--format", "json", "--section", "5", "--level", "1", "-o", str(tmp_path),
                 "--pack", "cis-docker-1.6.0"]) == 0
    results = json.loads(capsys.readouterr().out)
    # every built-in pack is evaluated: section 5 selects its subsections too (CIS Kubernetes 5.1, ...)
    assert results["controls"] and all(c["section"].split(".")[0] == "5" for c in results["controls"])
    assert all(c["level"] in (1, None) for c in results["controls"])
    assert results["selection"]["sections"] == ["5"]


def test_control_selection_with_pack_prefix(tmp_path, capsys):
    assert main(["audit", "--demo", "--format", "json", "--control", "cis-docker-1.6.0:5.5", "-o", str(tmp_path)]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in results["controls"]] == ["5.5"]


def test_fail_under_gate(tmp_path):
    assert main(["audit", "--demo", "--fail-under", "99.9", "-o", str(tmp_path)]) == 1
    assert main(["audit", "--demo", "--fail-under", "0", "-o", str(tmp_path)]) == 0


def test_evaluate_is_byte_identical_apart_from_the_timestamp(tmp_path):
    outs = []
    for n in range(2):
        out = tmp_path / str(n)
        assert main(["evaluate", DEMO_EVIDENCE, "-o", str(out), "--format", "table"]) == 0
        (name,) = os.listdir(out)
        text = (out / name).read_text()
        outs.append("\n".join(line for line in text.splitlines() if '"generated_at"' not in line))
    assert outs[0] == outs[1]


def test_set_overrides_a_parameter_and_is_recorded(tmp_path, capsys):
    assert main(["audit", "--demo", "--format", "json", "--control", "1.2.2", "-o", str(tmp_path),
                 "--set", "cis-docker-1.6.0.minimum_engine_version=19.03"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["packs"][0]["parameters"]["minimum_engine_version"] == 19.03 or \
        str(results["packs"][0]["parameters"]["minimum_engine_version"]) == "19.03"
    assert results["controls"][0]["status"] == "pass"


@pytest.mark.parametrize("args,message", [
    (["evaluate", "/nonexistent/evidence.json"], "no such evidence file"),
    (["audit", "--demo", "--format", "pdfx"], "unknown format pdfx"),
    (["audit", "--demo", "--pack", "nope"], "unknown pack 'nope'"),
    (["audit", "--demo", "--set", "nodot"], "expected PACK.PARAM=VALUE"),
    (["audit", "--demo", "--set", "cis-docker-1.6.0.nope=1"], "no parameter 'nope'"),
    (["audit", "--demo", "--pack", "pod-security-standards", "--set", "pod-security-standards.version=v1.38"],
     "--set pod-security-standards.version: v1.38 is not accepted (expected latest or v1.0 ... v1.37)"),
    (["audit", "--demo", "--pack", "pod-security-standards", "--set", "pod-security-standards.version=v2"],
     "v2 is not accepted"),
    (["packs", "show", "cis-docker-1.6.0", "--control", "99.9"], "no control '99.9'"),
    (["audit", "--target", "mainframe"], "unknown target mainframe"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    assert main([*args, "-o", str(tmp_path)] if args[0] == "audit" else args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_broken_evidence_files(tmp_path, capsys):
    bad = tmp_path / "e.json"
    bad.write_text('{"kind": "auditor-evidence",\n "schema_version": "1", oops}')
    assert main(["evaluate", str(bad)]) == 2
    assert "line 2" in capsys.readouterr().err
    doc = json.load(open(DEMO_EVIDENCE))
    doc["targets"]["docker.container"][0]["inspect"]["HostConfig"]["Privileged"] = True
    bad.write_text(json.dumps(doc))
    assert main(["evaluate", str(bad)]) == 2
    assert "sha256 does not match" in capsys.readouterr().err
    doc["schema_version"] = "7"
    bad.write_text(json.dumps(doc))
    assert main(["evaluate", str(bad)]) == 2
    assert "schema_version '7'" in capsys.readouterr().err


def test_packs_commands(capsys):
    assert main(["packs", "list"]) == 0
    assert "cis-docker-1.6.0" in capsys.readouterr().out
    assert main(["packs", "show", "cis-docker-1.6.0"]) == 0
    out = capsys.readouterr().out
    assert "5.5" in out and "1.1.1" in out
    assert main(["packs", "show", "cis-docker-1.6.0", "--control", "5.5"]) == 0
    assert "remediation" in capsys.readouterr().out


def test_collect_then_evaluate_with_no_daemon(tmp_path):
    ev = tmp_path / "ev.json"
    proc = run_cli("collect", "docker", "-o", str(ev), "--docker-host", f"unix://{tmp_path}/none.sock",
                   "--timeout", "1")
    assert proc.returncode == 3 and ev.exists()
    assert "none.sock" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("evaluate", str(ev), "-o", str(tmp_path / "out"))
    assert proc.returncode == 3 and "ERROR" in proc.stdout


def test_evidence_items_must_be_objects(tmp_path, capsys):
    from auditor.evidence.bundle import content_sha256

    doc = json.load(open(DEMO_EVIDENCE))
    doc["targets"]["docker.container"][3] = "oops"
    doc["sha256"] = content_sha256(doc)
    bad = tmp_path / "e.json"
    bad.write_text(json.dumps(doc))
    assert main(["evaluate", str(bad)]) == 2
    assert "targets.docker.container[3]" in capsys.readouterr().err
