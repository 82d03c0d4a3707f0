"""The scans collector: vulnerability scan results (Trivy, Grype, CycloneDX, SARIF) as evidence.

Each scanned artifact (an image, a filesystem, a repository, a Kubernetes resource) becomes one
item of the ``scan.result`` target: which scanner and database, when, what was scanned (image id,
repository digests, tags), the counts by severity and how many of them have a fix, the oldest
fixable critical and high, and a bounded list of the worst fixable vulnerabilities. The format is
told from the content, never from the file name. A file that cannot be read, is too large, is not
JSON or is no known scan format is one error naming it; the other files are still read. See
docs/evidence-scans.md.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from auditor.collect.collected import Collected

SOURCE = "scan.results"
TARGET = "scan.result"
MAX_FILE_BYTES = 100 * 2**20   # a real report of one image is a few MB; larger files are refused unread
MAX_FILES = 5000
# Decoded JSON costs far more memory than its text when it is many small values: a file is refused
# unread beyond these counts of objects and arrays, and of values (commas), about four and three
# times what a real report of the largest size allowed holds (peak memory stays a few hundred MB).
MAX_CONTAINERS = 1_000_000
MAX_VALUES = 4_000_000
MAX_WORST = 20                 # worst fixable vulnerabilities kept per artifact
MAX_KEYS = 20000               # vulnerability keys kept per artifact (diff)
MAX_SEVERE = 2000              # fixable critical and high kept per artifact (vulnerability waivers)
MAX_UNDATED_IDS = 5            # ids of undated fixable critical (and high) named per artifact
FOLDER_SUFFIXES = (".json", ".sarif", ".cdx")
SEVERITIES = ("critical", "high", "medium", "low", "negligible", "unknown")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_TEXT = 300                    # longest text kept per field


class ScanError(Exception):
    """A problem with one scan file, worded for the user (the file name is added by the caller)."""


# ---------------------------------------------------------------------------------------------
# small typed accessors: a field of the wrong type is an error naming it, never a traceback

def _obj(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ScanError(f"{where} is {type(value).__name__}, not an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ScanError(f"{where} is {type(value).__name__}, not a list")
    return value


def _str(value: Any, where: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ScanError(f"{where} is {type(value).__name__}, not text")
    text = str(value)
    return text if len(text) <= _TEXT else text[:_TEXT] + "..."


def _strs(value: Any, where: str) -> list[str]:
    return [s for s in (_str(v, where) for v in _list(value, where)) if s]


def severity_of(text: Any) -> str:
    """A scanner's severity word in the common vocabulary (critical ... negligible, unknown)."""
    word = str(text or "").strip().lower()
    if word in ("moderate",):
        return "medium"
    if word in ("important",):
        return "high"
    if word in ("none", "info", "informational"):
        return "negligible"
    return word if word in _RANK else "unknown"


def _severity_of_score(score: Any) -> str | None:
    try:
        value = float(score)
    except (TypeError, ValueError):
        return None
    if value >= 9.0:
        return "critical"
    if value >= 7.0:
        return "high"
    if value >= 4.0:
        return "medium"
    if value > 0:
        return "low"
    return "negligible"


# ---------------------------------------------------------------------------------------------
# one artifact's vulnerabilities into the evidence item

class _Artifact:
    """Accumulates one scanned artifact's vulnerabilities; :meth:`item` is its evidence item."""

    def __init__(self, path: str, fmt: str, scanner: dict[str, str], scanned_at: str, artifact: dict[str, Any]):
        self.path, self.fmt, self.scanner, self.scanned_at, self.artifact = path, fmt, scanner, scanned_at, artifact
        self.counts = dict.fromkeys(SEVERITIES, 0)
        self.fixable = dict.fromkeys(SEVERITIES, 0)
        self.other: dict[str, dict[str, int]] = {}
        self.oldest: dict[str, dict[str, str]] = {}
        self.undated = {"critical": 0, "high": 0}
        self.undated_ids: dict[str, list[str]] = {"critical": [], "high": []}
        self.worst: list[tuple[Any, ...]] = []
        self.keys: set[str] = set()
        self.severe: list[dict[str, str]] = []
        self.os: dict[str, Any] = {}

    def vuln(self, vid: str, severity: str, package: str, installed: str, fixed: str, link: str,
             published: str, date_kind: str = "published") -> None:
        """One vulnerability. ``published`` is the date its remediation window starts from: the
        publication date, or (``date_kind`` ``fix_available``) the day its fix was first seen."""
        self.counts[severity] += 1
        if len(self.keys) < MAX_KEYS:
            self.keys.add(f"{vid} {package}".strip())
        if not fixed:
            return
        self.fixable[severity] += 1
        if severity in self.undated:
            if len(self.severe) < MAX_SEVERE:
                self.severe.append({"id": vid, "package": package, "severity": severity, "published": published,
                                    "date_kind": date_kind})
            if not published:
                self.undated[severity] += 1
                if len(self.undated_ids[severity]) < MAX_UNDATED_IDS:
                    self.undated_ids[severity].append(vid)
            elif severity not in self.oldest or published < self.oldest[severity]["published"]:
                self.oldest[severity] = {"id": vid, "package": package, "published": published,
                                         "date_kind": date_kind}
        self.worst.append((_RANK[severity], published or "9999", vid, package, installed, fixed, link, severity))

    def finding(self, kind: str, severity: str) -> None:
        counts = self.other.setdefault(kind, dict.fromkeys(SEVERITIES, 0))
        counts[severity] += 1

    def item(self) -> dict[str, Any]:
        self.worst.sort()
        worst, seen = [], set()
        for _rank, published, vid, package, installed, fixed, link, severity in self.worst:
            if (vid, package) in seen:
                continue
            seen.add((vid, package))
            worst.append({"id": vid, "severity": severity, "package": package, "installed": installed,
                          "fixed": fixed, "link": link, "published": "" if published == "9999" else published})
            if len(worst) >= MAX_WORST:
                break
        name = self.artifact.get("name") or os.path.basename(self.path)
        total = sum(self.counts.values())
        return {
            "subject": {"type": "scan", "name": name, "path": self.path,
                        **({"image": self.artifact["image_id"]} if self.artifact.get("image_id") else {})},
            "format": self.fmt,
            "scanner": self.scanner,
            "scanned_at": self.scanned_at or None,
            "artifact": self.artifact,
            "os": self.os,
            "total": total,
            "counts": self.counts,
            "fixable": self.fixable,
            "fixable_total": sum(self.fixable.values()),
            "fixable_undated": self.undated,
            "fixable_undated_ids": self.undated_ids,
            "oldest_fixable": {"critical": self.oldest.get("critical"), "high": self.oldest.get("high")},
            "other_findings": self.other,
            "worst_fixable": worst,
            "fixable_severe": self.severe,
            "vulnerability_keys": sorted(self.keys),
            "keys_complete": len(self.keys) < MAX_KEYS or total <= MAX_KEYS,
        }


def _artifact(name: str = "", kind: str = "", image_id: str = "", repo_digests: Any = (),
              repo_tags: Any = (), manifest_digest: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "image_id": image_id, "manifest_digest": manifest_digest,
            "repo_digests": list(repo_digests), "repo_tags": list(repo_tags)}


# ---------------------------------------------------------------------------------------------
# Trivy JSON (SchemaVersion 2): image, filesystem, repository and Kubernetes reports

def _trivy_results(art: _Artifact, results: Any, where: str) -> None:
    for i, result in enumerate(_list(results, where)):
        at = f"{where}[{i}]"
        result = _obj(result, at)
        for j, v in enumerate(_list(result.get("Vulnerabilities"), f"{at}.Vulnerabilities")):
            vat = f"{at}.Vulnerabilities[{j}]"
            v = _obj(v, vat)
            art.vuln(_str(v.get("VulnerabilityID"), vat + ".VulnerabilityID") or "(no id)",
                     severity_of(v.get("Severity")), _str(v.get("PkgName"), vat + ".PkgName"),
                     _str(v.get("InstalledVersion"), vat + ".InstalledVersion"),
                     _str(v.get("FixedVersion"), vat + ".FixedVersion"),
                     _str(v.get("PrimaryURL"), vat + ".PrimaryURL"), _str(v.get("PublishedDate"), vat))
        for j, m in enumerate(_list(result.get("Misconfigurations"), f"{at}.Misconfigurations")):
            m = _obj(m, f"{at}.Misconfigurations[{j}]")
            if str(m.get("Status") or "FAIL").upper() == "FAIL":
                art.finding("misconfiguration", severity_of(m.get("Severity")))
        for j, s in enumerate(_list(result.get("Secrets"), f"{at}.Secrets")):
            art.finding("secret", severity_of(_obj(s, f"{at}.Secrets[{j}]").get("Severity")))


def _trivy_os(meta: dict[str, Any]) -> dict[str, Any]:
    os_ = _obj(meta.get("OS"), "Metadata.OS")
    if not os_:
        return {}
    return {"family": _str(os_.get("Family"), "Metadata.OS.Family"), "name": _str(os_.get("Name"), "Metadata.OS.Name"),
            "eosl": os_.get("EOSL") is True}


def _trivy(doc: dict[str, Any], path: str) -> list[dict[str, Any]]:
    trivy = _obj(doc.get("Trivy"), "Trivy")
    scanner = {"name": "trivy", "version": _str(trivy.get("Version"), "Trivy.Version"), "db_version": ""}
    db = _obj(trivy.get("DB") or _obj(doc.get("Metadata"), "Metadata").get("DB"), "Trivy.DB")
    if db:
        scanner["db_version"] = _str(db.get("UpdatedAt") or db.get("Version"), "DB.UpdatedAt")
    when = _str(doc.get("CreatedAt"), "CreatedAt")
    if "Resources" in doc or "ClusterName" in doc:   # trivy k8s --format json
        items = []
        for i, res in enumerate(_list(doc.get("Resources"), "Resources")):
            res = _obj(res, f"Resources[{i}]")
            name = "/".join(_str(res.get(k), f"Resources[{i}].{k}") for k in ("Namespace", "Kind", "Name")
                            if res.get(k))
            tags = []
            for r in _list(res.get("Results"), f"Resources[{i}].Results"):
                target = _str(_obj(r, f"Resources[{i}].Results").get("Target"), "Target")
                if _obj(r, "").get("Class") == "os-pkgs" and target:
                    tags.append(target.split(" (")[0])
            art = _Artifact(path, "trivy-k8s", scanner, when,
                            _artifact(name=name, kind="kubernetes_resource", repo_tags=dict.fromkeys(tags)))
            art.artifact["cluster"] = _str(doc.get("ClusterName"), "ClusterName")
            _trivy_results(art, res.get("Results"), f"Resources[{i}].Results")
            items.append(art.item())
        return items
    meta = _obj(doc.get("Metadata"), "Metadata")
    kind = _str(doc.get("ArtifactType"), "ArtifactType")
    image_id = _str(meta.get("ImageID"), "Metadata.ImageID")
    if not image_id and kind == "container_image":
        image_id = _str(doc.get("ArtifactID"), "ArtifactID")
    art = _Artifact(path, "trivy", scanner, when,
                    _artifact(name=_str(doc.get("ArtifactName"), "ArtifactName"), kind=kind, image_id=image_id,
                              repo_digests=_strs(meta.get("RepoDigests"), "Metadata.RepoDigests"),
                              repo_tags=_strs(meta.get("RepoTags"), "Metadata.RepoTags")))
    art.os = _trivy_os(meta)
    _trivy_results(art, doc.get("Results"), "Results")
    return [art.item()]


# ---------------------------------------------------------------------------------------------
# Grype JSON

def _grype(doc: dict[str, Any], path: str) -> list[dict[str, Any]]:
    desc = _obj(doc.get("descriptor"), "descriptor")
    db = _obj(desc.get("db"), "descriptor.db")
    status = _obj(db.get("status"), "descriptor.db.status") or db
    built = status.get("built") or status.get("Built") or ""
    schema = status.get("schemaVersion") or status.get("SchemaVersion") or ""
    scanner = {"name": "grype", "version": _str(desc.get("version"), "descriptor.version"),
               "db_version": " ".join(x for x in (_str(schema, "db schema"), _str(built, "db built")) if x)}
    source = _obj(doc.get("source"), "source")
    kind = _str(source.get("type"), "source.type")
    target = source.get("target")
    if isinstance(target, dict):
        art_info = _artifact(name=_str(target.get("userInput"), "source.target.userInput"), kind=kind,
                             image_id=_str(target.get("imageID"), "source.target.imageID"),
                             manifest_digest=_str(target.get("manifestDigest"), "source.target.manifestDigest"),
                             repo_digests=_strs(target.get("repoDigests"), "source.target.repoDigests"),
                             repo_tags=_strs(target.get("tags"), "source.target.tags"))
    else:
        art_info = _artifact(name=_str(target, "source.target"), kind=kind)
    art = _Artifact(path, "grype", scanner, _str(desc.get("timestamp"), "descriptor.timestamp"), art_info)
    distro = _obj(doc.get("distro"), "distro")
    if distro.get("name"):
        # Grype's JSON says nothing of end of life: unknown (None), so control 2.3 does not judge it
        art.os = {"family": _str(distro.get("name"), "distro.name"), "name": _str(distro.get("version"), "distro"),
                  "eosl": None}
    for i, match in enumerate(_list(doc.get("matches"), "matches")):
        at = f"matches[{i}]"
        match = _obj(match, at)
        v = _obj(match.get("vulnerability"), at + ".vulnerability")
        pkg = _obj(match.get("artifact"), at + ".artifact")
        fix = _obj(v.get("fix"), at + ".vulnerability.fix")
        versions = _strs(fix.get("versions"), at + ".vulnerability.fix.versions")
        fixed = ", ".join(versions) if str(fix.get("state") or "") == "fixed" and versions else ""
        urls = _strs(v.get("urls"), at + ".vulnerability.urls")
        link = _str(v.get("dataSource"), at + ".vulnerability.dataSource") or (urls[0] if urls else "")
        published, kind = _grype_date(v, fix, at) if fixed else ("", "published")
        art.vuln(_str(v.get("id"), at + ".vulnerability.id") or "(no id)", severity_of(v.get("severity")),
                 _str(pkg.get("name"), at + ".artifact.name"), _str(pkg.get("version"), at + ".artifact.version"),
                 fixed, link, published, kind)
    return [art.item()]


_DAY = re.compile(r"^\d{4}-\d\d-\d\d$")


def _grype_date(v: dict[str, Any], fix: dict[str, Any], at: str) -> tuple[str, str]:
    """When the remediation window of a fixable Grype match starts. Grype's JSON carries no
    publication date; recent versions (with a v6 database) give ``fix.available[]``, the day each
    fixed version was first seen, and the earliest of those is used (``fix_available``). Without
    one the match is undated: the window controls judge it as an error, never a pass or a fail."""
    published = _str(v.get("published") or v.get("publishedDate"), at + ".vulnerability.published")
    if published:
        return published, "published"
    days = []
    for j, entry in enumerate(_list(fix.get("available"), at + ".vulnerability.fix.available")):
        where = f"{at}.vulnerability.fix.available[{j}]"
        day = _str(_obj(entry, where).get("date"), where + ".date")
        if day:
            days.append(day + "T00:00:00Z" if _DAY.match(day) else day)
    return (min(days), "fix_available") if days else ("", "published")


# ---------------------------------------------------------------------------------------------
# CycloneDX with vulnerabilities

def _cyclonedx(doc: dict[str, Any], path: str) -> list[dict[str, Any]]:
    meta = _obj(doc.get("metadata"), "metadata")
    tools = meta.get("tools")
    tool_list = _list(_obj(tools, "metadata.tools").get("components"), "metadata.tools.components") \
        if isinstance(tools, dict) else _list(tools, "metadata.tools")
    tool = _obj(tool_list[0], "metadata.tools[0]") if tool_list else {}
    scanner = {"name": _str(tool.get("name"), "tool name") or "cyclonedx", "version": _str(tool.get("version"), "tool"),
               "db_version": ""}
    comp = _obj(meta.get("component"), "metadata.component")
    version = _str(comp.get("version"), "metadata.component.version")
    digest = version if version.startswith("sha256:") else ""
    name = _str(comp.get("name"), "metadata.component.name")
    art = _Artifact(path, "cyclonedx", scanner, _str(meta.get("timestamp"), "metadata.timestamp"),
                    _artifact(name=name, kind="container_image" if comp.get("type") == "container" else
                              _str(comp.get("type"), "metadata.component.type"), manifest_digest=digest,
                              repo_tags=[f"{name}:{version}"] if name and version and not digest else []))
    packages = {}
    for i, c in enumerate(_list(doc.get("components"), "components")):
        c = _obj(c, f"components[{i}]")
        packages[_str(c.get("bom-ref"), f"components[{i}].bom-ref")] = (_str(c.get("name"), "name"),
                                                                        _str(c.get("version"), "version"))
    for i, v in enumerate(_list(doc.get("vulnerabilities"), "vulnerabilities")):
        at = f"vulnerabilities[{i}]"
        v = _obj(v, at)
        severity = "unknown"
        for rating in _list(v.get("ratings"), at + ".ratings"):
            word = severity_of(_obj(rating, at + ".ratings").get("severity"))
            if word != "unknown" and (severity == "unknown" or _RANK[word] < _RANK[severity]):
                severity = word
        affects = _list(v.get("affects"), at + ".affects") or [{}]
        fixed = _str(v.get("recommendation"), at + ".recommendation")
        source = _obj(v.get("source"), at + ".source")
        for a in affects:
            package, installed = packages.get(_str(_obj(a, at + ".affects").get("ref"), "ref"), ("", ""))
            art.vuln(_str(v.get("id"), at + ".id") or "(no id)", severity, package, installed, fixed,
                     _str(source.get("url"), at + ".source.url"), _str(v.get("published"), at + ".published"))
    return [art.item()]


# ---------------------------------------------------------------------------------------------
# SARIF 2.1.0 (any scanner, when its results carry a severity)

def _sarif_severity(*bags: dict[str, Any]) -> str | None:
    for bag in bags:
        found = _severity_of_score(bag.get("security-severity"))
        if found:
            return found
        for tag in bag.get("tags") or [] if isinstance(bag.get("tags"), list) else []:
            word = severity_of(tag)
            if word != "unknown":
                return word
    return None


def _sarif(doc: dict[str, Any], path: str) -> list[dict[str, Any]]:
    items = []
    for r, run in enumerate(_list(doc.get("runs"), "runs")):
        at = f"runs[{r}]"
        run = _obj(run, at)
        driver = _obj(_obj(run.get("tool"), at + ".tool").get("driver"), at + ".tool.driver")
        rules = {}
        for i, rule in enumerate(_list(driver.get("rules"), at + ".tool.driver.rules")):
            rule = _obj(rule, f"{at}.tool.driver.rules[{i}]")
            rules[_str(rule.get("id"), "rule id")] = rule
        props = _obj(run.get("properties"), at + ".properties")
        scanner = {"name": (_str(driver.get("name"), "driver.name") or "sarif").lower(),
                   "version": _str(driver.get("version") or driver.get("semanticVersion"), "driver.version"),
                   "db_version": ""}
        invocations = _list(run.get("invocations"), at + ".invocations")
        when = _str(_obj(invocations[0], at + ".invocations[0]").get("endTimeUtc"), "endTimeUtc") if invocations else ""
        art = _Artifact(path, "sarif", scanner, when,
                        _artifact(name=_str(props.get("imageName"), "properties.imageName"),
                                  kind="container_image" if props.get("imageID") else "",
                                  image_id=_str(props.get("imageID"), "properties.imageID"),
                                  repo_digests=_strs(props.get("repoDigests"), "properties.repoDigests"),
                                  repo_tags=_strs(props.get("repoTags"), "properties.repoTags")))
        judged = 0
        for i, res in enumerate(_list(run.get("results"), at + ".results")):
            rat = f"{at}.results[{i}]"
            res = _obj(res, rat)
            rule_id = _str(res.get("ruleId"), rat + ".ruleId")
            rule = _obj(rules.get(rule_id), "rule")
            severity = _sarif_severity(_obj(res.get("properties"), rat + ".properties"),
                                       _obj(rule.get("properties"), "rule properties"))
            if severity is None:
                continue
            judged += 1
            text = _str(_obj(res.get("message"), rat + ".message").get("text"), rat + ".message.text")
            fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
            art.vuln(rule_id or "(no id)", severity, fields.get("Package", ""), fields.get("Installed Version", ""),
                     fields.get("Fixed Version", ""), _str(rule.get("helpUri"), "helpUri"), "")
        if _list(run.get("results"), at + ".results") and not judged:
            raise ScanError(f"{at}: SARIF results carry no severity (no security-severity or severity tag)")
        items.append(art.item())
    return items


# ---------------------------------------------------------------------------------------------
# detection and files

def detect_format(doc: Any) -> str | None:
    """The scan format of a decoded document, from its content; None when it is none we read."""
    if not isinstance(doc, dict):
        return None
    if doc.get("SchemaVersion") == 2 and ("Results" in doc or "ArtifactName" in doc or "Resources" in doc):
        return "trivy"
    if "ClusterName" in doc and "Resources" in doc:
        return "trivy"
    if "matches" in doc and isinstance(doc.get("descriptor"), dict) and "source" in doc:
        return "grype"
    if doc.get("bomFormat") == "CycloneDX":
        return "cyclonedx"
    if isinstance(doc.get("runs"), list) and str(doc.get("version", "")).startswith("2."):
        return "sarif"
    return None


_PARSERS = {"trivy": _trivy, "grype": _grype, "cyclonedx": _cyclonedx, "sarif": _sarif}


def read_scan_file(path: str) -> list[dict[str, Any]]:
    """The evidence items of one scan file; ScanError (worded without the path) when it cannot be read."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise ScanError(f"cannot read: {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise ScanError(f"{size / 2**20:.0f} MB, larger than the {MAX_FILE_BYTES // 2**20} MB a scan file may be: "
                        "not read (scan images one by one, one file each)")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        containers = raw.count(b"{") + raw.count(b"[")
        values = containers + raw.count(b",")
        if containers > MAX_CONTAINERS or values > MAX_VALUES:
            raise ScanError(f"{containers:,} JSON objects and arrays, {values:,} values: more than a scan file may "
                            f"hold ({MAX_CONTAINERS:,} and {MAX_VALUES:,}), not decoded "
                            "(it would take too much memory)")
        text = raw.decode("utf-8-sig")
        del raw  # the text alone while decoding: the bytes would double the peak
        doc = json.loads(text)
        del text
    except OSError as exc:
        raise ScanError(f"cannot read: {exc.strerror}") from None
    except RecursionError:
        raise ScanError("JSON nested too deeply to read") from None
    except UnicodeDecodeError:
        raise ScanError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ScanError(f"line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}") from None
    fmt = detect_format(doc)
    if fmt is None:
        raise ScanError("not a scan result this auditor reads (Trivy JSON SchemaVersion 2, Grype JSON, "
                        "CycloneDX with vulnerabilities, SARIF 2.1.0)")
    if fmt == "cyclonedx" and "vulnerabilities" not in doc:
        raise ScanError("a CycloneDX document without vulnerabilities (an SBOM, not a scan result)")
    try:
        return _PARSERS[fmt](doc, path)
    except RecursionError:
        raise ScanError("nested too deeply to read") from None
    except ScanError as exc:
        raise ScanError(f"{fmt}: {exc}") from None


def scan_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """The files the given paths name (folders: their *.json, *.sarif, *.cdx files, recursively) and errors."""
    files, errors = [], []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for top, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(top, n) for n in sorted(names)
                          if n.lower().endswith(FOLDER_SUFFIXES) and not n.startswith(".")]
            if not found:
                errors.append(f"{path}: no scan file (*.json, *.sarif, *.cdx) in this folder")
            files += found
        elif os.path.exists(path):
            files.append(path)
        else:
            errors.append(f"{path}: no such file or folder")
    if len(files) > MAX_FILES:
        errors.append(f"{len(files)} scan files: only the first {MAX_FILES} are read")
        files = files[:MAX_FILES]
    return files, errors


def collect_scans(paths: list[str]) -> Collected:
    """Scan results from files and folders into the ``scan.result`` target; errors as data."""
    collected = Collected()
    collected.targets[TARGET] = []
    files, errors = scan_files(list(paths))
    for message in errors:
        collected.error(SOURCE, message)
    read = 0
    for path in files:
        try:
            items = read_scan_file(path)
        except ScanError as exc:
            collected.error(SOURCE, f"{path}: {exc}")
            continue
        read += 1
        collected.targets[TARGET].extend(items)
    collected.source(SOURCE, "ok" if read == len(files) and not errors else "error",
                     f"{read} of {len(files)} scan files read")
    return collected
