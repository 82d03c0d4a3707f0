"""Compare two results documents: score deltas, control changes, new and resolved findings.

:func:`diff_results` is a pure function of two results documents (``auditor/schemas/results.schema.json``);
its output is documented in ``docs/diff.md`` and described by ``$defs/diff`` of the results schema,
so renderers (terminal, HTML, PDF) only read it.

Everything is matched by stable identities, never by position:

- packs, frameworks: by id; sections: by (pack, section id);
- controls: by (pack, control id), then by declared aliases (a control's ``aliases`` list in the
  newer document names the ids it had before: ``"5.4"`` in the same pack or ``"old-pack:5.4"``);
- subjects: by type and name (plus namespace, kind, container and path when present), never by
  the container or object id, which changes when a container or object is recreated. An id is used
  only to tell apart two subjects of one control that share everything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

DIFF_KIND = "auditor-diff"
# Control change categories, in the order they are decided and shown.
CHANGE_CATEGORIES = ("regressed", "fixed", "to_error", "to_manual", "waived", "other")
LIST_KEYS = (*CHANGE_CATEGORIES, "appeared", "disappeared")
SCORE_FIELDS = ("score", "score_without_waivers", "coverage")
NOT_FAILING_VERDICTS = ("pass", "not_applicable")


# ---------------------------------------------------------------------------------------------
# identities

def subject_identity(subject: dict[str, Any]) -> str:
    """The stable identity of a finding's subject, as text (``container:web``, ``file:/etc/docker``).

    Ids are left out on purpose: a recreated container or Kubernetes object keeps its name but
    not its id. Kubernetes subjects carry kind and namespace; per-container subjects their container.
    """
    parts = [str(subject.get("type", "unknown"))]
    if subject.get("host"):  # a merged bundle: fleets are compared node by node, host by host
        parts.append(f"host={subject['host']}")
    if subject.get("kind") and subject.get("kind") != subject.get("type"):
        parts.append(f"kind={subject['kind']}")
    name = str(subject.get("name", ""))
    namespace = subject.get("namespace")
    if namespace and not name.startswith(f"{namespace}/"):
        name = f"{namespace}/{name}"
    parts.append(name)
    if subject.get("container"):
        parts.append(f"container={subject['container']}")
    if subject.get("path") and subject.get("path") != subject.get("name"):
        parts.append(f"path={subject['path']}")
    return ":".join(parts)


def _findings_by_identity(findings: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index findings by subject identity; only subjects that share an identity get their id added."""
    findings = list(findings)
    keys = [subject_identity(f["subject"]) for f in findings]
    seen: dict[str, int] = {}
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
    out: dict[str, dict[str, Any]] = {}
    for key, finding in zip(keys, findings, strict=True):
        if seen[key] > 1:
            s = finding["subject"]
            key = f"{key}:id={s.get('id', '')}:file={s.get('file', '')}:line={s.get('line', '')}"
        out[key] = finding
    return out


def _control_key(control: dict[str, Any]) -> tuple[str, str]:
    return (control["pack"], control["id"])


def _alias_keys(control: dict[str, Any]) -> list[tuple[str, str]]:
    """The (pack, id) pairs a control declares it was known as (``id`` or ``pack:id``)."""
    out = []
    for alias in control.get("aliases") or []:
        pack, sep, cid = str(alias).rpartition(":")
        out.append((pack, cid) if sep else (control["pack"], str(alias)))
    return out


def match_controls(old: list[dict[str, Any]], new: list[dict[str, Any]]
                   ) -> tuple[list[tuple[dict[str, Any], dict[str, Any], str]], list[dict[str, Any]],
                              list[dict[str, Any]]]:
    """Pair controls of two documents: (old, new, "id"|"alias") pairs, then new-only and old-only ones.

    Exact (pack, id) matches come first; aliases declared by the newer control (or, when diffing
    backwards, by the older one) then pair what is left.
    """
    old_by_key = {_control_key(c): c for c in old}
    new_by_key = {_control_key(c): c for c in new}
    pairs: list[tuple[dict[str, Any], dict[str, Any], str]] = []
    used_old: set[tuple[str, str]] = set()
    used_new: set[tuple[str, str]] = set()
    for key, control in new_by_key.items():
        if key in old_by_key:
            pairs.append((old_by_key[key], control, "id"))
            used_old.add(key)
            used_new.add(key)
    for key, control in new_by_key.items():
        if key in used_new:
            continue
        for alias in _alias_keys(control):
            if alias in old_by_key and alias not in used_old:
                pairs.append((old_by_key[alias], control, "alias"))
                used_old.add(alias)
                used_new.add(key)
                break
    for key, control in old_by_key.items():
        if key in used_old:
            continue
        for alias in _alias_keys(control):
            if alias in new_by_key and alias not in used_new:
                pairs.append((control, new_by_key[alias], "alias"))
                used_old.add(key)
                used_new.add(alias)
                break
    appeared = [c for k, c in new_by_key.items() if k not in used_new]
    disappeared = [c for k, c in old_by_key.items() if k not in used_old]
    return pairs, appeared, disappeared


# ---------------------------------------------------------------------------------------------
# scores

def _delta(old: Any, new: Any) -> dict[str, Any]:
    delta = round(new - old, 1) if isinstance(old, (int, float)) and isinstance(new, (int, float)) else None
    return {"old": old, "new": new, "delta": delta}


def score_delta(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """Score, coverage (and score without waivers, when either side has it) and status counts, old vs new."""
    old, new = old or {}, new or {}
    out: dict[str, Any] = {}
    for name in SCORE_FIELDS:
        if name in old or name in new:
            out[name] = _delta(old.get(name), new.get(name))
    old_counts, new_counts = old.get("counts") or {}, new.get("counts") or {}
    out["counts"] = {s: _delta(old_counts.get(s, 0), new_counts.get(s, 0))
                     for s in dict.fromkeys([*old_counts, *new_counts])}
    return out


def _scored_rows(old_rows: list[dict[str, Any]], new_rows: list[dict[str, Any]], key: Any,
                 extra: Any) -> list[dict[str, Any]]:
    """Join two lists of scored things (packs, sections, frameworks) by ``key``; keep new order."""
    old_by = {key(r): r for r in old_rows}
    new_by = {key(r): r for r in new_rows}
    rows = []
    for k in [*new_by, *(k for k in old_by if k not in new_by)]:
        o, n = old_by.get(k), new_by.get(k)
        state = "both" if o is not None and n is not None else ("added" if o is None else "removed")
        rows.append({**extra(n or o), "state": state, **score_delta(o, n)})
    return rows


def _sections(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**s, "pack": p["id"]} for p in doc.get("packs", []) for s in p.get("sections", [])]


def _changed(row: dict[str, Any]) -> bool:
    return row["state"] != "both" or any(
        row[f]["delta"] not in (None, 0) or (row[f]["old"] is None) != (row[f]["new"] is None)
        for f in SCORE_FIELDS if f in row)


# ---------------------------------------------------------------------------------------------
# controls and findings

def categorise(old_status: str, new_status: str) -> str | None:
    """The change category of a control whose status went from ``old_status`` to ``new_status``.

    regressed: fails now and did not before; fixed: failed (or was waived) and now passes or no
    longer applies; to_error, to_manual, waived: became that status; other: any other change.
    None when the status did not change.
    """
    if old_status == new_status:
        return None
    if new_status == "fail":
        return "regressed"
    if old_status in ("fail", "waived") and new_status in NOT_FAILING_VERDICTS:
        return "fixed"
    if new_status == "error":
        return "to_error"
    if new_status == "manual":
        return "to_manual"
    if new_status == "waived":
        return "waived"
    return "other"


def _control_row(old: dict[str, Any] | None, new: dict[str, Any] | None, matched_by: str | None) -> dict[str, Any]:
    ref = new or old
    assert ref is not None
    row: dict[str, Any] = {"pack": ref["pack"], "id": ref["id"], "title": ref["title"], "section": ref["section"],
                           "severity": ref["severity"], "old_status": old["status"] if old else None,
                           "new_status": new["status"] if new else None}
    if matched_by == "alias" and old is not None:
        row["old_pack"], row["old_id"] = old["pack"], old["id"]
    return row


def _judged(control: dict[str, Any]) -> bool:
    """Whether a control's findings say anything about its subjects (not manual, not a target error)."""
    return control["status"] != "manual" and not (control["status"] == "error" and not control["findings"])


def _finding_row(old: dict[str, Any], new: dict[str, Any], identity: str, finding: dict[str, Any],
                 before: str, after: str) -> dict[str, Any]:
    row: dict[str, Any] = {"pack": new["pack"], "control": new["id"], "title": new["title"],
                           "severity": new["severity"], "identity": identity, "subject": finding["subject"],
                           "before": before, "after": after, "waived": bool(finding.get("waived"))}
    for name in ("expected", "observed", "where"):
        if name in finding:
            row[name] = finding[name]
    if old["pack"] != new["pack"] or old["id"] != new["id"]:
        row["old_pack"], row["old_control"] = old["pack"], old["id"]
    return row


def finding_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """New and resolved failing subjects of one matched control.

    new: fails now, and before passed, could not be judged (``error``) or was not there (``absent``).
    resolved: failed before, and now passes or is gone. A subject that now errors is neither (we
    cannot tell), and nothing is compared when either side is manual or its target was not collected.
    """
    if not (_judged(old) and _judged(new)):
        return [], []
    old_f = _findings_by_identity(old["findings"])
    new_f = _findings_by_identity(new["findings"])
    added, resolved = [], []
    for identity, finding in new_f.items():
        before = old_f[identity]["status"] if identity in old_f else "absent"
        if finding["status"] == "fail" and before != "fail":
            added.append(_finding_row(old, new, identity, finding, before, "fail"))
    for identity, finding in old_f.items():
        after = new_f[identity]["status"] if identity in new_f else "absent"
        if finding["status"] == "fail" and after in ("pass", "absent"):
            resolved.append(_finding_row(old, new, identity, finding, "fail", after))
    return added, resolved


# ---------------------------------------------------------------------------------------------
# the diff

def _side(doc: dict[str, Any]) -> dict[str, Any]:
    ev = doc.get("evidence") or {}
    return {"generated_at": doc.get("generated_at"), "auditor_version": doc.get("auditor_version"),
            "evidence_sha256": ev.get("sha256"), "host": ev.get("host"), "collected_at": ev.get("collected_at"),
            "complete": ev.get("complete"), "packs": [f"{p['id']} {p.get('version', '')}".strip()
                                                     for p in doc.get("packs", [])],
            "waivers": "waivers" in doc}


def diff_results(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Compare two results documents; see the module docstring and docs/diff.md for the shape.

    Pure: reads both documents, changes neither. Identical inputs give ``summary.changed`` false,
    empty change lists and zero deltas.
    """
    pairs, appeared, disappeared = match_controls(old.get("controls", []), new.get("controls", []))
    controls: dict[str, list[dict[str, Any]]] = {k: [] for k in LIST_KEYS}
    new_findings: list[dict[str, Any]] = []
    resolved_findings: list[dict[str, Any]] = []
    for o, n, matched_by in pairs:
        category = categorise(o["status"], n["status"])
        if category is not None:
            controls[category].append(_control_row(o, n, matched_by))
        added, resolved = finding_changes(o, n)
        new_findings.extend(added)
        resolved_findings.extend(resolved)
    controls["appeared"] = [_control_row(None, c, None) for c in appeared]
    controls["disappeared"] = [_control_row(c, None, None) for c in disappeared]

    packs = _scored_rows(old.get("packs", []), new.get("packs", []), lambda p: p["id"],
                         lambda p: {"id": p["id"], "title": p.get("title", ""), "version": p.get("version", "")})
    sections = _scored_rows(_sections(old), _sections(new), lambda s: (s["pack"], s["id"]),
                            lambda s: {"pack": s["pack"], "id": s["id"], "title": s.get("title", "")})
    frameworks = _scored_rows(old.get("frameworks") or [], new.get("frameworks") or [], lambda f: f["id"],
                              lambda f: {"id": f["id"], "title": f.get("title", "")})
    overall = {"state": "both", **score_delta(old.get("summary"), new.get("summary"))}

    warnings = []
    if (old.get("selection") or {}) != (new.get("selection") or {}):
        warnings.append("the two documents selected different controls (see their `selection`): "
                        "appeared and disappeared controls may only reflect that")
    if ("waivers" in old) != ("waivers" in new):
        warnings.append("only one document has waivers applied: waived controls count as changes")

    hosts = host_changes(old, new)
    from auditor.results.vulnerabilities import vulnerability_changes

    vulnerabilities = vulnerability_changes(old, new)
    unwaived_new = sum(1 for f in new_findings if not f["waived"])
    summary = {name: len(rows) for name, rows in controls.items()}
    summary.update(new_findings=len(new_findings), new_unwaived_findings=unwaived_new,
                   resolved_findings=len(resolved_findings))
    summary["regression"] = bool(controls["regressed"]) or unwaived_new > 0
    summary.update(hosts_appeared=len(hosts["appeared"]), hosts_disappeared=len(hosts["disappeared"]))
    if vulnerabilities is not None:
        summary.update(vulnerabilities_fixed=vulnerabilities["fixed_total"],
                       vulnerabilities_introduced=vulnerabilities["introduced_total"])
    summary["changed"] = (any(summary.get(k) for k in (*LIST_KEYS, "new_findings", "resolved_findings",
                                                       "hosts_appeared", "hosts_disappeared", "vulnerabilities_fixed",
                                                       "vulnerabilities_introduced"))
                          or any(_changed(r) for r in [overall, *packs, *sections, *frameworks]))
    return {
        "kind": DIFF_KIND,
        "old": _side(old),
        "new": _side(new),
        "summary": summary,
        "overall": overall,
        "packs": packs,
        "frameworks": frameworks,
        "sections": sections,
        "controls": controls,
        "findings": {"new": new_findings, "resolved": resolved_findings},
        "hosts": hosts,
        "warnings": warnings,
        **({"vulnerabilities": vulnerabilities} if vulnerabilities is not None else {}),
    }


def host_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Nodes and Docker hosts of merged results that appeared or disappeared, and the score change
    of those in both (results ``hosts``; empty for single-host results)."""
    before = {h["host"]: h for h in old.get("hosts") or [] if isinstance(h, dict) and isinstance(h.get("host"), str)}
    after = {h["host"]: h for h in new.get("hosts") or [] if isinstance(h, dict) and isinstance(h.get("host"), str)}
    return {
        "appeared": [{"host": n, "roles": after[n].get("roles") or [], "score": after[n].get("score")}
                     for n in sorted(set(after) - set(before))],
        "disappeared": [{"host": n, "roles": before[n].get("roles") or [], "score": before[n].get("score")}
                        for n in sorted(set(before) - set(after))],
        "changed": [{"host": n, "old_score": before[n].get("score"), "new_score": after[n].get("score")}
                    for n in sorted(set(before) & set(after)) if before[n].get("score") != after[n].get("score")],
    }
