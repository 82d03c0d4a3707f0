"""The vulnerability view of a results document: per image in use, what its scan found.

Built from the evidence's ``image.in_use`` and ``scan.result`` targets (auditor/evidence/scan_match.py)
so reports show, per image, the counts by severity, the worst fixable findings and the waived
vulnerabilities, and `auditor diff` can list vulnerabilities fixed and introduced between two runs.
Bounded: every image is listed (300 images stay a table of 300 rows), but at most MAX_WORST
findings each; the keys a diff compares are kept per image up to the importer's bound.
"""

from __future__ import annotations

from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "negligible", "unknown")
MAX_WORST = 10
MAX_CHANGES = 200   # vulnerabilities listed per side of a diff (all are counted)
HOST_TYPES = ("filesystem", "rootfs", "directory")


def _row(item: dict[str, Any]) -> dict[str, Any]:
    scan = item.get("scan") or {}
    row = {"subject": item.get("subject"), "scanned": bool(item.get("scanned")), "match": item.get("match"),
           "running": item.get("running", 0), "containers_total": item.get("containers_total", 0),
           "scanner": scan.get("scanner"), "scanned_at": scan.get("scanned_at"), "file": scan.get("file"),
           "counts": scan.get("counts") or {}, "fixable": scan.get("fixable") or {},
           "worst_fixable": list(scan.get("worst_fixable") or [])[:MAX_WORST],
           "os": scan.get("os") or {}, "keys": list(scan.get("vulnerability_keys") or [])}
    if item.get("waived_vulnerabilities"):
        row["waived"] = item["waived_vulnerabilities"]
        row["waived_total"] = item.get("waived_total", len(item["waived_vulnerabilities"]))
    if item.get("expired_vulnerability_waivers"):
        row["expired_waivers"] = item["expired_vulnerability_waivers"]
    return row


def _order(row: dict[str, Any]) -> tuple[Any, ...]:
    counts, fixable = row["counts"], row["fixable"]
    return (row["scanned"], *(-int(fixable.get(s) or 0) for s in SEVERITIES[:2]),
            *(-int(counts.get(s) or 0) for s in SEVERITIES[:3]), str((row["subject"] or {}).get("name")))


def vulnerability_view(evidence: dict[str, Any]) -> dict[str, Any] | None:
    """The ``vulnerabilities`` section of a results document; None when the bundle has no scans."""
    targets = evidence.get("targets") or {}
    if "scan.result" not in targets:
        return None
    images = sorted((_row(i) for i in targets.get("image.in_use") or [] if isinstance(i, dict)), key=_order)
    totals = {"images": len(images), "scanned": sum(r["scanned"] for r in images),
              "counts": dict.fromkeys(SEVERITIES, 0), "fixable": dict.fromkeys(SEVERITIES, 0)}
    for row in images:
        for sev in SEVERITIES:
            totals["counts"][sev] += int(row["counts"].get(sev) or 0)
            totals["fixable"][sev] += int(row["fixable"].get(sev) or 0)
    hosts = []
    for scan in targets.get("scan.result") or []:
        art = scan.get("artifact") if isinstance(scan, dict) else None
        if isinstance(art, dict) and art.get("type") in HOST_TYPES:
            hosts.append({"subject": scan.get("subject"), "scanner": scan.get("scanner"),
                          "scanned_at": scan.get("scanned_at"), "counts": scan.get("counts") or {},
                          "fixable": scan.get("fixable") or {},
                          "worst_fixable": list(scan.get("worst_fixable") or [])[:MAX_WORST]})
    return {"images": images, "hosts": hosts, "totals": totals, "scan_files": len(targets.get("scan.result") or [])}


def vulnerability_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """Vulnerabilities fixed (in the old run, gone from the same image's scan in the new) and
    introduced (the reverse), by image name; None when neither run holds scans. Images only one
    run scanned are compared with nothing (their vulnerabilities are not called fixed or introduced)."""
    old_view, new_view = old.get("vulnerabilities"), new.get("vulnerabilities")
    if not old_view and not new_view:
        return None

    def keyed(view: dict[str, Any] | None) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for row in (view or {}).get("images") or []:
            if row.get("scanned"):
                out.setdefault(str((row.get("subject") or {}).get("name")), set()).update(row.get("keys") or [])
        return out

    before, after = keyed(old_view), keyed(new_view)
    fixed, introduced = [], []
    for image in sorted(set(before) & set(after)):
        fixed += [{"image": image, "vulnerability": k} for k in sorted(before[image] - after[image])]
        introduced += [{"image": image, "vulnerability": k} for k in sorted(after[image] - before[image])]
    return {"fixed_total": len(fixed), "introduced_total": len(introduced),
            "fixed": fixed[:MAX_CHANGES], "introduced": introduced[:MAX_CHANGES],
            "images_compared": len(set(before) & set(after)),
            "images_only_old": sorted(set(before) - set(after))[:MAX_CHANGES],
            "images_only_new": sorted(set(after) - set(before))[:MAX_CHANGES]}
