"""Evaluate packs against an evidence bundle: targets x controls -> findings and verdicts.

Never raises on a bad item: a condition that cannot be judged gives the verdict ``error`` with
its reason. Control verdicts: fail if any subject fails; else error if any subject could not be
judged; else pass; not_applicable when nothing is left to judge; manual for controls a person
checks.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from auditor.packs.conditions import AS_OF, Const, EvalError, Outcome, has_error_markers, parse_timestamp
from auditor.packs.loader import Control, Pack

PASS, FAIL, ERROR, NOT_APPLICABLE, MANUAL = "pass", "fail", "error", "not_applicable", "manual"
STATUSES = (PASS, FAIL, ERROR, NOT_APPLICABLE, MANUAL)
# Observed values longer than this are cut in findings, so results stay proportionate.
MAX_OBSERVED_CHARS = 2000
MAX_SUBJECT_CHARS = 4096
# Passing subjects listed per control; beyond this only their count is kept (failures and errors
# are always listed in full), so a 10,000-pod cluster does not repeat every pod for every control.
MAX_PASS_FINDINGS = 100


@dataclass
class Selection:
    """Which controls to evaluate: by pack, section prefix, control id and profile level."""

    packs: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    level: int | None = None

    def accepts(self, control: Control) -> bool:
        if self.sections and not any(control.section == s or control.section.startswith(s + ".")
                                     or control.id == s or control.id.startswith(s + ".")
                                     for s in self.sections):
            return False
        if self.controls and control.id not in self.controls and f"{control.pack_id}:{control.id}" not in self.controls:
            return False
        if self.level is not None and control.level is not None and control.level > self.level:
            return False
        return True

    def as_dict(self) -> dict[str, Any]:
        return {"packs": self.packs, "sections": self.sections, "controls": self.controls, "level": self.level}


def _bounded(value: Any) -> Any:
    """Keep an observed value, cutting very long strings and lists so a finding stays readable."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and Infinity (from a YAML .nan) are not JSON: the results stay valid JSON
    if isinstance(value, str):
        return value if len(value) <= MAX_OBSERVED_CHARS else value[:MAX_OBSERVED_CHARS] + f"... ({len(value)} chars)"
    if isinstance(value, list):
        items = [_bounded(v) for v in value[:50]]
        if len(value) > 50:
            items.append(f"... and {len(value) - 50} more")
        return items
    if isinstance(value, dict):
        return {str(k): _bounded(v) for k, v in list(value.items())[:50]}
    return value


# Subject fields findings keep: identity (diffs match on type, name, namespace, kind, container,
# path; never on id, which changes when a container is recreated) and what waiver selectors read.
_SUBJECT_TYPES: dict[str, type] = {"line": int, "labels": dict}  # every other subject field is a string
SUBJECT_KEYS = ("type", "name", "host", "id", "path", "file", "line", "namespace", "kind", "container", "image",
                "labels")


def subject_of(item: dict[str, Any]) -> dict[str, Any]:
    subject = item.get("subject")
    if isinstance(subject, dict) and subject.get("name") is not None:
        # absent and null fields are left out (a cluster-scoped object has no namespace); strings
        # longer than any real name or path (PATH_MAX) and labels are bounded: every finding repeats
        # the subject, so a megabyte name must not make the results a hundred megabytes
        kept = {}
        for key in SUBJECT_KEYS:
            value = subject.get(key)
            if value is None:
                continue
            if not isinstance(value, _SUBJECT_TYPES.get(key, str)) or isinstance(value, bool):
                if key not in ("type", "name"):
                    continue  # a field of the wrong type (a hand-edited bundle) is left out
                value = str(value)
            if isinstance(value, str) and len(value) > MAX_SUBJECT_CHARS:
                value = value[:MAX_SUBJECT_CHARS] + f"... ({len(value)} chars)"
            kept[key] = value
        kept.setdefault("type", "unknown")
        if "labels" in kept:
            kept["labels"] = _bounded(kept["labels"])
        return kept
    return {"type": "unknown", "name": str(subject) if subject is not None else "(no subject)"}


def _views(evidence: dict[str, Any], target: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Items of a target as conditions see them, each with its finding subject (built once per
    item, not once per control: every control of the target shares it).

    Items of every ``docker.*`` and ``host.*`` target also see the Docker daemon's item under the
    key ``daemon`` (for example a container check that accepts a daemon-wide setting).
    """
    items = [i for i in evidence["targets"].get(target, []) if isinstance(i, dict)]
    daemons = evidence["targets"].get("docker.daemon") or []
    if target != "docker.daemon" and daemons and target.startswith(("docker.", "host.")):
        if (evidence.get("metadata") or {}).get("parts"):
            # a merged bundle: each host's items see that host's daemon (auditor/evidence/merge.py)
            by_host = {}
            for daemon in daemons:
                by_host.setdefault(_host_of(daemon), daemon)
            items = [{**i, "daemon": by_host[_host_of(i)]} if _host_of(i) in by_host else i for i in items]
        else:
            daemon = daemons[0]
            items = [{**i, "daemon": daemon} for i in items]
    return [view_of(item) for item in items]


def view_of(item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """An item as controls judge it: (the item, its finding subject, whether it is clean of error
    markers, so that its conditions can be judged by their ``test``)."""
    return item, subject_of(item), not has_error_markers(item)


def _host_of(item: dict[str, Any]) -> Any:
    subject = item.get("subject")
    return subject.get("host") if isinstance(subject, dict) else None


@dataclass
class Hosts:
    """The hosts of a merged bundle (metadata.parts): each one's collection time (ages of its
    items are measured against it), the targets it could not collect, and its kind."""

    as_of: dict[str, Any] = field(default_factory=dict)
    broken: dict[str, dict[str, str]] = field(default_factory=dict)
    kinds: dict[str, list[str]] = field(default_factory=dict)


_HOSTS_KEY = "\0hosts"  # where the Hosts of a run are kept in the views cache


def _hosts(evidence: dict[str, Any], views: dict[str, Any]) -> Hosts | None:
    if _HOSTS_KEY not in views:
        parts = (evidence.get("metadata") or {}).get("parts")
        hosts = None
        if isinstance(parts, list):
            hosts = Hosts()
            for part in parts:
                host = part.get("host") if isinstance(part, dict) else None
                if not isinstance(host, str):
                    continue
                hosts.as_of[host] = parse_timestamp(part.get("collected_at"))
                hosts.broken[host] = {str(k): str(v) for k, v in (part.get("target_errors") or {}).items()}
                hosts.kinds[host] = [str(k) for k in part.get("kinds") or []]
        views[_HOSTS_KEY] = hosts
    return views[_HOSTS_KEY]


def _judge(where: Any, check: Any, expected: str | None, view: dict[str, Any],
           subject: dict[str, Any], clean: bool) -> dict[str, Any] | None:
    """One subject: a finding dict, or None when the control does not apply to it.

    A ``clean`` view (no error markers: conditions.has_error_markers) is first judged with the
    conditions' ``test``, which gives the verdict without building Outcomes; only a failing one
    (or one whose test raised) is judged again in full, for what the finding shows."""
    applies = where is None
    if clean:
        try:
            if not applies:
                if not where.test(view):
                    return None
                applies = True
            if check.test(view):
                return {"subject": subject, "status": PASS}  # dropped beyond MAX_PASS_FINDINGS
        except Exception:  # noqa: BLE001 (judged again below, which reports it)
            pass
    try:
        if not applies and not where(view).passed:
            return None
        outcome: Outcome = check(view)
    except EvalError as exc:
        return {"subject": subject, "status": ERROR, "message": str(exc)}
    except Exception as exc:  # a broken item must never stop the run
        return {"subject": subject, "status": ERROR, "message": f"cannot evaluate: {type(exc).__name__}: {exc}"}
    if outcome.passed:
        return {"subject": subject, "status": PASS}  # dropped beyond MAX_PASS_FINDINGS
    finding = {"subject": subject, "status": FAIL, "expected": expected or outcome.expected,
               "observed": _bounded(outcome.observed), "where": outcome.key}
    filled = view.get("api_defaults")
    if filled and isinstance(outcome.key, str):
        defaulted = defaulted_fields(outcome.key, filled)
        if defaulted:
            finding["defaulted"] = defaulted
    return finding


# The item fields a key reads: dotted paths from an item's root (object, container, pod).
_READ_FIELDS = re.compile(r"\b(?:object|container|pod)(?:\.[A-Za-z_]\w*)+")
MAX_DEFAULTED = 10


@functools.lru_cache(maxsize=4096)
def _read_fields(key: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """The fields a key reads, as (the fields and the paths above them, the prefixes of paths
    under them): computed once per key, not once per failing subject."""
    fields = _READ_FIELDS.findall(key)
    above = {f[:i] for f in fields for i, ch in enumerate(f) if ch == "."}
    return frozenset(fields) | above, tuple(f + s for f in fields for s in (".", "["))


def defaulted_fields(key: str, filled: Any) -> list[str]:
    """The API defaults (paths the manifests collector filled, an item's `api_defaults`;
    docs/kubernetes-defaults.md) among the fields a failing check read: a path at, under or above
    a field the key names, so "saw: ..." can say it was not written in the manifest."""
    at_or_above, under = _read_fields(key)
    if not at_or_above or not isinstance(filled, list):
        return []
    hits = []
    for path in filled:
        if not isinstance(path, str):
            continue
        if path in at_or_above or path.startswith(under):
            hits.append(path)
            if len(hits) == MAX_DEFAULTED:
                break
    return hits


def _subject_key(finding: dict[str, Any]) -> tuple[str, str, str, str]:
    s = finding["subject"]
    return (str(s.get("host", "")), str(s.get("name", "")), str(s.get("id", "")), str(s.get("path", "")))


@contextmanager
def evaluation_context(evidence: dict[str, Any]) -> Iterator[None]:
    """Give conditions the evidence's collection time (ages are measured against it, not the clock)."""
    token = AS_OF.set(parse_timestamp((evidence.get("metadata") or {}).get("collected_at")))
    try:
        yield
    finally:
        AS_OF.reset(token)


def evaluate_control(control: Control, evidence: dict[str, Any], views: dict[str, Any]) -> dict[str, Any]:
    """Verdict and findings of one control."""
    if AS_OF.get() is None:  # called on its own, outside evaluate()
        with evaluation_context(evidence):
            return _evaluate_control(control, evidence, views)
    return _evaluate_control(control, evidence, views)


def _evaluate_control(control: Control, evidence: dict[str, Any],
                      views: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"status": MANUAL, "reason": None, "findings": [], "counts": {PASS: 0, FAIL: 0, ERROR: 0}}
    if control.assessment == "manual":
        result["reason"] = "needs a person: see the audit text"
        return result
    target = control.target
    assert target is not None
    target_errors = evidence.get("metadata", {}).get("target_errors") or {}
    optional = control.data.get("manual_without")
    if optional and not any(name in evidence.get("targets", {}) or name in target_errors
                            for name in control.target_names):
        # its evidence is optional and was not given: a person judges it, as any manual control
        result.update(reason=optional, assessment="manual")
        return result
    broken = next((name for name in control.target_names if name in target_errors), None)
    if broken is not None:
        result.update(status=ERROR, reason=f"{broken} was not collected: {target_errors[broken]}")
        return result
    where, check = control.compile()
    if isinstance(where, Const) and not where.passed:
        # the control is not part of the standard with these pack parameters (a check added in a
        # later Pod Security Standards version than the one judged)
        result.update(status=NOT_APPLICABLE,
                      reason=f"not judged with these pack parameters: {where.describe()} "
                             f"does not hold ({where.key} is {where.observed})")
        return result
    items = _items(control, evidence, views)
    expected = control.data.get("expected")
    hosts = _hosts(evidence, views)
    if hosts is None:  # judged in subject order: the findings come out sorted
        findings = [f for f in (_judge(where, check, expected, view, subject, clean)
                                for view, subject, clean in _sorted_items(control, items, views)) if f is not None]
    else:
        findings = _judge_hosts(control, hosts, where, check, expected, items)
        findings.sort(key=_subject_key)
    counts = {PASS: 0, FAIL: 0, ERROR: 0}
    for finding in findings:
        counts[finding["status"]] += 1
    result["counts"] = counts
    host_status = _host_statuses(findings) if hosts is not None else None
    if counts[PASS] > MAX_PASS_FINDINGS:
        kept = 0
        listed = []
        for finding in findings:
            if finding["status"] == PASS:
                kept += 1
                if kept > MAX_PASS_FINDINGS:
                    continue
            listed.append(finding)
        findings = listed
    if host_status is not None:
        result["hosts"] = host_status
    statuses = {status for status, n in counts.items() if n}
    if not statuses:
        status = NOT_APPLICABLE
        result["reason"] = (f"no {target} subject to judge" if not items
                            else "no subject this control applies to")
    elif FAIL in statuses:
        status = FAIL
    elif ERROR in statuses:
        status = ERROR
        result["reason"] = next(f["message"] for f in findings if f["status"] == ERROR)
    else:
        status = PASS
    result["status"] = status
    result["findings"] = findings
    return result


def _judge_hosts(control: Control, hosts: Hosts, where: Any, check: Any, expected: str | None,
                 items: list[Any]) -> list[dict[str, Any]]:
    """Findings of a merged bundle's items: each host's items judged at its own collection time; a
    host that could not collect a target the control reads gets one `error` finding with the reason
    (its other items are not judged, as when its own bundle is evaluated alone)."""
    findings: list[dict[str, Any]] = []
    broken: dict[str, str] = {}
    for host, errors in hosts.broken.items():
        name = next((t for t in control.target_names if t in errors), None)
        if name is not None:
            broken[host] = f"{name} was not collected on {host}: {errors[name]}"
    current: Any = object()
    token = AS_OF.set(AS_OF.get())
    try:
        for view, subject, clean in items:
            host = subject.get("host")
            if host in broken:
                continue
            if host != current and host in hosts.as_of:
                AS_OF.set(hosts.as_of[host])
                current = host
            finding = _judge(where, check, expected, view, subject, clean)
            if finding is not None:
                findings.append(finding)
    finally:
        AS_OF.reset(token)
    for host, message in sorted(broken.items()):
        kind = "node" if "node" in hosts.kinds.get(host, ()) else "host"
        findings.append({"subject": {"type": kind, "name": host, "host": host}, "status": ERROR, "message": message})
    return findings


_RANK = {PASS: 0, ERROR: 1, FAIL: 2}


def _host_statuses(findings: list[dict[str, Any]]) -> dict[str, str]:
    """Each host's verdict on a control: fail if any of its subjects fails, else error, else pass."""
    out: dict[str, str] = {}
    for finding in findings:
        host = finding["subject"].get("host")
        if isinstance(host, str) and _RANK[finding["status"]] >= _RANK[out.get(host, PASS)]:
            out[host] = finding["status"]
    return dict(sorted(out.items()))


# Below this many subjects to judge, a second process (auditor/speed/second_core.py) costs more than it saves.
PARALLEL_MIN_SUBJECTS = 4_000


def _items(control: Control, evidence: dict[str, Any], views: dict[str, Any]) -> list[Any]:
    """(view, subject, clean) of every item of every target the control judges; each target's views built once."""
    for name in control.target_names:
        if name not in views:
            views[name] = _views(evidence, name)
    return [pair for name in control.target_names for pair in views[name]]


def _sorted_items(control: Control, items: list[Any], views: dict[str, Any]) -> list[Any]:
    """``items`` (of :func:`_items`) stably sorted by subject, once per set of targets: judging
    them in this order gives the findings in the order sorting them by subject gives (a stable
    sort of a subsequence is the subsequence of the stable sort), without sorting each
    control's findings (at 43k objects, 378,000 findings sorted over 170 controls)."""
    key = ("sorted items", *control.target_names)
    if key not in views:
        views[key] = sorted(items, key=lambda view: _subject_key({"subject": view[1]}))
    return views[key]


def _cost(control: Control, evidence: dict[str, Any], views: dict[str, Any]) -> int:
    """Subjects the control will judge (building the views it needs on the way); 0 for a manual
    control or one whose target was not collected (its verdict needs no judging)."""
    broken = evidence.get("metadata", {}).get("target_errors") or {}
    if control.assessment == "manual" or any(name in broken for name in control.target_names) \
            or (control.data.get("manual_without") and not any(n in evidence.get("targets", {})
                                                                for n in control.target_names)):
        return 0
    return len(_items(control, evidence, views))


def evaluate(evidence: dict[str, Any], packs: Iterable[Pack], selection: Selection | None = None
             ) -> list[tuple[Pack, list[tuple[Control, dict[str, Any]]]]]:
    """Evaluate every selected control of every pack; views are built once per target.

    With at least PARALLEL_MIN_SUBJECTS subjects to judge, a forked child judges about half of
    the controls (auditor/speed/second_core.py): the verdicts are the same, in the same order."""
    from auditor.speed.second_core import run_split

    selection = selection or Selection()
    views: dict[str, Any] = {}
    chosen = [(pack, [c for c in pack.controls if selection.accepts(c)]) for pack in packs]
    controls = [c for _, selected in chosen for c in selected]
    with evaluation_context(evidence):
        costs = [_cost(c, evidence, views) for c in controls]  # every view is built before a fork
        verdicts = iter(run_split(controls, costs, lambda c: evaluate_control(c, evidence, views),
                                  PARALLEL_MIN_SUBJECTS))
    return [(pack, [(c, next(verdicts)) for c in selected]) for pack, selected in chosen]
