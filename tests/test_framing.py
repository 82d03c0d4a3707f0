"""Evidence framed for a Job's log: read back whole, and a cut-off, damaged or foreign log refused."""

from __future__ import annotations

import pytest

from auditor.cli import main
from auditor.common.errors import InputError
from auditor.evidence.bundle import load_bundle
from auditor.evidence.framing import frame_bundle, read_framed

DEMO = load_bundle(__import__("auditor.api", fromlist=["DEMO_EVIDENCE"]).DEMO_EVIDENCE)


def test_a_framed_bundle_reads_back_identical_even_with_stderr_lines_interleaved():
    text = frame_bundle(DEMO)
    lines = text.splitlines()
    assert all(len(ln) <= 76 for ln in lines[1:-1])
    noisy = "\n".join(["2026-12-06T20:00:00Z starting", *lines[:3], "auditor: warning on stderr", *lines[3:], ""])
    assert read_framed(noisy, "pod log") == DEMO


def test_a_cut_off_or_damaged_log_is_refused_naming_it():
    lines = frame_bundle(DEMO).splitlines()
    with pytest.raises(InputError, match=r"job auditor-node-w-2 log: the evidence was cut off: [\d,]+ of [\d,]+ bytes"):
        read_framed("\n".join(lines[: len(lines) // 2]), "job auditor-node-w-2 log")
    with pytest.raises(InputError, match=r"the evidence is damaged"):
        read_framed("\n".join(lines[:5] + lines[6:]), "log")
    flipped = lines[3][:10] + ("A" if lines[3][10] != "A" else "B") + lines[3][11:]
    with pytest.raises(InputError, match=r"the evidence is damaged"):
        read_framed("\n".join(lines[:3] + [flipped] + lines[4:]), "log")
    with pytest.raises(InputError, match=r"log: holds no framed evidence bundle \(it says: 'exec format error'\)"):
        read_framed("exec format error\n", "log")
    with pytest.raises(InputError, match=r"holds no framed evidence bundle \(empty\)"):
        read_framed("", "log")


def test_collect_dash_writes_the_frame_on_stdout(tmp_path, capsys):
    import nodetree

    root = str(tmp_path / "root")
    nodetree.worker_tree(root, "w-1")
    assert main(["collect", "node", "--root", root, "-o", "-"]) == 0
    captured = capsys.readouterr()
    doc = read_framed(captured.out, "stdout")
    assert doc["targets"]["node.info"][0]["subject"]["name"] == "w-1"
    assert "wrote the framed bundle to stdout" in captured.err
    assert not (tmp_path / "-").exists()
