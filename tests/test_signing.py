"""Signed runs (--sign-key): a PAdES-signed PDF that stays PDF/A-3b with its attachment, and an
attestation over every file; `auditor verify` holds for the untouched run and fails for one
changed byte in any file, for an untrusted signer and for a missing signature."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import stat
import subprocess

import pytest

from auditor.cli import main
from auditor.common.errors import ExitCode

MANIFESTS = os.path.join(os.path.dirname(__file__), "fixtures", "manifests", "shop")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    assert main(["keygen", str(folder / "ours")]) == ExitCode.SUCCESS
    assert main(["keygen", str(folder / "theirs")]) == ExitCode.SUCCESS
    return {"key": str(folder / "ours" / "auditor-signing.key"), "cert": str(folder / "ours" / "auditor-signing.crt"),
            "other_cert": str(folder / "theirs" / "auditor-signing.crt"),
            "other_key": str(folder / "theirs" / "auditor-signing.key")}


@pytest.fixture(scope="module")
def signed_run(keys, tmp_path_factory):
    out = tmp_path_factory.mktemp("signed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDITOR_NO_PDF", "0")  # the suite skips PDFs (conftest.py); a signed run needs its PDF
        code = main(["audit", "--manifests", MANIFESTS, "-o", str(out), "--sign-key", keys["key"]])
    assert code in (ExitCode.SUCCESS, ExitCode.EVIDENCE_INCOMPLETE)
    files = {os.path.basename(p).split(".", 1)[1]: p for p in glob.glob(str(out / "*"))}
    assert set(files) == {"evidence.json", "results.json", "html", "pdf", "attestation.json"}
    return files


def _verify(capsys, *argv):
    capsys.readouterr()
    code = main(["verify", *argv])
    return code, capsys.readouterr().out


def test_keygen_writes_a_private_key_and_never_overwrites_one(keys, capsys):
    assert stat.S_IMODE(os.stat(keys["key"]).st_mode) == 0o600
    assert main(["keygen", os.path.dirname(keys["key"])]) == ExitCode.INVALID_INPUT
    assert "never overwrites" in capsys.readouterr().err


def test_every_file_of_a_signed_run_verifies(signed_run, keys, capsys):
    code, out = _verify(capsys, *signed_run.values(), "--trust", keys["cert"])
    assert code == ExitCode.SUCCESS, out
    assert "FAIL" not in out and out.rstrip().endswith("verified")
    assert "PAdES signature intact, covers the whole file" in out
    assert "evidence content hash" in out
    statement = json.loads(__import__("base64").b64decode(json.load(open(signed_run["attestation.json"]))["payload"]))
    names = {s["name"] for s in statement["subject"]}
    assert names == {os.path.basename(p) for k, p in signed_run.items() if k != "attestation.json"}
    packs = statement["predicate"]["packs"]
    assert packs and all(p["id"] and p["sha256"] for p in packs)
    assert statement["predicate"]["auditor_version"]


def test_the_signed_pdf_keeps_pdfa_its_attachment_and_text(signed_run):
    pdf = signed_run["pdf"]
    meta = subprocess.run(["pdfinfo", "-meta", pdf], capture_output=True, text=True, check=True).stdout
    assert re.search(r"pdfaid:part[>=\"']+3", meta) and re.search(r"pdfaid:conformance[>=\"']+B", meta)
    listed = subprocess.run(["pdfdetach", "-list", pdf], capture_output=True, text=True, check=True).stdout
    assert os.path.basename(signed_run["results.json"]) in listed
    text = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True, check=True).stdout
    assert "Pod Security" in text or "pod-security" in text


@pytest.mark.parametrize("kind", ["evidence.json", "results.json", "html", "pdf", "attestation.json"])
def test_one_flipped_byte_fails_verification(signed_run, keys, kind, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(os.path.dirname(signed_run[kind]), folder)
    target = folder / os.path.basename(signed_run[kind])
    data = bytearray(target.read_bytes())
    # a byte inside the content: for JSON a digit or letter of a value, so the file still parses
    spot = len(data) // 2
    while not chr(data[spot]).isalnum():
        spot += 1
    data[spot] = ord("0") if data[spot] != ord("0") else ord("1")
    target.write_bytes(bytes(data))
    code, out = _verify(capsys, str(target), "--trust", keys["cert"])
    assert code == ExitCode.GATE_BREACHED, out
    assert "FAIL" in out and "NOT verified" in out


def test_an_untrusted_or_absent_trust_anchor_is_not_verified(signed_run, keys, capsys):
    code, out = _verify(capsys, signed_run["pdf"], signed_run["attestation.json"], "--trust", keys["other_cert"])
    assert code == ExitCode.GATE_BREACHED and "not trusted" in out
    code, out = _verify(capsys, signed_run["results.json"])
    assert code == ExitCode.GATE_BREACHED and "pass --trust CERT" in out


def test_an_unsigned_run_is_not_verified(tmp_path, keys, capsys):
    assert main(["audit", "--demo", "--no-pdf", "-o", str(tmp_path)]) == ExitCode.SUCCESS
    (results,) = glob.glob(str(tmp_path / "*.results.json"))
    code, out = _verify(capsys, results, "--trust", keys["cert"])
    assert code == ExitCode.GATE_BREACHED and "unsigned" in out


def test_a_bad_key_is_one_line_before_anything_is_collected(tmp_path, keys, capsys):
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    assert main(["audit", "--demo", "-o", str(tmp_path / "out"), "--sign-key", str(bad)]) == ExitCode.INVALID_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an unencrypted PEM private key" in err
    assert not (tmp_path / "out").exists()
    code = main(["audit", "--demo", "-o", str(tmp_path / "out"), "--sign-key", keys["key"],
                 "--sign-cert", keys["other_cert"]])
    assert code == ExitCode.INVALID_INPUT and "is not for the key" in capsys.readouterr().err
