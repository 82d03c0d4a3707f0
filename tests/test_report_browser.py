"""The HTML report in a real headless Chromium, driven over the DevTools protocol.

Filters work, no console error, no request leaves the page, hostile values stay text.
Skips (with the reason) when Chromium is absent; .ci/run installs Debian's `chromium`.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
from report_samples import demo_results, hostile_results

from auditor.report.html import render_html

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium page, spoken to over its DevTools websocket (127.0.0.1 only)."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.js("document.readyState") == "complete":
                return
            time.sleep(0.05)
        raise AssertionError(f"{url} did not load")

    def drain(self, seconds: float = 0.3) -> None:
        self.ws.settimeout(seconds)
        try:
            while True:
                self.events.append(json.loads(self.ws.recv()))
        except Exception:  # noqa: BLE001 (a timeout ends the drain)
            pass
        self.ws.settimeout(30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does it)")
    profile = tempfile.mkdtemp(prefix="auditor-chromium-")
    port = _free_port()
    proc = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update", "--disable-sync",
                             f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
                             f"--remote-debugging-port={port}", "--window-size=1280,900", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        deadline, targets = time.monotonic() + 30, []
        while time.monotonic() < deadline and not targets:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    targets = [t for t in json.load(r) if t.get("type") == "page"]
            except OSError:
                time.sleep(0.2)
        assert targets, "chromium did not open its DevTools port"
        b = Browser(targets[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            b.call(f"{domain}.enable")
        yield b
        b.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def _load(browser: Browser, doc: dict[str, Any], tmp_path) -> str:
    path = tmp_path / "report.html"
    path.write_text(render_html(doc), encoding="utf-8")
    url = "file://" + str(path)
    browser.events.clear()
    browser.open(url)
    browser.drain()
    return url


def _problems(browser: Browser, url: str) -> tuple[list[str], list[str]]:
    requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    errors = [json.dumps(e["params"])[:300] for e in browser.events
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "warning"))
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") in ("error", "warning"))]
    return [r for r in requests if r != url], errors


def test_filters_work_without_errors_or_requests(browser, tmp_path):
    doc = demo_results()
    url = _load(browser, doc, tmp_path)
    total = len(doc["controls"])
    visible_rows = "[...document.querySelectorAll('tr[data-filter-item]')].filter(r => !r.hidden).length"
    assert browser.js("document.getElementById('filters').hidden") is False  # the script revealed the form
    assert browser.js(visible_rows) == total
    assert browser.js("document.getElementById('filter-count').textContent") == f"{total} of {total} controls shown"
    # status: only failures
    browser.js("document.querySelectorAll('input[name=status]').forEach(b => { b.checked = b.value === 'fail'; });"
               "document.getElementById('filters').dispatchEvent(new Event('change'))")
    fails = doc["summary"]["counts"]["fail"]
    assert browser.js(visible_rows) == fails
    assert browser.js("[...document.querySelectorAll('article.control')].filter(a => !a.hidden).length") == fails
    # severity: failures of critical controls only
    browser.js("document.querySelectorAll('input[name=severity]')"
               ".forEach(b => { b.checked = b.value === 'critical'; });"
               "document.getElementById('filters').dispatchEvent(new Event('change'))")
    critical = sum(1 for c in doc["controls"] if c["status"] == "fail" and c["severity"] == "critical")
    assert browser.js(visible_rows) == critical
    # text: reset, then search a subject name
    browser.js("document.getElementById('filters').reset()")
    time.sleep(0.1)
    assert browser.js(visible_rows) == total
    browser.js("const q = document.querySelector('input[name=q]'); q.value = 'demo-privileged';"
               "q.dispatchEvent(new Event('input', {bubbles: true}))")
    names = browser.js("[...document.querySelectorAll('tr[data-filter-item]')].filter(r => !r.hidden)"
                       ".map(r => r.querySelector('a').textContent)")
    assert "5.5" in names and len(names) < total
    # pack select
    browser.js("document.getElementById('filters').reset()")
    time.sleep(0.1)
    browser.js("const s = document.querySelector('select[name=pack]'); s.value = s.options[1].value;"
               "s.dispatchEvent(new Event('change', {bubbles: true}))")
    assert browser.js(visible_rows) == total  # the one pack holds every control
    browser.drain(0.2)
    requests, errors = _problems(browser, url)
    assert requests == [] and errors == []


def test_hostile_values_stay_text_in_the_browser(browser, tmp_path):
    url = _load(browser, hostile_results(), tmp_path)
    assert browser.js("document.querySelectorAll('script').length") == 1
    assert browser.js("document.querySelectorAll('img, iframe, object, embed, link').length") == 0
    assert browser.js("document.body.textContent.includes('<img src=file:///etc/passwd>')") is True
    assert browser.js("document.body.textContent.includes(\"<script>alert('x')</script>\")") is True
    assert browser.js("typeof window.alert") == "function"  # nothing replaced or ran
    requests, errors = _problems(browser, url)
    assert requests == [] and errors == []


def test_page_is_complete_without_script(browser, tmp_path):
    browser.call("Emulation.setScriptExecutionDisabled", value=True)
    try:
        url = _load(browser, demo_results(), tmp_path)
        assert browser.js("1 + 1") == 2  # DevTools still evaluates; the page's own script did not run
        assert browser.js("document.getElementById('filters').hidden") is True
        assert browser.js("document.getElementById('filter-count').textContent") == ""
        shown = "[...document.querySelectorAll('article.control')].filter(a => a.offsetParent !== null).length"
        assert browser.js(shown) == len(demo_results()["controls"])
        assert browser.js("document.body.innerText.includes('Control details')") is True
    finally:
        browser.call("Emulation.setScriptExecutionDisabled", value=False)
    requests, errors = _problems(browser, url)
    assert requests == [] and errors == []


def test_large_report_filter_finds_a_listed_subject(browser, tmp_path):
    """The HTML of a run with hundreds of failing subjects per control loads, and the text filter
    finds a subject that the report lists (the last one listed of a truncated control)."""
    from report_samples import large_run

    from auditor.report.subjects_view import HTML_SUBJECTS, select_subjects
    from auditor.results.document import load_results

    paths = large_run(str(tmp_path))
    doc = load_results(paths["results"])
    index, control = next((i, c) for i, c in enumerate(doc["controls"])
                          if sum(f["status"] == "fail" for f in c["findings"]) > HTML_SUBJECTS)
    name = select_subjects(control["findings"], control["subjects"], HTML_SUBJECTS).listed[-1]["subject"]["name"]
    url = "file://" + paths["html"]
    browser.events.clear()
    browser.open(url)
    browser.drain()
    total = browser.js("document.querySelectorAll('tr[data-filter-item]').length")
    assert total == len(doc["controls"])
    browser.js("const q = document.querySelector('input[name=q]'); q.value = " + json.dumps(name) + ";"
               "q.dispatchEvent(new Event('input', {bubbles: true}))")
    shown = browser.js("[...document.querySelectorAll('tr[data-filter-item]')].filter(r => !r.hidden)"
                       ".map(r => r.dataset.target)")
    assert f"ctl-{index}" in shown and len(shown) < total
    assert browser.js(f"document.getElementById('ctl-{index}').hidden") is False
    assert browser.js(f"document.getElementById('ctl-{index}').textContent.includes({json.dumps(name)})") is True
    requests, errors = _problems(browser, url)
    assert requests == [] and errors == []
