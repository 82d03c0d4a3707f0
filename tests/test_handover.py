"""The run forked by `auditor audit` hands its PDF wait to the small parent (auditor.speed.handover)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor.speed.handover import run_in_child

ROOT = str(Path(__file__).resolve().parent.parent)


def test_the_childs_exit_code_and_job_reach_the_parent():
    seen = []

    def body(hand):
        hand.send({"pdf": "x.pdf", "n": 3})
        return 1

    assert run_in_child(body, seen.append) == 1
    assert seen == [{"pdf": "x.pdf", "n": 3}]


def test_finish_may_change_the_exit_code_and_no_job_means_no_finish():
    assert run_in_child(lambda hand: (hand.send({"a": 1}), 0)[1], lambda job: 2) == 2
    called = []
    assert run_in_child(lambda hand: 3, called.append) == 3
    assert called == []


def test_a_body_that_raises_ends_the_child_with_70(capfd):
    def body(hand):
        raise RuntimeError("bug in the body")

    assert run_in_child(body, lambda job: None) == 70
    assert "bug in the body" in capfd.readouterr().err


def test_a_child_killed_by_a_signal_is_reported_as_a_shell_does():
    assert run_in_child(lambda hand: os.kill(os.getpid(), signal.SIGKILL), lambda job: None) == 128 + signal.SIGKILL


def test_in_parent_runs_in_the_parent_only():
    pid = os.getpid()
    calls = []
    assert run_in_child(lambda hand: 0, lambda job: None, lambda: calls.append(os.getpid())) == 0
    assert calls == [pid]


def test_a_sigint_sent_to_the_parent_alone_is_passed_to_the_child():
    # sent by another process (as `kill -INT` or a supervisor does); no thread of this process may
    # take it, so the sender is a process started before the fork
    killer = subprocess.Popen(["sh", "-c", f"sleep 0.5; kill -INT {os.getpid()}"])

    def body(hand):
        try:
            time.sleep(20)
        except KeyboardInterrupt:
            return 42
        return 0

    start = time.monotonic()
    try:
        assert run_in_child(body, lambda job: None) == 42
    finally:
        killer.wait()
    assert time.monotonic() - start < 10
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # this process's own handler is back


def test_the_parent_stops_the_child_dying_with_it(tmp_path):
    # the parent killed outright: the run does not go on as an orphan
    script = tmp_path / "p.py"
    marker = tmp_path / "child.pid"
    script.write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {ROOT!r})\n"
        "from auditor.speed.handover import run_in_child\n"
        f"def body(hand):\n    open({str(marker)!r}, 'w').write(str(os.getpid()))\n    time.sleep(60)\n    return 0\n"
        "run_in_child(body, lambda job: None)\n")
    proc = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 20
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(marker.read_text())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the forked run outlived its parent")


# The command as users run it, with the run treated as large (above MAX_FORK_RSS) once the
# helper is started, so it hands its PDF over as a 43k-object run does.
_WRAPPER = """
import sys
sys.path.insert(0, {root!r})
import auditor.speed.prestart as prestart
import auditor.report.write as write

starting = [False]
init = prestart.Helper.__init__
def started(self, *a, **k):
    starting[0] = True
    try:
        init(self, *a, **k)
    finally:
        starting[0] = False
prestart.Helper.__init__ = started
prestart.small_enough = lambda: starting[0]
finish = write.finish_handed_pdf
def finishing(helper, job):
    sys.stderr.write("PDF handed over: " + job["pdf"] + "\\n")
    if {fail!r}:
        def failed():
            raise prestart.HelperFailed("made to fail")
        helper.result = failed
    return finish(helper, job)
write.finish_handed_pdf = finishing
from auditor.cli import run
sys.exit(run())
"""


def _audit(tmp_path: Path, *args: str, fail: bool = False) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "run.py"
    script.write_text(_WRAPPER.format(root=ROOT, fail=fail))
    env = {k: v for k, v in os.environ.items() if k != "AUDITOR_NO_PDF"}
    return subprocess.run([sys.executable, str(script), "audit", "--demo", "-o", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("fail", [False, True], ids=["helper", "helper-fails"])
def test_a_large_run_hands_its_pdf_to_the_parent(tmp_path, fail):
    done = _audit(tmp_path, fail=fail)
    assert done.returncode == 0, done.stderr
    pdfs = list((tmp_path / "out").glob("*.pdf"))
    assert len(pdfs) == 1 and f"PDF handed over: {pdfs[0]}" in done.stderr
    assert f"report: {pdfs[0]}" in done.stdout  # the run's summary, printed by the run
    assert "Score 26.1 / 100" in done.stdout
    text = _pdf_text(pdfs[0])
    assert "COMPLIANCE AUDIT REPORT" in text and "Page 32 of 32" in text
    html = next((tmp_path / "out").glob("*.html"))
    results = next((tmp_path / "out").glob("*.results.json"))
    assert html.stat().st_mtime <= pdfs[0].stat().st_mtime and results.exists()
    attached = subprocess.run(["pdfdetach", "-list", str(pdfs[0])], capture_output=True, text=True).stdout
    assert results.name in attached


def test_the_runs_exit_code_is_the_commands(tmp_path):
    done = _audit(tmp_path, "--fail-under", "90")
    assert done.returncode == 1, done.stderr
    assert "PDF handed over" in done.stderr and list((tmp_path / "out").glob("*.pdf"))


def test_a_run_that_signs_waits_for_its_pdf_itself(tmp_path):
    done = _audit(tmp_path, "--sign-key", str(tmp_path / "missing.pem"))
    assert done.returncode == 2 and "missing.pem" in done.stderr  # one line, from the run
    assert "PDF handed over" not in done.stderr and "Traceback" not in done.stderr
