"""The prestarted helper (auditor/speed/prestart.py): does its job, or hands it back, never loses it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading

import pytest

from auditor.speed import prestart
from auditor.speed.prestart import Helper, HelperFailed

needs_fork = pytest.mark.skipif(not hasattr(os, "fork") or prestart.usable_cpus() < 2, reason="needs fork and 2 CPUs")


def _helper(monkeypatch, *modules: str) -> Helper:
    monkeypatch.setattr(prestart, "small_enough", lambda: True)  # the test process may be large
    return Helper(list(modules))


@needs_fork
def test_job_runs_in_the_helper_with_its_imports(monkeypatch):
    with _helper(monkeypatch, "json") as helper:
        assert helper.started and helper.pid != os.getpid()
        assert helper.submit("json.dumps", {"a": [1, 2]})
        assert helper.result() == json.dumps({"a": [1, 2]})
        assert helper.pid is None  # reaped


@needs_fork
def test_a_failing_job_is_reported_not_lost(monkeypatch):
    with _helper(monkeypatch) as helper:
        assert helper.submit("json.loads", "{not json")
        with pytest.raises(HelperFailed, match="JSONDecodeError"):
            helper.result()


@needs_fork
def test_a_helper_that_dies_is_a_failure(monkeypatch):
    with _helper(monkeypatch) as helper:
        assert helper.submit("os._exit", 3)
        with pytest.raises(HelperFailed, match="stopped before answering"):
            helper.result()


@needs_fork
def test_closing_without_a_job_stops_the_helper(monkeypatch):
    helper = _helper(monkeypatch, "weasyprint")
    pid = helper.pid
    helper.close()
    helper.close()  # twice is fine
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_no_helper_when_the_process_is_large(monkeypatch):
    monkeypatch.setattr(prestart, "small_enough", lambda: False)
    helper = Helper(["json"])
    assert not helper.started and not helper.submit("json.dumps", 1)
    with pytest.raises(HelperFailed):
        helper.result()


@needs_fork
def test_pdf_made_in_process_when_the_helper_fails(monkeypatch, tmp_path):
    """write_reports: the helper's failure costs time, never the PDF."""
    from report_samples import demo_results

    from auditor.report.context import serialize_results
    from auditor.report.write import write_reports

    doc = demo_results()
    data = serialize_results(doc)
    results_path = tmp_path / "demo.results.json"
    results_path.write_bytes(data)
    with _helper(monkeypatch) as helper:
        monkeypatch.setattr(helper, "submit", lambda *a: Helper.submit(helper, "os._exit", 1))
        saved = []
        paths = write_reports(doc, ["pdf", "html"], str(tmp_path / "demo"), data, helper=helper,
                              results_path=str(results_path), meanwhile=lambda: saved.append(1))
    assert saved == [1]
    assert sorted(os.path.basename(p) for p in paths) == ["demo.html", "demo.pdf"]
    assert (tmp_path / "demo.pdf").read_bytes().startswith(b"%PDF-")


@needs_fork
def test_pdf_laid_out_by_the_helper_attaches_the_results_file(monkeypatch, tmp_path):
    from report_samples import demo_results

    from auditor.report.context import serialize_results
    from auditor.report.write import write_reports

    doc = demo_results()
    data = serialize_results(doc)
    results_path = tmp_path / "demo.results.json"
    results_path.write_bytes(data)
    with _helper(monkeypatch, "weasyprint", "auditor.report.pdf") as helper:
        write_reports(doc, ["pdf"], str(tmp_path / "demo"), data, helper=helper, results_path=str(results_path))
        assert helper.pid is None  # the helper did the job and was reaped
    assert (tmp_path / "demo.pdf").read_bytes().startswith(b"%PDF-")
    if shutil.which("pdfdetach"):
        out = tmp_path / "attached.json"
        subprocess.run(["pdfdetach", "-save", "1", "-o", str(out), str(tmp_path / "demo.pdf")], check=True)
        assert out.read_bytes() == data


@pytest.mark.parametrize("sample", ["demo", "hostile", "baseline"])
def test_helper_markup_from_the_sent_context_equals_the_in_memory_one(sample, tmp_path):
    """The run builds the PDF's context and the helper fills its template with it after marshal
    carried it over: the same markup as in one process (a difference would make the helper's PDF
    another report), and a context marshal cannot carry would make the helper useless."""
    import marshal

    import report_samples

    from auditor.report.context import build_context, serialize_results
    from auditor.report.html import fill_report_template, render_report_markup

    doc = {"demo": report_samples.demo_results, "hostile": report_samples.hostile_results,
           "baseline": report_samples.baseline_results}[sample]()
    data = serialize_results(doc)
    sha = hashlib.sha256(data).hexdigest()
    for limit in (None, 3):
        mine = render_report_markup(doc, pdf=True, results_bytes=data, results_name="r.json", subjects_limit=limit)
        sent = marshal.loads(marshal.dumps(build_context(doc, None, "r.json", pdf=True, subjects_limit=limit,
                                                         results_sha256=sha)))
        assert fill_report_template(sent, pdf=True) == mine
        assert sha[:12].upper() in mine


@needs_fork
def test_the_helper_refuses_a_results_file_changed_after_it_was_written(monkeypatch, tmp_path):
    """The PDF attaches the results file the run wrote, read back by digest: a file changed
    between (another process, a full disk) is one line, not a PDF attaching other bytes."""
    from report_samples import demo_results

    from auditor.common.errors import InputError
    from auditor.report.context import serialize_results
    from auditor.report.write import write_reports

    doc = demo_results()
    data = serialize_results(doc)
    results_path = tmp_path / "demo.results.json"
    results_path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    results_path.write_bytes(data.replace(b"{", b"{ ", 1))  # changed after the run wrote it
    with _helper(monkeypatch, "weasyprint", "auditor.report.pdf") as helper:
        with pytest.raises(InputError, match="changed while the reports were written"):
            write_reports(doc, ["pdf", "html"], str(tmp_path / "demo"), helper=helper,
                          results_path=str(results_path), results_sha256=sha)
    assert not (tmp_path / "demo.pdf").exists()


@needs_fork
def test_a_job_larger_than_the_pipe_returns_at_once(monkeypatch):
    """submit does not wait for a helper still warming up to read a large job (a thread writes it)."""
    import time

    monkeypatch.setattr(prestart, "small_enough", lambda: True)
    with Helper(["json"]) as helper:
        big = "x" * (4 << 20)
        os.kill(helper.pid, signal.SIGSTOP)  # a helper busy elsewhere: it reads nothing for 3 s
        wake = threading.Timer(3.0, os.kill, (helper.pid, signal.SIGCONT))
        wake.start()
        try:
            started = time.monotonic()
            assert helper.submit("builtins.len", big)
            assert time.monotonic() - started < 1.0
            assert helper.result() == len(big)
        finally:
            wake.join()


@needs_fork
def test_audit_starts_the_helper_first_and_stops_it_on_bad_input(monkeypatch, tmp_path):
    """`auditor audit` forks the PDF helper before it checks options and loads waivers and packs
    (the import overlaps them too); input that fails there ends the helper with the run."""
    from auditor import api, cli

    monkeypatch.setattr(prestart, "small_enough", lambda: True)
    monkeypatch.delenv("AUDITOR_NO_PDF", raising=False)  # conftest.py sets it for the other tests
    calls, helpers, pids = [], [], []
    real_helper, real_prepare = api.pdf_helper, api.prepare

    def spy_helper(outputs):
        calls.append("helper")
        helpers.append(real_helper(outputs))
        pids.append(helpers[-1] and helpers[-1].pid)
        return helpers[-1]

    def spy_prepare(judging):
        calls.append("prepare")
        return real_prepare(judging)

    monkeypatch.setattr(api, "pdf_helper", spy_helper)
    monkeypatch.setattr(api, "prepare", spy_prepare)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers: [{nonsense: 1}]\n")
    code = cli.main(["audit", "--demo", "--waivers", str(waivers), "-o", str(tmp_path / "out")])
    assert code == 2
    assert calls == ["helper", "prepare"]
    assert pids[0] and helpers[0].pid is None  # started, then stopped and reaped
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)
    assert not (tmp_path / "out").exists()
    assert cli.main(["audit", "--demo", "--no-pdf", "--format", "nope", "-o", str(tmp_path / "out")]) == 2
    assert calls == ["helper", "prepare", "helper"] and helpers[1] is None  # no PDF: no helper


def test_free_heap_pages_go_back_to_the_system():
    """release_free_memory (called while a run waits for its PDF helper) returns the pages of
    freed C-heap blocks: here 64 MiB of 100 KiB buffers freed but for the last, which keeps the
    heap from shrinking by itself."""
    from auditor.speed.heap import _libc, release_free_memory

    if _libc() is None:
        pytest.skip("no malloc_trim in this C library")

    def resident() -> int:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    blocks = [bytearray(100 << 10) for _ in range(640)]
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])  # touched: resident
    last = blocks.pop()
    del blocks
    before = resident()
    assert release_free_memory() is True
    assert before - resident() > 32 << 20
    assert last[0] == ord("x")
