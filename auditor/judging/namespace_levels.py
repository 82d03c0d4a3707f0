"""Each namespace judged at the Pod Security level its labels declare: what Pod Security
Admission would reject, per namespace and per mode, before enforcement is turned on.

A step after evaluation (the view is data in the results document, ``namespace_levels``): the
namespaces' ``pod-security.kubernetes.io/<mode>`` and ``<mode>-version`` labels are resolved as
Pod Security Admission resolves them, and for each distinct (level, version) declared, the pods
and workload templates of those namespaces are judged with the Pod Security Standards pack at
that version (its ``version`` parameter) and level (baseline: the baseline section; restricted:
every check). Verdicts the main run already reached are reused: every check at the main run's
version, and at other versions every check whose conditions do not read the version; only the
rest is evaluated, on the pods of those namespaces alone.

How labels resolve (Pod Security Admission, k8s.io/pod-security-admission/api):

* a mode without a level label takes the default level, one without a version label the default
  version; the defaults are the AdmissionConfiguration's (privileged and latest for every mode
  unless configured; the auditor cannot see that file, the pack parameter admission_defaults
  stands for it);
* an invalid enforce level is enforced as restricted; an invalid audit or warn level is treated as
  privileged (fail open); an invalid version is treated as latest. The API server refuses to
  create a namespace with such a label, or to change one to it;
* a version is ``latest`` or ``v1.<minor>``; one newer than the pack knows judges as latest.

At admission, enforce judges pods only, while audit and warn also judge workload controllers'
pod templates; a workload listed under enforce is admitted, the pods it creates are not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from auditor.common.errors import InputError
from auditor.packs.loader import Control, Pack

PSS_PACK = "pod-security-standards"
MODES = ("enforce", "audit", "warn")
LEVELS = ("privileged", "baseline", "restricted")
LABEL = "pod-security.kubernetes.io/"
# Subjects listed per namespace and mode (the others are counted): proportionate on a 43k-object dump.
SUBJECTS_LISTED = 10
_VERSION = re.compile(r"^v1\.(0|[1-9][0-9]*)$")
DEFAULT_POLICY = {mode: {"level": "privileged", "version": "latest"} for mode in MODES}
DEFAULTS_NOTE = (
    "A namespace without a label for a mode is judged at the Pod Security Admission defaults: "
    "privileged and latest for every mode unless the API server's AdmissionConfiguration "
    "(PodSecurityConfiguration defaults) sets others. That file is not in the evidence; set the pack "
    "parameter pod-security-standards.admission_defaults to the cluster's values to judge those "
    "namespaces at them.")


def _parse_level(value: Any, mode: str) -> tuple[str, str | None]:
    """(level judged, error) for a level label as Pod Security Admission parses it."""
    if isinstance(value, str) and value in LEVELS:
        return value, None
    judged = "restricted" if mode == "enforce" else "privileged"  # enforce fails closed, audit/warn open
    return judged, f"must be one of {', '.join(LEVELS)}: judged as {judged}, as Pod Security Admission does"


def _parse_version(value: Any) -> tuple[str, str | None]:
    if value == "latest":
        return "latest", None
    if isinstance(value, str) and _VERSION.match(value):
        return value, None
    return "latest", 'must be "latest" or "v1.x": judged as latest, as Pod Security Admission does'


def admission_defaults(value: Any) -> dict[str, dict[str, str]]:
    """The parameter admission_defaults (AdmissionConfiguration defaults: enforce, enforce-version,
    audit, ...) as a policy; InputError (one line) on a value the API server would refuse."""
    policy = {mode: dict(spec) for mode, spec in DEFAULT_POLICY.items()}
    if value in (None, {}):
        return policy
    where = f"--set {PSS_PACK}.admission_defaults"
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping such as {{enforce: baseline, enforce-version: latest}}")
    for key, raw in value.items():
        mode, _, version = str(key).partition("-")
        if mode not in MODES or version not in ("", "version"):
            raise InputError(f"{where}: unknown key {key!r} (known: enforce, enforce-version, audit, "
                             "audit-version, warn, warn-version)")
        if version:
            if _parse_version(raw)[1]:
                raise InputError(f"{where}: {key}: {raw!r} must be \"latest\" or \"v1.x\"")
            policy[mode]["version"] = raw
        else:
            if _parse_level(raw, mode)[1]:
                raise InputError(f"{where}: {key}: {raw!r} must be one of {', '.join(LEVELS)}")
            policy[mode]["level"] = raw
    return policy


Policy = dict[str, dict[str, Any]]
Pairs = list[tuple[dict[str, Any], dict[str, Any], bool]]  # auditor.judging.engine.view_of


def resolve_policy(labels: Any, defaults: dict[str, dict[str, str]]) -> tuple[Policy, list[dict[str, str]]]:
    """Each mode's level and version from a namespace's labels, and the invalid labels."""
    labels = labels if isinstance(labels, dict) else {}
    policy: dict[str, dict[str, Any]] = {}
    invalid = []
    for mode in MODES:
        entry: dict[str, Any] = {"level": defaults[mode]["level"], "version": defaults[mode]["version"],
                                 "level_from": "default", "version_from": "default"}
        for suffix, parse, field in (("", lambda v, m=mode: _parse_level(v, m), "level"),
                                     ("-version", lambda v, _m=mode: _parse_version(v), "version")):
            name = LABEL + mode + suffix
            if name not in labels:
                continue
            raw = labels[name]
            judged, error = parse(raw)
            entry[field], entry[field + "_from"] = judged, "label"
            if error:
                shown = raw if isinstance(raw, str) else repr(raw)
                entry[field + "_label"] = shown
                invalid.append({"label": name, "value": shown[:200], "message": error})
        policy[mode] = entry
    return policy, invalid


def _labels(item: dict[str, Any]) -> Any:
    obj = item.get("object")
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta.get("labels") if isinstance(meta, dict) else None


def _has_pss_label(labels: Any) -> bool:
    return isinstance(labels, dict) and any(isinstance(k, str) and k.startswith(LABEL) for k in labels)


def _pod_key(subject: dict[str, Any]) -> tuple[str, str]:
    """(kind, namespace/name) of the pod or workload a pod or container subject belongs to."""
    name = str(subject.get("name", ""))
    container = subject.get("container")
    if isinstance(container, str) and name.endswith(":" + container):
        name = name[: -len(container) - 1]
    return str(subject.get("kind", "")), name


class _Versions:
    """The PSS pack at each version judged: the main run's, else loaded once per version with the
    run's other parameters. Versions are the pack's ``version`` parameter values after its
    aliases (``latest`` is the newest version it knows, v1.37)."""

    def __init__(self, main: Pack | None, overrides: dict[str, Any]) -> None:
        self.main = main
        self.overrides = {k: v for k, v in overrides.items() if k != "version"}
        self.loaded: dict[str | None, Pack] = {}
        self.base = main if main is not None else self._load(None)
        self.spec = (self.base.meta.get("parameters") or {}).get("version")

    def main_version(self) -> str | None:
        return str(self.main.parameters.get("version")) if self.main is not None and self.spec else None

    def _load(self, version: str | None) -> Pack:
        from auditor.packs.loader import find_pack_paths, load_pack

        path = find_pack_paths().get(PSS_PACK)
        if path is None:
            raise InputError(f"the {PSS_PACK} pack is not installed: namespace levels cannot be judged")
        params = dict(self.overrides)
        if version is not None:
            params["version"] = version
        return load_pack(path, params)

    def pack(self, version: str | None) -> Pack:
        """The pack judging at ``version`` (None: the pack is not versioned, the run's as it is)."""
        if self.main is not None and (version is None or version == self.main_version()):
            return self.main
        if version is None or (self.main is None and version == self.base.parameters.get("version")):
            return self.base
        if version not in self.loaded:
            self.loaded[version] = self._load(version)
        return self.loaded[version]

    def judged_version(self, label_version: str) -> tuple[str | None, str | None]:
        """(the version parameter value judging a namespace's version, note), the value after the
        pack's aliases; None when the pack has no version parameter."""
        if not self.spec:
            return None, f"the {PSS_PACK} pack judges {self.base.version} semantics only"
        newest = str((self.spec.get("aliases") or {}).get("latest", "latest"))
        if label_version == "latest":
            return newest, None
        from auditor.packs.loader import parameter_accepts

        if parameter_accepts(self.spec, label_version):
            return label_version, None
        # a v1.x newer than the pack knows: Pod Security Admission applies its newest policy
        return newest, f"{label_version} is newer than the pack knows: judged as {newest} (latest)"


def _reads_version(value: Any) -> bool:
    """Whether a control's conditions read the version parameter ({param: version} anywhere)."""
    if isinstance(value, dict):
        return value.get("param") == "version" or any(_reads_version(v) for v in value.values())
    return isinstance(value, list) and any(_reads_version(v) for v in value)


def _by_namespace(items: Any, names: set[str], view_of: Any) -> dict[str, Pairs]:
    """Views (engine.view_of) of a target's items in the namespaces named, by namespace."""
    out: dict[str, Pairs] = {}
    for item in items or ():
        if isinstance(item, dict):
            ns = (item.get("subject") or {}).get("namespace")
            if ns in names:
                out.setdefault(ns, []).append(view_of(item))
    return out


def _level_controls(pack: Pack, level: str) -> list[Control]:
    """baseline: the baseline section; restricted: every check of the pack (it is cumulative)."""
    return [c for c in pack.controls if c.assessment != "manual"
            and (level == "restricted" or c.section == "baseline" or c.section.startswith("baseline."))]


def namespace_levels(evidence: dict[str, Any],
                     evaluated: Sequence[tuple[Pack, Sequence[tuple[Control, dict[str, Any]]]]],
                     params: dict[str, dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The ``namespace_levels`` section of the results, or None when the evidence holds no namespace."""
    from auditor.judging.engine import evaluate_control, view_of

    targets = evidence.get("targets") or {}
    namespaces = [i for i in targets.get("k8s.namespace") or [] if isinstance(i, dict)]
    if not namespaces:
        return None
    params = params or {}
    main = next((p for p, _ in evaluated if p.id == PSS_PACK), None)
    main_verdicts = {c.id: v for p, verdicts in evaluated if p is main for c, v in verdicts}
    versions = _Versions(main, params.get(PSS_PACK) or {})
    base = versions.base
    exempt = {str(n) for n in base.parameters.get("exempt_namespaces") or []}
    defaults = admission_defaults(base.parameters.get("admission_defaults"))

    entries: dict[str, dict[str, Any]] = {}
    unlabelled, undeclared, exempt_seen = [], [], []
    for item in namespaces:
        subject = item.get("subject") or {}
        name = str(subject.get("name", ""))
        if (item.get("derived") or {}).get("declared") is False:
            undeclared.append(name)
            continue
        if name in exempt:
            exempt_seen.append(name)
            continue
        labels = _labels(item)
        if not _has_pss_label(labels):
            unlabelled.append(name)
            if all(defaults[m]["level"] == "privileged" for m in MODES):
                continue  # judged at privileged in every mode: nothing to reject
        policy, invalid = resolve_policy(labels, defaults)
        entry: dict[str, Any] = {"name": name, "labelled": _has_pss_label(labels), "modes": policy}
        if invalid:
            entry["invalid_labels"] = invalid
        if subject.get("file"):
            entry["file"], entry["line"] = subject.get("file"), subject.get("line")
        entries[name] = entry

    # which (level, version) each namespace needs, and the pack version that judges it
    pairs: dict[tuple[str, str | None], set[str]] = {}
    for name, entry in entries.items():
        for mode in MODES:
            spec = entry["modes"][mode]
            if spec["level"] == "privileged":
                continue
            judged, note = versions.judged_version(spec["version"])
            spec["judged_version"] = judged or base.version
            if note:
                spec["note"] = note
            pairs.setdefault((spec["level"], judged), set()).add(name)

    pods = _by_namespace(targets.get("k8s.pod"), set(entries), view_of)
    containers: dict[str, list[Any]] | None = None  # built only when a level is judged afresh

    # verdicts per (level, version): {pod key: {control id: status}}; main-run ones reused
    judged: dict[tuple[str, str | None], dict[tuple[str, str], dict[str, str]]] = {}
    titles: dict[str, str] = {}
    reused: dict[tuple[str, str | None], bool] = {}
    for (level, version), names in pairs.items():
        pack = versions.pack(version)
        reuse = pack is main
        outcomes: dict[tuple[str, str], dict[str, str]] = {}
        views: dict[str, Any] | None = None
        for control in _level_controls(pack, level):
            titles[control.id] = control.title
            # a check that does not read the version judges alike at every version: its main-run verdict stands
            verdict = main_verdicts.get(control.id) if reuse or not _reads_version(control.data) else None
            if verdict is None:
                if views is None:
                    if containers is None:
                        containers = _by_namespace(targets.get("k8s.container"), set(entries), view_of)
                    views = {"k8s.pod": [p for n in sorted(names) for p in pods.get(n, ())],
                             "k8s.container": [p for n in sorted(names) for p in containers.get(n, ())]}
                verdict = evaluate_control(control, evidence, views)
            for finding in verdict.get("findings") or ():
                status = finding.get("status")
                if status not in ("fail", "error"):
                    continue
                subject = finding.get("subject") or {}
                if subject.get("namespace") not in names:
                    continue
                key = _pod_key(subject)
                seen = outcomes.setdefault(key, {})
                if seen.get(control.id) != "fail":
                    seen[control.id] = status
            if not verdict.get("findings") and verdict.get("status") == "error" and verdict.get("reason"):
                for name in names:  # the target itself was not collected: every pod is unknown
                    for _item, subject, _clean in pods.get(name, ()):
                        outcomes.setdefault(_pod_key(subject), {}).setdefault(control.id, "error")
        judged[(level, version)] = outcomes
        reused[(level, version)] = views is None

    out_namespaces = []
    totals = {mode: {"rejected": 0, "errors": 0, "namespaces_rejecting": 0} for mode in MODES}
    for name in sorted(entries):
        entry = entries[name]
        subjects = pods.get(name, [])
        entry["pods"] = sum(1 for _i, s, _c in subjects if s.get("kind") == "Pod")
        entry["workloads"] = len(subjects) - entry["pods"]
        for mode in MODES:
            spec = entry["modes"][mode]
            if spec["level"] == "privileged":
                spec.update(admitted=len(subjects), rejected=0, errors=0, checks=[], subjects=[])
                continue
            outcomes = judged[(spec["level"], versions.judged_version(spec["version"])[0])]
            rejected, errors, listed = 0, 0, []
            per_check: dict[str, int] = {}
            for _item, subject, _clean in subjects:
                verdicts = outcomes.get(_pod_key(subject))
                if not verdicts:
                    continue
                failing = sorted(c for c, s in verdicts.items() if s == "fail")
                if failing:
                    rejected += 1
                    for c in failing:
                        per_check[c] = per_check.get(c, 0) + 1
                else:
                    errors += 1
                if len(listed) < SUBJECTS_LISTED:
                    # the namespace is the entry's and the type its kind: not repeated per subject
                    row = {k: subject[k] for k in ("kind", "name", "file", "line") if k in subject}
                    row["checks"] = failing
                    if not failing:
                        row["unknown"] = sorted(verdicts)
                    listed.append(row)
            spec.update(admitted=len(subjects) - rejected - errors, rejected=rejected, errors=errors,
                        checks=[{"id": c, "title": titles.get(c, ""), "subjects": n}
                                for c, n in sorted(per_check.items(), key=lambda kv: (-kv[1], kv[0]))],
                        subjects=listed)
            totals[mode]["rejected"] += rejected
            totals[mode]["errors"] += errors
            totals[mode]["namespaces_rejecting"] += 1 if rejected else 0
        out_namespaces.append(entry)
    out_namespaces.sort(key=lambda e: (-e["modes"]["enforce"]["rejected"],
                                       -max(e["modes"][m]["rejected"] for m in MODES), e["name"]))
    not_enforcing = sorted(n for n in unlabelled if defaults["enforce"]["level"] == "privileged")
    not_enforcing += sorted(e["name"] for e in out_namespaces
                            if e["labelled"] and e["modes"]["enforce"]["level"] == "privileged")
    return {
        "pack": PSS_PACK,
        "pack_version": str(base.parameters.get("version")) if versions.spec else base.version,
        "defaults": {"policy": defaults, "configured": defaults != DEFAULT_POLICY, "note": DEFAULTS_NOTE},
        "exempt_namespaces": sorted(exempt),
        "subjects_listed": SUBJECTS_LISTED,
        "namespaces": out_namespaces,
        "unlabelled": sorted(unlabelled),
        "not_enforcing": sorted(not_enforcing),
        "undeclared": sorted(undeclared),
        "exempt": sorted(exempt_seen),
        "totals": totals,
        "reused_main_run": all(reused.values()),
        "levels_judged": [{"level": lv, "version": v or base.version, "namespaces": len(n),
                           "reused": reused[(lv, v)]}
                          for (lv, v), n in sorted(pairs.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))],
    }


def relevant(evaluated: Iterable[tuple[Pack, Any]]) -> bool:
    """Whether the run judged Kubernetes objects at all (a Docker-only run gets no view)."""
    return any(name.startswith("k8s.") for pack, _ in evaluated for name in pack.targets())
