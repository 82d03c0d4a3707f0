"""Terminal summary: a tabulate table per pack and section, then the failing controls."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from auditor.common.text import escape_controls
from auditor.report.hosts_view import control_hosts_text, host_noun, hosts_rows
from auditor.report.redaction_view import redaction_line

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}



def pack_version_label(pack: dict[str, Any]) -> str:
    """The pack's version, and the version of the standard judged when its ``version`` parameter
    chose another (``v1.30 (pack v1.37)``), so a report never hides which version it judged."""
    version = str(pack.get("version", ""))
    judged = (pack.get("parameters") or {}).get("version") if isinstance(pack.get("parameters"), dict) else None
    if isinstance(judged, str) and judged and judged != version:
        return f"{safe_text(judged, 20)} (pack {version})"
    return version

def safe_text(value: Any, limit: int = 120) -> str:
    """Text fit for a terminal: control and bidi characters (ANSI escapes included) shown as
    escapes, never obeyed (auditor.common.text)."""
    text = escape_controls("" if value is None else str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _row(label: str, title: str, scored: dict[str, Any]) -> list[Any]:
    c = scored["counts"]
    return [label, safe_text(title, 52), _pct(scored["score"]), _pct(scored["coverage"]),
            c["pass"], c["fail"], c["error"], c["not_applicable"], c["manual"]]


# A run of at least this many sections with nothing judged (only n/a and manual controls) is one row.
FOLD_SECTIONS = 3


def _nothing_judged(section: dict[str, Any]) -> bool:
    c = section["counts"]
    return c["pass"] + c["fail"] + c["error"] == 0


def _section_rows(sections: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per section, except that a run of FOLD_SECTIONS or more sections with nothing to
    judge in this evidence (CIS Kubernetes node sections on a manifests audit) is folded into
    one row with their n/a and manual counts summed; the HTML and PDF reports list them all."""
    rows: list[list[Any]] = []
    run: list[dict[str, Any]] = []

    def flush() -> None:
        if len(run) >= FOLD_SECTIONS:
            ids = {s["id"] for s in run}
            # a section's counts include its subsections': sum the outermost ones only
            outer = [s for s in run if not any(s["id"].startswith(i + ".") for i in ids)]
            rows.append([f"{run[0]['id']} - {run[-1]['id']}", f"{len(run)} sections: nothing to judge here", "-",
                         "-", 0, 0, 0, sum(s["counts"]["not_applicable"] for s in outer),
                         sum(s["counts"]["manual"] for s in outer)])
        else:
            rows.extend(_row(s["id"], s["title"], s) for s in run)
        run.clear()

    for section in sections:
        if _nothing_judged(section):
            run.append(section)
            continue
        flush()
        rows.append(_row(section["id"], section["title"], section))
    flush()
    return rows


def render_table(results: dict[str, Any], max_failures: int = 60) -> str:
    """The summary shown after an audit."""
    headers = ["section", "title", "score", "coverage", "pass", "fail", "error", "n/a", "manual"]
    lines = []
    ev = results["evidence"]
    lines.append(f"host {safe_text(ev.get('host'))}  evidence {str(ev.get('sha256') or '')[:12]}  "
                 f"collected {ev.get('collected_at')}  {'complete' if ev.get('complete') else 'INCOMPLETE'}")
    if ev.get("unverified"):
        lines.append(f"UNVERIFIED evidence: {safe_text(ev.get('unverified'), 200)} "
                     "(evaluated with --accept-unverified)")
    for err in ev.get("errors", []):
        lines.append(f"  ! {safe_text(err.get('source'))}: {safe_text(err.get('message'), 200)}")
    lines.append(safe_text(redaction_line(ev), 400))
    for pack in results["packs"]:
        rows = _section_rows(pack["sections"])
        rows.append(_row("total", f"{pack['title']} {pack_version_label(pack)}", pack))
        lines.append("")
        lines.append(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    summary = results["summary"]
    lines.append("")
    lines.append(f"Score {_pct(summary['score'])} / 100, coverage {_pct(summary['coverage'])} %  "
                 f"({results['scoring']['score']})")
    lines.extend(_framework_lines(results.get("frameworks") or []))
    lines.extend(_hosts_lines(results))
    lines.extend(vulnerability_lines(results))
    lines.extend(namespace_level_lines(results))
    failing = [c for c in results["controls"] if c["status"] in ("fail", "error")]
    failing.sort(key=lambda c: (c["status"] != "fail", SEVERITY_RANK.get(c["severity"], 9), -c["weight"]))
    if failing:
        rows = []
        one_pack = len(results["packs"]) == 1
        for c in failing[:max_failures]:
            subjects = c["subjects"]
            bad = subjects["fail"] if c["status"] == "fail" else subjects["error"]
            control = c["id"] if one_pack else f"{c['pack']}:{c['id']}"
            rows.append([c["status"].upper(), c["severity"], control, safe_text(c["title"], 90),
                         f"{bad}/{subjects['total']}" if subjects["total"] else safe_text(c.get("reason"), 40)])
            if results.get("hosts"):
                rows[-1].append(safe_text(control_hosts_text(c, host_noun(results)), 120))
        lines.append("")
        headers = ["status", "severity", "control", "title", "subjects"] + (["hosts"] if results.get("hosts") else [])
        lines.append(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
        if len(failing) > max_failures:
            lines.append(f"... and {len(failing) - max_failures} more failing or errored controls "
                         f"(see the results JSON)")
    return "\n".join(lines) + "\n"


def _hosts_lines(results: dict[str, Any], limit: int = 10) -> list[str]:
    """The worst hosts of a merged bundle, with their own scores."""
    rows = hosts_rows(results)
    if not rows:
        return []
    shown = [[safe_text(r["host"], 60), r["roles"] or r["kinds"], r["score"], r["fail"], r["error"],
              "" if r["complete"] else "incomplete"] for r in rows[:limit]]
    lines = ["", f"{len(rows)} {host_noun(results, len(rows))}, worst first:",
             tabulate(shown, headers=["host", "roles", "score", "failing", "error", ""], tablefmt="simple",
                      disable_numparse=True)]
    if len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more (see the HTML report or the results JSON)")
    return lines


def _framework_lines(frameworks: list[dict[str, Any]]) -> list[str]:
    """One row per framework: requirement verdicts and the framework score (docs/frameworks.md)."""
    if not frameworks:
        return []
    rows = []
    for fw in frameworks:
        c = fw.get("counts") or {}
        rows.append([safe_text(fw.get("id"), 24), safe_text(f"{fw.get('title')} {fw.get('version')}", 52),
                     _pct(fw.get("score")), _pct(fw.get("coverage")), c.get("pass", 0), c.get("fail", 0),
                     c.get("error", 0), c.get("not_applicable", 0), c.get("manual", 0), c.get("not_assessed", 0)])
    table = tabulate(rows, headers=["framework", "title", "score", "coverage", "pass", "fail", "error", "n/a",
                                    "manual", "not assessed"], tablefmt="simple", disable_numparse=True)
    return ["", table, "(framework score: requirements passed / (passed + failed); a requirement fails when "
            "any mapped control fails)"]


class progress:  # noqa: N801 (used as a context manager, read like a function)
    """A one-line status on stderr while a slow step runs, only when stderr is a terminal.

    ``with progress("collecting docker evidence"):`` shows a spinner and the seconds elapsed,
    and clears the line when the step ends. Pipes and CI logs see nothing.
    """

    FRAMES = "|/-\\"

    def __init__(self, label: str, stream: Any = None) -> None:
        import sys

        self.label = safe_text(label, 60)
        self.stream = stream if stream is not None else sys.stderr
        self._thread: Any = None
        self._stop: Any = None

    def _run(self) -> None:
        import time

        start = time.monotonic()
        n = 0
        while not self._stop.wait(0.1):
            n += 1
            self.stream.write(f"\r{self.FRAMES[n % 4]} {self.label} {time.monotonic() - start:5.1f} s")
            self.stream.flush()

    def __enter__(self) -> progress:
        import threading

        try:
            tty = self.stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if tty:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def vulnerability_lines(results: dict[str, Any], limit: int = 10) -> list[str]:
    """Terminal lines: totals, then the worst images (unscanned first) with their worst finding."""
    from auditor.report.vulnerability_view import vulnerability_rows

    view = vulnerability_rows(results, limit=limit, findings=1)
    if view is None:
        return []
    lines = ["", f"Vulnerabilities: {view['scanned']} of {view['images']} images in use scanned; "
             + ", ".join(f"{n} {s} ({f} fixable)" for s, n, f in zip(view["severities"], view["totals"],
                                                                     view["fixable_totals"], strict=True))]
    rows = []
    for r in view["rows"]:
        worst = r["worst"][0] if r["worst"] else None
        rows.append([safe_text(r["image"], 60), "no scan" if not r["scanned"] else r["match"],
                     *[f"{n}/{f}" for n, f in zip(r["counts"], r["fixable"], strict=True)],
                     safe_text(f"{worst['id']} {worst['package']} {worst['installed']} -> {worst['fixed']}", 70)
                     if worst else ""])
    if rows:
        lines.append(tabulate(rows, headers=["image", "match", *[f"{s[:4]} (fix)" for s in view["severities"]],
                                             "worst fixable"], tablefmt="simple", disable_numparse=True))
    if view["more"]:
        lines.append(f"... and {view['more']} more images (see the HTML report or the results JSON)")
    return lines


def namespace_level_lines(results: dict[str, Any], limit: int = 10) -> list[str]:
    """Terminal lines: what each namespace's declared Pod Security levels would reject (the
    namespaces with most rejections at enforce first), then those enforcing no level."""
    from auditor.report.namespace_view import namespace_rows

    view = namespace_rows(results, limit=limit, subjects=1, checks=2)
    if view is None:
        return []
    totals = ", ".join(f"{t['mode']} {t['rejected']} in {t['namespaces']} namespaces" for t in view["totals"])
    lines = ["", f"Namespace levels (Pod Security Admission, judged with {view['pack']} {view['pack_version']}): "
             f"{view['total']} namespaces judged; would reject: {totals}"]
    rows = []
    for r in view["rows"]:
        by_mode = {m["mode"]: m for m in r["modes"]}
        worst = max(r["modes"], key=lambda m: m["rejected"])
        checks = ", ".join(f"{c['id']} ({c['subjects']})" for c in worst["checks"])
        rows.append([safe_text(r["name"], 40), *[safe_text(by_mode[m]["policy"], 22) + (" !" if any(
            m in i["label"] for i in r["invalid"]) else "") for m in ("enforce", "audit", "warn")],
            r["pods"] + r["workloads"], "/".join(str(by_mode[m]["rejected"]) for m in ("enforce", "audit", "warn")),
            safe_text(checks, 70)])
    if rows:
        lines.append(tabulate(rows, headers=["namespace", "enforce", "audit", "warn", "pods+workloads",
                                             "rejected e/a/w", "top failing checks"],
                              tablefmt="simple", disable_numparse=True))
    if view["more"]:
        lines.append(f"... and {view['more']} more namespaces (see the HTML report or the results JSON)")
    invalid = [f"{r['name']}: {i['label']}={i['value']!r}" for r in view["rows"] for i in r["invalid"]]
    if invalid:
        lines.append(safe_text("Invalid labels (!), judged as Pod Security Admission does: " + "; ".join(invalid), 400))
    same = view["unlabelled"]["names"] == view["not_enforcing"]["names"] and \
        view["unlabelled"]["total"] == view["not_enforcing"]["total"]
    enforcing_label = "No enforced level (CIS Kubernetes 5.2.1 fails them)"
    if same:
        enforcing_label += ", none has a Pod Security label"
    unlabelled_label = "" if same else "No Pod Security label at all"
    for key, label in (("not_enforcing", enforcing_label), ("unlabelled", unlabelled_label),
                       ("undeclared", "Namespace object not in the evidence (labels unknown)")):
        names = view[key]
        if names["total"] and label:
            shown = ", ".join(names["names"][:20]) + (f" and {names['total'] - 20} more" if names["total"] > 20 else "")
            lines.append(safe_text(f"{label}: {names['total']}: {shown}", 600))
    lines.append(safe_text(f"Defaults for modes without a label: {view['defaults']}"
                           + ("" if view["defaults_configured"] else
                              " (Pod Security Admission's own; the cluster's AdmissionConfiguration is not in "
                              "the evidence)"), 300))
    return lines
