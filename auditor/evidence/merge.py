"""Merge evidence bundles: the nodes of a cluster, a fleet of Docker hosts, the cluster's objects
and manifests, into one bundle evaluated and reported once (docs/merge.md).

Each node and Docker host stays a subject of its own: every item of a host-scoped target
(``node.*``, ``docker.*``, ``host.*``) gets ``subject.host``, and the part it came from is listed
in ``metadata.parts`` with the input's sha256, its collection time, roles and the targets it
could not collect. The engine judges each host's items against its own daemon, its own
collection time and its own target errors, so evaluating the merged bundle gives the verdicts
of evaluating each part, subject by subject.

Refused, with one line naming the inputs: a file that is not a bundle or whose sha256 does not
match (tampered or truncated), a bundle without a sha256, the same bundle twice, two bundles of
the same host, two cluster collections, a manifest file in two bundles, and a node bundle whose
cluster CA differs from the cluster's (a node of another cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from auditor.common.errors import InputError
from auditor.common.version import __version__
from auditor.evidence.bundle import KIND, SCHEMA_VERSION, content_sha256, load_bundle, utc_now

# Targets whose items belong to one machine: a node or a Docker host.
HOST_PREFIXES = ("node.", "docker.", "host.")


def host_scoped(target: str) -> bool:
    return target.startswith(HOST_PREFIXES)


def bundle_host(doc: dict[str, Any]) -> str:
    """The machine a single-host bundle describes: the node's name (node.info), else the Docker
    daemon's host (its /info Name on a local socket, the address otherwise), else metadata.host."""
    targets = doc.get("targets") or {}
    named = (doc.get("metadata") or {}).get("subject_host")
    if isinstance(named, str) and named:  # set by a fleet run: two daemons of one machine, or one that never answered
        return named
    for item in targets.get("node.info") or []:
        name = (item.get("subject") or {}).get("name")
        if isinstance(name, str) and name:
            return name
    for item in targets.get("docker.daemon") or []:
        endpoint = str(item.get("endpoint") or "")
        name = (item.get("info") or {}).get("Name") if isinstance(item.get("info"), dict) else None
        scheme = urlsplit(endpoint).scheme if "://" in endpoint else "unix"
        if scheme in ("unix", "npipe", "") and isinstance(name, str) and name:
            return name
        if endpoint:
            parts = urlsplit(endpoint)
            return parts.netloc or endpoint
    return str((doc.get("metadata") or {}).get("host") or "unknown")


def part_kinds(doc: dict[str, Any]) -> list[str]:
    """What a single bundle holds: node, docker, cluster, manifests (one or more)."""
    targets = doc.get("targets") or {}
    sources = {s.get("name") for s in (doc.get("metadata") or {}).get("sources") or [] if isinstance(s, dict)}
    kinds = []
    if any(t.startswith("node.") for t in targets if targets[t]) or any(str(s).startswith("node.") for s in sources):
        kinds.append("node")
    if any(t.startswith("docker.") for t in targets if targets[t]) or "docker" in sources \
            or any(str(s).startswith("docker") for s in sources):
        kinds.append("docker")
    if "k8s.api" in sources:
        kinds.append("cluster")
    if "manifests" in sources:
        kinds.append("manifests")
    return kinds


def node_roles(doc: dict[str, Any]) -> list[str]:
    """A host's roles: the node collector's (node.info), else those the cluster gave a node that
    could not be collected (metadata.node_roles); docker-host for a Docker host."""
    roles: list[str] = []
    for item in (doc.get("targets") or {}).get("node.info") or []:
        roles += [r for r in item.get("roles") or [] if isinstance(r, str) and r not in roles]
    if not roles:
        roles += [r for r in (doc.get("metadata") or {}).get("node_roles") or [] if isinstance(r, str)]
    if (doc.get("targets") or {}).get("docker.daemon"):
        roles.append("docker-host")
    return roles


def cluster_ca(doc: dict[str, Any]) -> str | None:
    """The fingerprint of the cluster CA a bundle names: the node's kubelet trusts it (node.info),
    or the kubeconfig's cluster has it (k8s.cluster)."""
    targets = doc.get("targets") or {}
    for item in (targets.get("node.info") or []) + (targets.get("k8s.cluster") or []):
        value = item.get("cluster_ca_sha256")
        if isinstance(value, str) and value:
            return value
    return None


@dataclass
class Part:
    """One input's contribution: a host (node or Docker host), or the cluster or manifests."""

    source: str                       # the input file
    sha256: str
    host: str | None                  # None: cluster objects or manifests, not one machine
    kinds: list[str]
    meta: dict[str, Any]
    roles: list[str] = field(default_factory=list)
    cluster_ca: str | None = None
    target_errors: dict[str, str] = field(default_factory=dict)

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {"host": self.host, "kinds": self.kinds, "roles": self.roles, "source": self.source,
                               "sha256": self.sha256, "collected_at": self.meta.get("collected_at"),
                               "complete": bool(self.meta.get("complete", False)),
                               "target_errors": dict(sorted(self.target_errors.items()))}
        if self.cluster_ca:
            out["cluster_ca_sha256"] = self.cluster_ca
        if self.meta.get("incomplete_reason"):
            out["incomplete_reason"] = self.meta["incomplete_reason"]
        return out


def _split(path: str, doc: dict[str, Any]) -> tuple[list[Part], dict[str, list[dict[str, Any]]]]:
    """The parts of one input and its items per target (host-scoped items with subject.host)."""
    meta = doc["metadata"]
    sha = doc["sha256"]
    if isinstance(meta.get("parts"), list):  # an already merged bundle: keep its parts
        parts = []
        for index, entry in enumerate(meta["parts"]):
            if not isinstance(entry, dict) or not isinstance(entry.get("kinds"), list):
                raise InputError(f"{path}: metadata.parts[{index}] must be an object with kinds")
            host = entry.get("host")
            parts.append(Part(str(entry.get("source") or path), str(entry.get("sha256") or sha),
                              host if isinstance(host, str) else None, list(entry["kinds"]),
                              {k: entry.get(k) for k in ("collected_at", "complete", "incomplete_reason")},
                              roles=list(entry.get("roles") or []), cluster_ca=entry.get("cluster_ca_sha256"),
                              target_errors=dict(entry.get("target_errors") or {})))
        shared = [p for p in parts if p.host is None]
        for target, message in (meta.get("target_errors") or {}).items():
            for p in shared[:1]:
                p.target_errors.setdefault(target, message)
        return parts, doc["targets"]
    kinds = part_kinds(doc)
    host_targets = {t: items for t, items in doc["targets"].items() if host_scoped(t)}
    other_targets = {t: items for t, items in doc["targets"].items() if not host_scoped(t)}
    errors = meta.get("target_errors") or {}
    parts = []
    out: dict[str, list[dict[str, Any]]] = {}
    host_kinds = [k for k in kinds if k in ("node", "docker")]
    if host_kinds or any(host_targets.values()) or any(host_scoped(t) for t in errors):
        host = bundle_host(doc)
        parts.append(Part(path, sha, host, host_kinds or ["host"], meta, roles=node_roles(doc),
                          cluster_ca=cluster_ca(doc) if "node" in host_kinds else None,
                          target_errors={t: m for t, m in errors.items() if host_scoped(t)}))
        for target, items in host_targets.items():
            out[target] = [{**item, "subject": {**item["subject"], "host": host}} for item in items]
    shared_kinds = [k for k in kinds if k in ("cluster", "manifests")]
    if shared_kinds or any(other_targets.values()) or any(not host_scoped(t) for t in errors):
        parts.append(Part(path, sha, None, shared_kinds or ["objects"], meta,
                          cluster_ca=cluster_ca(doc) if "cluster" in shared_kinds else None,
                          target_errors={t: m for t, m in errors.items() if not host_scoped(t)}))
        out.update(other_targets)
    return parts, out


def _refuse_conflicts(parts: list[Part], files: dict[str, str], path: str,
                      targets: dict[str, list[dict[str, Any]]], seen_parts: list[Part]) -> None:
    for part in parts:
        for other in seen_parts:
            if part.host is not None and part.host == other.host:
                same = "the same evidence" if part.sha256 == other.sha256 else "conflicting evidence"
                raise InputError(f"{path}: host {part.host!r} is already in {other.source} ({same}, collected at "
                                 f"{other.meta.get('collected_at')} and {part.meta.get('collected_at')}): "
                                 "merge one bundle per node or Docker host")
            if "cluster" in part.kinds and "cluster" in other.kinds:
                raise InputError(f"{path}: holds a cluster collection, and {other.source} holds one too: "
                                 "merge the collection of one cluster")
            if part.cluster_ca and other.cluster_ca and part.cluster_ca != other.cluster_ca:
                what = f"node {part.host!r}" if part.host else "the cluster collection"
                raise InputError(f"{path}: {what} belongs to another cluster than {other.source} (cluster CA "
                                 f"sha256 {part.cluster_ca[:16]}... against {other.cluster_ca[:16]}...)")
    for target, items in targets.items():
        if host_scoped(target):
            continue
        for item in items:
            name = item["subject"].get("file")
            if isinstance(name, str):
                if files.get(name, path) != path:
                    raise InputError(f"{path}: manifest file {name} is also in {files[name]}: "
                                     "merge each manifest once")
                files[name] = path


def merge_documents(inputs: Sequence[tuple[str, dict[str, Any]]], collected_at: str | None = None) -> dict[str, Any]:
    """Merge loaded bundles (name, document); raise InputError naming the input on a conflict."""
    if not inputs:
        raise InputError("merge: no evidence bundle given")
    by_sha: dict[str, str] = {}
    parts: list[Part] = []
    files: dict[str, str] = {}
    targets: dict[str, list[dict[str, Any]]] = {}
    for path, doc in inputs:
        sha = doc.get("sha256")
        if not isinstance(sha, str) or not sha:
            raise InputError(f"{path}: has no sha256: a bundle to merge must carry the hash of its content")
        if sha in by_sha:
            raise InputError(f"{path}: is the same bundle as {by_sha[sha]} (sha256 {sha[:16]}...)")
        by_sha[sha] = path
        new_parts, new_targets = _split(path, doc)
        _refuse_conflicts(new_parts, files, path, new_targets, parts)
        parts.extend(new_parts)
        for target, items in new_targets.items():
            targets.setdefault(target, []).extend(items)
    return _merged_document(parts, targets, inputs, collected_at)


def _merged_document(parts: list[Part], targets: dict[str, list[dict[str, Any]]],
                     inputs: Sequence[tuple[str, dict[str, Any]]], collected_at: str | None) -> dict[str, Any]:
    sources: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for path, doc in inputs:
        meta = doc["metadata"]
        host = bundle_host(doc) if not isinstance(meta.get("parts"), list) else None
        for entry in meta.get("sources") or []:
            sources.append({**entry, "host": entry.get("host") or host or "", "input": path})
        for entry in meta.get("errors") or []:
            errors.append({**entry, "host": entry.get("host") or host or "", "input": path})
    shared_errors: dict[str, str] = {}
    for part in parts:
        if part.host is None:
            for target, message in part.target_errors.items():
                shared_errors.setdefault(target, message)
    hosts = sorted(p.host for p in parts if p.host is not None)
    kinds = sorted({k for p in parts for k in p.kinds})
    incomplete = [p for p in parts if not p.meta.get("complete", False)]
    times = sorted(str(p.meta.get("collected_at")) for p in parts if p.meta.get("collected_at"))
    metadata: dict[str, Any] = {
        "auditor_version": __version__,
        "host": f"{'+'.join(kinds)} ({len(hosts)} hosts)" if hosts else "+".join(kinds),
        "collected_at": collected_at or (times[-1] if times else utc_now()),
        "root": "(merged)",
        "complete": not incomplete,
        "sources": sources,
        "errors": errors,
        "target_errors": dict(sorted(shared_errors.items())),
        "parts": [p.entry() for p in parts],
        "merged_from": [{"source": path, "sha256": doc["sha256"]} for path, doc in inputs],
    }
    if incomplete:
        metadata["incomplete_reason"] = "incomplete evidence from " + ", ".join(
            (p.host or p.source) for p in incomplete[:10]) + (f" and {len(incomplete) - 10} more"
                                                             if len(incomplete) > 10 else "")
    redactions = [doc["metadata"].get("redactions") for _, doc in inputs if doc["metadata"].get("redactions")]
    if redactions:
        metadata["redactions"] = _sum_redactions(redactions)
    doc: dict[str, Any] = {"kind": KIND, "schema_version": SCHEMA_VERSION, "metadata": metadata,
                           "targets": {k: targets[k] for k in sorted(targets)}}
    doc["sha256"] = content_sha256(doc)
    return doc


def _sum_redactions(summaries: list[Any]) -> Any:
    """Add up the per-field redaction counts of the inputs (numbers under the same keys)."""
    total: dict[str, Any] = {}
    for summary in summaries:
        if not isinstance(summary, dict):
            continue
        for key, value in summary.items():
            if isinstance(value, int) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value if isinstance(total.get(key, 0), int) else value
            elif isinstance(value, dict):
                total[key] = _sum_redactions([total.get(key) or {}, value])
            else:
                total.setdefault(key, value)
    return total


def merge_bundles(paths: Sequence[str]) -> dict[str, Any]:
    """Load (hash-checked) and merge evidence files; InputError names the input at fault."""
    return merge_documents([(path, load_bundle(path)) for path in paths])
