"""Scan results matched to the images in use: the derived ``image.in_use`` target.

Every image a Docker container (running or stopped) or a live Kubernetes pod uses becomes one
item, matched to the scan results of the same bundle (``scan.result``, from
:mod:`auditor.collect.scans`): first by digest (the image id, a repository digest or the manifest
digest), then, weaker and marked ``match: tag``, by repository and tag. Derived when a bundle is
evaluated (never stored in the bundle, so it is the same for a bundle collected whole, merged
from parts or loaded from a file); only when the bundle holds scan evidence at all.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from auditor.collect.scans import MAX_UNDATED_IDS

IN_USE = "image.in_use"
SCANS = "scan.result"
MAX_CONTAINERS = 20   # container names listed per image
_SCAN_FIELDS = ("scanner", "scanned_at", "format", "os", "total", "counts", "fixable", "fixable_total",
                "fixable_undated", "fixable_undated_ids", "oldest_fixable", "worst_fixable", "vulnerability_keys",
                "keys_complete")
MAX_WAIVED = 200      # waived vulnerabilities listed per image


def normalise_ref(ref: str) -> str:
    """An image reference in one spelling: docker.io/library/ dropped, :latest added when untagged."""
    ref = ref.strip()
    if "@" in ref:
        ref = ref.split("@", 1)[0]
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last or not ref else ref + ":latest"


def _digests(values: Any) -> set[str]:
    out = set()
    for value in values or []:
        if isinstance(value, str) and value:
            out.add(value)
            if "@" in value:
                out.add(value.split("@", 1)[1])
            for prefix in ("docker-pullable://", "docker://"):
                if value.startswith(prefix):
                    out |= _digests([value[len(prefix):]])
    return out


def _images(evidence: dict[str, Any]) -> dict[tuple[Any, str], dict[str, Any]]:
    """Images in use, keyed by (host, image id or reference)."""
    targets = evidence.get("targets") or {}
    inspected = {}
    for image in targets.get("docker.image") or []:
        info = image.get("inspect") if isinstance(image, dict) else None
        if isinstance(info, dict) and isinstance(info.get("Id"), str):
            inspected[info["Id"]] = info
    used: dict[tuple[Any, str], dict[str, Any]] = {}
    for container in targets.get("docker.container") or []:
        info = container.get("inspect") if isinstance(container, dict) else None
        if not isinstance(info, dict):
            continue
        subject = container.get("subject") if isinstance(container.get("subject"), dict) else {}
        image_id = info.get("Image") if isinstance(info.get("Image"), str) else ""
        ref = ((info.get("Config") or {}).get("Image") if isinstance(info.get("Config"), dict) else "") or image_id
        host = subject.get("host")
        entry = used.setdefault((host, image_id or str(ref)), {
            "host": host, "id": image_id, "ref": str(ref), "kind": "docker",
            "repo_tags": set(), "digests": {image_id} - {""}, "containers": [], "running": 0, "total": 0})
        image = inspected.get(image_id) or {}
        entry["repo_tags"] |= {normalise_ref(t) for t in image.get("RepoTags") or [] if isinstance(t, str)}
        entry["digests"] |= _digests(image.get("RepoDigests"))
        entry["repo_tags"].add(normalise_ref(str(ref)))
        state = info.get("State") if isinstance(info.get("State"), dict) else {}
        _add_container(entry, str(subject.get("name") or info.get("Name") or "?"), state.get("Running") is True)
    for pod in targets.get("k8s.pod") or []:
        obj = pod.get("object") if isinstance(pod, dict) else None
        if not isinstance(obj, dict) or obj.get("kind", "Pod") != "Pod" or not isinstance(obj.get("status"), dict):
            continue
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        name = f"{meta.get('namespace') or 'default'}/{meta.get('name') or '?'}"
        for status in obj["status"].get("containerStatuses") or []:
            if not isinstance(status, dict):
                continue
            ref, image_id = str(status.get("image") or ""), str(status.get("imageID") or "")
            digests = _digests([image_id])
            key_id = next((d for d in sorted(digests) if d.startswith("sha256:")), image_id or ref)
            entry = used.setdefault((None, key_id), {
                "host": None, "id": key_id if key_id.startswith("sha256:") else "", "ref": ref, "kind": "kubernetes",
                "repo_tags": set(), "digests": set(), "containers": [], "running": 0, "total": 0})
            entry["digests"] |= digests
            if ref:
                entry["repo_tags"].add(normalise_ref(ref))
            _add_container(entry, f"{name}/{status.get('name') or '?'}", isinstance(status.get("state"), dict)
                           and "running" in status["state"])
    return used


def _add_container(entry: dict[str, Any], name: str, running: bool) -> None:
    entry["total"] += 1
    entry["running"] += 1 if running else 0
    if len(entry["containers"]) < MAX_CONTAINERS:
        entry["containers"].append(name)


def _scan_keys(scan: dict[str, Any]) -> tuple[set[str], set[str]]:
    art = scan.get("artifact") if isinstance(scan.get("artifact"), dict) else {}
    digests = _digests([art.get("image_id"), art.get("manifest_digest"), *(art.get("repo_digests") or [])])
    tags = {normalise_ref(t) for t in art.get("repo_tags") or [] if isinstance(t, str) and t}
    name = art.get("name")
    if isinstance(name, str) and name and " " not in name and not name.endswith((".tar", ".gz")) \
            and art.get("type") in ("container_image", "image"):
        tags.add(normalise_ref(name))
    return digests, tags


def _newest(scans: list[dict[str, Any]]) -> dict[str, Any]:
    return max(scans, key=lambda s: str(s.get("scanned_at") or ""))


def _names(item: dict[str, Any]) -> list[str]:
    image = item["image"]
    return [item["subject"]["name"], image["ref"], image["id"], *image["repo_tags"], *image["digests"]]


def _waive(item: dict[str, Any], scan: dict[str, Any], waivers: Sequence[dict[str, Any]]) -> None:
    """Leave the vulnerabilities that waivers in force cover out of the window facts of `item`."""
    names = [n for n in _names(item) if n]
    mine = [w for w in waivers if not w.get("image") or any(fnmatch.fnmatchcase(n, w["image"]) for n in names)]
    if not mine:
        return
    waived, expired, kept = [], [], []
    for vuln in scan.get("fixable_severe") or []:
        covering = [w for w in mine if fnmatch.fnmatchcase(str(vuln.get("id")), w["vulnerability"])]
        active = next((w for w in covering if w["in_force"]), None)
        if active is not None:
            waived.append({**vuln, "waiver": active["record"]})
            continue
        if covering:
            expired.append({**vuln, "expired_waiver": covering[0]["record"]})
        kept.append(vuln)
    if not waived and not expired:
        return
    oldest: dict[str, Any] = {"critical": None, "high": None}
    undated = {"critical": 0, "high": 0}
    undated_ids: dict[str, list[str]] = {"critical": [], "high": []}
    for vuln in kept:
        sev = vuln.get("severity")
        if sev not in oldest:
            continue
        if not vuln.get("published"):
            undated[sev] += 1
            if len(undated_ids[sev]) < MAX_UNDATED_IDS:
                undated_ids[sev].append(str(vuln.get("id")))
        elif oldest[sev] is None or vuln["published"] < oldest[sev]["published"]:
            oldest[sev] = {k: vuln.get(k) for k in ("id", "package", "published", "date_kind")}
    item["scan"] = {**item["scan"], "oldest_fixable": oldest, "fixable_undated": undated,
                    "fixable_undated_ids": undated_ids,
                    "oldest_fixable_without_waivers": item["scan"].get("oldest_fixable")}
    item["waived_vulnerabilities"] = waived[:MAX_WAIVED]
    item["waived_total"] = len(waived)
    if expired:
        item["expired_vulnerability_waivers"] = expired[:MAX_WAIVED]


def _undated_errors(item: dict[str, Any]) -> None:
    """A fixable critical (or high) without any date cannot be shown inside or outside its
    remediation window: the checks reading ``scan.fixable_undated.SEVERITY`` judge the image as an
    error with this reason (a dated one past the window still fails it)."""
    scan = item["scan"]
    undated = scan.get("fixable_undated") or {}
    errors = {}
    for sev in ("critical", "high"):
        count = undated.get(sev) or 0
        if not isinstance(count, int) or count <= 0:
            continue
        ids = [str(i) for i in ((scan.get("fixable_undated_ids") or {}).get(sev) or [])]
        named = ", ".join(ids) + (f" and {count - len(ids)} more" if count > len(ids) else "")
        scanner = (scan.get("scanner") or {}).get("name") or scan.get("format") or "the scanner"
        errors[f"fixable_undated.{sev}"] = (
            f"{count} fixable {sev} {'vulnerability has' if count == 1 else 'vulnerabilities have'} no publication "
            f"or fix date in the {scanner} report ({named}), so the remediation window cannot be judged: "
            f"check their dates by hand and waive the accepted ones, or scan with a scanner that dates them "
            f"(Trivy, or Grype with fix.available dates)")
    if errors:
        item["scan"] = {**scan, "errors": errors}


def match_scans(evidence: dict[str, Any], waivers: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The ``image.in_use`` items of a bundle that holds scan results.

    ``waivers``: accepted single vulnerabilities, each ``{"vulnerability": ID glob, "image": glob
    or None, "in_force": bool, "record": {...}}``; the fixable critical and high vulnerabilities a
    waiver in force covers are left out of ``scan.oldest_fixable`` and ``scan.fixable_undated``
    (so the remediation-window controls do not count them) and listed in
    ``waived_vulnerabilities``; expired ones still count and are listed in
    ``expired_vulnerability_waivers``."""
    scans = [s for s in (evidence.get("targets") or {}).get(SCANS) or [] if isinstance(s, dict)]
    by_digest: dict[str, list[dict[str, Any]]] = {}
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for scan in scans:
        digests, tags = _scan_keys(scan)
        for d in digests:
            by_digest.setdefault(d, []).append(scan)
        for t in tags:
            by_tag.setdefault(t, []).append(scan)
    items = []
    for (_host, _key), entry in sorted(_images(evidence).items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        found = [s for d in sorted(entry["digests"]) for s in by_digest.get(d, [])]
        match = "digest" if found else None
        if not found:
            found = [s for t in sorted(entry["repo_tags"]) for s in by_tag.get(t, [])]
            match = "tag" if found else None
        scan = _newest(found) if found else None
        tags = sorted(entry["repo_tags"])
        subject = {"type": "image", "name": tags[0] if tags else entry["ref"] or entry["id"]}
        if entry["id"]:
            subject["id"] = entry["id"]
        if entry["host"] is not None:
            subject["host"] = entry["host"]
        item = {
            "subject": subject,
            "image": {"id": entry["id"], "ref": entry["ref"], "repo_tags": tags,
                      "digests": sorted(entry["digests"]), "runtime": entry["kind"]},
            "containers": entry["containers"], "containers_total": entry["total"], "running": entry["running"],
            "scanned": scan is not None, "match": match,
            "scan": None if scan is None else {
                "file": (scan.get("subject") or {}).get("path"), "artifact": (scan.get("artifact") or {}).get("name"),
                **{k: scan.get(k) for k in _SCAN_FIELDS}},
        }
        if scan is not None and waivers:
            _waive(item, scan, waivers)
        if scan is not None:
            _undated_errors(item)
        items.append(item)
    return items


def with_scan_matches(evidence: dict[str, Any], waivers: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The bundle with its ``image.in_use`` target derived (a shallow copy), when it holds scan
    evidence (the ``scan.result`` target, even empty); otherwise the bundle itself."""
    targets = evidence.get("targets")
    if not isinstance(targets, dict) or SCANS not in targets or IN_USE in targets:
        return evidence
    return {**evidence, "targets": {**targets, IN_USE: match_scans(evidence, waivers)}}
