"""Kubernetes objects -> evidence targets, shared by the cluster and the manifests collectors.

Both collectors hand plain dicts (as the API returns them, or as a manifest writes them) to
:func:`objects_to_targets`, so one pack judges a live cluster and a folder of manifests alike.
See docs/evidence-kubernetes.md for the shape of every target.

Memory matters (a cluster dump holds tens of thousands of objects): items reference the parsed
objects, never copies; container items share their pod's dicts. The only new dicts are subjects,
the Pod-shaped view of a controller's template and one pod spec without its container lists.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from auditor.collect.collected import Collected
from auditor.collect.k8s_defaults import apply_pod_defaults

Location = tuple[str, int]

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController",
                            "Job", "CronJob"})
# Kinds with a target of their own (workloads and pods feed k8s.pod / k8s.container instead).
KIND_TARGETS = {
    "Namespace": "k8s.namespace",
    "ServiceAccount": "k8s.serviceaccount",
    "Role": "k8s.role",
    "ClusterRole": "k8s.clusterrole",
    "RoleBinding": "k8s.rolebinding",
    "ClusterRoleBinding": "k8s.clusterrolebinding",
    "NetworkPolicy": "k8s.networkpolicy",
    "LimitRange": "k8s.limitrange",
    "ResourceQuota": "k8s.resourcequota",
    "ValidatingWebhookConfiguration": "k8s.webhook",
    "MutatingWebhookConfiguration": "k8s.webhook",
    "ValidatingAdmissionPolicy": "k8s.admissionpolicy",
    "ValidatingAdmissionPolicyBinding": "k8s.admissionpolicy",
    "MutatingAdmissionPolicy": "k8s.admissionpolicy",
    "MutatingAdmissionPolicyBinding": "k8s.admissionpolicy",
    "Node": "k8s.node",
    "Secret": "k8s.secret",
}
POD_TARGETS = ("k8s.pod", "k8s.container")
TARGETS = ("k8s.cluster", "k8s.namespace", *POD_TARGETS, *sorted(set(KIND_TARGETS.values()) - {"k8s.namespace"}))
# Cluster-scoped kinds: no namespace, even when a manifest omits metadata.namespace.
CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "PersistentVolume", "StorageClass",
    "CustomResourceDefinition", "PriorityClass", "APIService", "CSIDriver", "CSINode", "IngressClass",
    "RuntimeClass", "PodSecurityPolicy", "VolumeAttachment", "CertificateSigningRequest",
    "FlowSchema", "PriorityLevelConfiguration", "ComponentStatus",
})
PSS_MODES = ("enforce", "audit", "warn")
PSS_LABEL = "pod-security.kubernetes.io/"
CONTAINER_LISTS = (("containers", "container"), ("initContainers", "init"), ("ephemeralContainers", "ephemeral"))
_CONTAINER_KEYS = frozenset(name for name, _ in CONTAINER_LISTS)
# Namespace facts derived from other kinds, and the kinds each one is counted from.
DERIVED_FROM = {
    "network_policies": ("NetworkPolicy",),
    "limit_ranges": ("LimitRange",),
    "resource_quotas": ("ResourceQuota",),
    "pods": ("Pod",),
    "workloads": ("Pod", *sorted(WORKLOAD_KINDS)),
}
# kubectl apply keeps the whole previous object (a Secret's values too) in this annotation.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def targets_of_kind(kind: str) -> tuple[str, ...]:
    """The targets a kind feeds (used to mark targets incomplete when the kind could not be read)."""
    if kind == "Pod" or kind in WORKLOAD_KINDS:
        return POD_TARGETS
    target = KIND_TARGETS.get(kind)
    return (target,) if target else ()


def strip_secret(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop a Secret's values in place: `data`, `stringData` and the last-applied annotation."""
    obj.pop("data", None)
    obj.pop("stringData", None)
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            annotations[LAST_APPLIED] = "<redacted>"
    return obj


def _redact_last_applied(meta: Any) -> None:
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        annotations[LAST_APPLIED] = "<redacted>"


def strip_env_values(kind: str, obj: dict[str, Any]) -> None:
    """Replace the literal values of container environment variables with "<redacted>", in place
    (a Pod's spec or a workload's pod template): names and `valueFrom` references stay, so checks
    still see which variables come from a Secret. The last-applied annotation (a copy of the whole
    object, values included) is redacted too."""
    _redact_last_applied(obj.get("metadata"))
    if kind == "Pod":
        pod: Any = obj
    else:
        pod = _pod_template(kind, obj)
        if pod is None:
            return
        _redact_last_applied(pod.get("metadata"))
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    for key in _CONTAINER_KEYS:
        for container in spec.get(key) or () if isinstance(spec.get(key), list) else ():
            env = container.get("env") if isinstance(container, dict) else None
            for var in env if isinstance(env, list) else ():
                if isinstance(var, dict) and var.get("value") not in (None, ""):
                    var["value"] = "<redacted>"


def _subject(kind: str, name: str, namespace: str | None, meta: dict[str, Any], where: Location | None
             ) -> dict[str, Any]:
    subject: dict[str, Any] = {"type": kind, "name": f"{namespace}/{name}" if namespace else name,
                               "namespace": namespace, "kind": kind}
    uid = meta.get("uid")
    if uid:
        subject["id"] = uid
    if where is not None:
        subject["file"], subject["line"] = where
    return subject


def _controller_of(meta: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the managing owner: the ownerReference marked controller, else the only one."""
    refs = meta.get("ownerReferences")
    if not isinstance(refs, list) or not refs:
        return None
    refs = [r for r in refs if isinstance(r, dict)]
    chosen = next((r for r in refs if r.get("controller")), refs[0] if len(refs) == 1 else None)
    if chosen is None:
        return None
    return str(chosen.get("kind")), str(chosen.get("name"))


def _pod_template(kind: str, obj: dict[str, Any]) -> Any:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return None
    if kind == "CronJob":
        job = spec.get("jobTemplate")
        spec = job.get("spec") if isinstance(job, dict) else None
        if not isinstance(spec, dict):
            return None
    template = spec.get("template")
    return template if isinstance(template, dict) else None


def _container_defaults(filled: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Filled paths of a pod ("spec.X", "spec.containers[0].Y") as paths into its k8s.container
    items: ("pod.X" paths shared by every container, {"containers[0": ["container.Y"]})."""
    pod_level: list[str] = []
    per_container: dict[str, list[str]] = {}
    for path in filled:
        if path.startswith(_CONTAINER_PATHS):
            where, _, rest = path[5:].partition("].")
            per_container.setdefault(where, []).append("container." + rest)
        else:
            pod_level.append("pod." + path[5:])
    return pod_level, per_container


_CONTAINER_PATHS = tuple(f"spec.{key}[" for key, _ in CONTAINER_LISTS)


def _add_containers(collected: Collected, subject: dict[str, Any], pod: dict[str, Any],
                    filled: list[str] | None = None,
                    share: Callable[[list[str]], list[str]] = lambda paths: paths) -> None:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    meta = pod.get("metadata")
    # One spec-without-containers dict per pod, shared by all of its containers.
    pod_rest = {k: v for k, v in spec.items() if k not in _CONTAINER_KEYS}
    pod_level, per_container = _container_defaults(filled) if filled else ([], {})
    add = collected.targets.setdefault("k8s.container", []).append
    for key, container_type in CONTAINER_LISTS:
        containers = spec.get(key)
        if not isinstance(containers, list):
            continue
        for index, container in enumerate(containers):
            if not isinstance(container, dict):
                continue
            cname = str(container.get("name") or f"#{index}")
            item = {"subject": {**subject, "name": f"{subject['name']}:{cname}", "container": cname},
                    "container": container, "container_type": container_type, "pod": pod_rest,
                    "pod_metadata": meta}
            if filled:
                own = per_container.get(f"{key}[{index}")
                if own or pod_level:
                    item["api_defaults"] = share(own + pod_level if own else pod_level)
            add(item)


def judged_kind(kind: str) -> bool:
    """Whether objects of this kind feed a target (pods and workloads feed k8s.pod and k8s.container)."""
    return kind in KIND_TARGETS or kind == "Pod" or kind in WORKLOAD_KINDS


def _namespace_of(meta: dict[str, Any], default: str | None) -> str | None:
    """metadata.namespace as text (a hand-written manifest may hold a list or a number there: it is
    shown as written, never used as a key as it is), or `default` when unset or empty."""
    namespace = meta.get("namespace")
    if namespace is None or namespace == "":
        return default
    return namespace if isinstance(namespace, str) else json.dumps(namespace, ensure_ascii=False)


def counted_only(obj: Any) -> Any:
    """An object of a kind no target judges (Event, ConfigMap, Service, custom resources...),
    reduced to its kind and apiVersion, which is all :func:`objects_to_targets` reads of it (it
    counts it). The manifests collector applies this as each object is decoded, so the Events and
    ConfigMaps of a large dump are let go at once instead of being held until the end. Lists and
    anything else are returned as they are."""
    if isinstance(obj, dict):
        kind = obj.get("kind")
        if isinstance(kind, str) and not judged_kind(kind) and not kind.endswith("List"):
            slim: dict[str, Any] = {"kind": kind}
            if "apiVersion" in obj:
                slim["apiVersion"] = obj["apiVersion"]
            return slim
    return obj


# A Pod or workload with a controller among the workload kinds (a ReplicaSet's Pods, a
# Deployment's ReplicaSets) is judged through that controller when the controller is in the input
# too, which is known only once every object is read. The manifests collector therefore holds such
# an object as its JSON text beside the few metadata fields that decide it (a "deferred" object,
# :func:`deferred_unless_needed`) and :func:`objects_to_targets` decodes it again only when its
# controller is absent: a 10,000-pod dump's Pods and ReplicaSets are half its bytes, and as
# decoded objects about a third of the peak memory. The marker's value is a tuple, which no JSON
# text decodes to, so an object's own field cannot be mistaken for it.
DEFERRED = "\0deferred-json"
_DEFERRED_META = ("name", "generateName", "namespace", "ownerReferences")


def deferred_unless_needed(obj: Any, text: str, start: int, end: int) -> Any:
    """:func:`counted_only`, and a Pod or workload managed by a workload kind reduced to its kind,
    apiVersion, the metadata that name it and its owner, and its JSON text ``text[start:end]``."""
    obj = counted_only(obj)
    if not isinstance(obj, dict):
        return obj
    kind = obj.get("kind")
    meta = obj.get("metadata")
    if (kind == "Pod" or kind in WORKLOAD_KINDS) and isinstance(meta, dict):
        owner = _controller_of(meta)
        if owner is not None and owner[0] in WORKLOAD_KINDS:
            slim: dict[str, Any] = {"kind": kind, "metadata": {k: meta[k] for k in _DEFERRED_META if k in meta},
                                    DEFERRED: (text[start:end],)}
            if "apiVersion" in obj:
                slim["apiVersion"] = obj["apiVersion"]
            return slim
    return obj


def _is_deferred(obj: dict[str, Any]) -> bool:
    return isinstance(obj.get(DEFERRED), tuple)


def _decode_deferred(obj: dict[str, Any]) -> Any:
    """The object a deferred one was read from, decoded again from its JSON text."""
    from auditor.common.jsonio import SURROGATE_ESCAPE, without_lone_surrogates

    (text,) = obj[DEFERRED]
    decoded = json.loads(text)
    return without_lone_surrogates(decoded) if SURROGATE_ESCAPE.search(text) else decoded


def objects_to_targets(objects: Iterable[tuple[Any, Location | None]], collected: Collected, *,
                       cluster_name: str, version: dict[str, Any] | None = None,
                       forbidden: dict[str, str] | None = None, incomplete_kinds: dict[str, str] | None = None,
                       default_namespace: str | None = "default", placeholder_namespaces: bool = True,
                       extra: dict[str, Any] | None = None, api_defaults: bool = False) -> None:
    """Turn Kubernetes objects into items of the k8s.* targets (docs/evidence-kubernetes.md).

    `objects` yields (object, (file, line) or None). Objects of kinds without a target (Services,
    ConfigMaps, custom resources...) are only counted in the k8s.cluster item. Secrets lose their
    values here at the latest. `default_namespace` is the namespace of namespaced objects written
    without one (manifests: kubectl would apply them to the current namespace, usually
    "default"). `incomplete_kinds` (kind -> reason) marks the namespace counts derived from a kind
    that could not be read completely as errors on every namespace item. `api_defaults`: fill
    the API server's defaults into every pod and pod template first (manifests, which the API
    server has not seen; auditor/collect/k8s_defaults.py), recording the filled paths on each
    item and a summary as the source "manifests.api-defaults".
    """
    kinds: Counter[str] = Counter()
    by_kind: dict[str, list[tuple[dict[str, Any], str, str | None, dict[str, Any], Location | None]]] = {}
    controllers: set[tuple[str | None, str, str]] = set()
    for obj, where in objects:
        if not isinstance(obj, dict):
            continue
        kind = obj.get("kind")
        if not isinstance(kind, str):
            continue
        kinds[kind] += 1
        if not judged_kind(kind):
            continue
        if kind == "Secret":
            strip_secret(obj)
        elif _is_deferred(obj):  # stripped if it is ever decoded again (below)
            pass
        elif kind == "Pod" or kind in WORKLOAD_KINDS:  # container env values never enter the bundle
            strip_env_values(kind, obj)
        else:
            _redact_last_applied(obj.get("metadata"))
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        name = str(meta.get("name") or meta.get("generateName") or "(unnamed)")
        namespace = None if kind in CLUSTER_SCOPED else _namespace_of(meta, default_namespace)
        by_kind.setdefault(kind, []).append((obj, name, namespace, meta, where))
        if kind in WORKLOAD_KINDS:
            controllers.add((namespace, kind, name))

    counts: dict[str | None, Counter[str]] = {}

    def count(namespace: str | None, fact: str) -> None:
        counts.setdefault(namespace, Counter())[fact] += 1

    # Pods and the pod templates of controllers; anything managed by a controller of the input
    # is judged once, through that controller.
    pods = collected.targets.setdefault("k8s.pod", [])
    collected.targets.setdefault("k8s.container", [])
    # The ServiceAccount each pod runs as, and whether it mounts its token by default: the pod's
    # own automountServiceAccountToken wins over its service account's (a derived fact, so a
    # check needs no join).
    accounts = {(namespace, name): obj.get("automountServiceAccountToken")
                for obj, name, namespace, _meta, _where in by_kind.get("ServiceAccount", ())}

    def service_account(spec: Any, namespace: str | None) -> dict[str, Any]:
        spec = spec if isinstance(spec, dict) else {}
        name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        key = (namespace, name)
        return {"name": name, "found": key in accounts,
                "automount": accounts[key] if isinstance(accounts.get(key), bool) else None}

    defaulted = {"objects": 0, "filled": 0, "fields": 0, "refused": 0}
    # Pods alike get alike lists of filled paths: each distinct list is held once, shared by
    # the items that have it (at 43k objects, 15,000 items share a few dozen lists).
    shared_paths: dict[tuple[str, ...], list[str]] = {}

    def share_paths(paths: list[str]) -> list[str]:
        return shared_paths.setdefault(tuple(paths), paths)

    def with_defaults(item: dict[str, Any], pod: dict[str, Any], kind: str) -> list[str] | None:
        """Fill the API defaults into `pod` and note them on its item (only with api_defaults)."""
        if not api_defaults:
            return None
        filled, refused = apply_pod_defaults(pod, kind)
        defaulted["objects"] += 1
        if refused is not None:
            defaulted["refused"] += 1
            item["api_defaults_skipped"] = f"not defaulted: the API server would refuse it ({refused})"
        elif filled:
            defaulted["filled"] += 1
            defaulted["fields"] += len(filled)
            item["api_defaults"] = share_paths(["object." + path for path in filled])
        return filled

    for kind in ("Pod", *sorted(WORKLOAD_KINDS)):
        for obj, name, namespace, meta, where in by_kind.get(kind, ()):
            if kind == "Pod":
                count(namespace, "pods")
            owner = _controller_of(meta)
            if owner is not None and (namespace, *owner) in controllers:
                continue
            count(namespace, "workloads")
            if _is_deferred(obj):  # its controller is not in the input: judged itself, in full
                obj = _decode_deferred(obj)
                strip_env_values(kind, obj)
                meta = obj["metadata"]
            subject = _subject(kind, name, namespace, meta, where)
            owner_field = {"kind": owner[0], "name": owner[1]} if owner else None
            if kind == "Pod":
                item = {"subject": subject, "object": obj, "owner": owner_field}
                filled = with_defaults(item, obj, kind)
                item["service_account"] = service_account(obj.get("spec"), namespace)
                pods.append(item)
                _add_containers(collected, subject, obj, filled, share_paths)
                continue
            template = _pod_template(kind, obj)
            if template is None:
                pods.append({"subject": subject, "object": None, "owner": {"kind": kind, "name": name},
                             "errors": {"object": f"{kind} {subject['name']} has no pod template"}})
                continue
            tmeta = template.get("metadata")
            tmeta = tmeta if isinstance(tmeta, dict) else {}
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {**tmeta, "name": tmeta.get("name") or name, "namespace": namespace},
                   "spec": template.get("spec") if isinstance(template.get("spec"), dict) else {}}
            item = {"subject": subject, "object": pod, "owner": {"kind": kind, "name": name}}
            filled = with_defaults(item, pod, kind)
            item["service_account"] = service_account(pod["spec"], namespace)
            pods.append(item)
            _add_containers(collected, subject, pod, filled, share_paths)
    if api_defaults:
        collected.source("manifests.api-defaults", "ok",
                         f"API server defaults filled in {defaulted['filled']} of {defaulted['objects']} pods and "
                         f"pod templates ({defaulted['fields']} fields; docs/kubernetes-defaults.md)"
                         + (f"; {defaulted['refused']} the API server would refuse left as written"
                            if defaulted["refused"] else ""))

    for kind, fact in (("NetworkPolicy", "network_policies"), ("LimitRange", "limit_ranges"),
                       ("ResourceQuota", "resource_quotas")):
        for _obj, _name, namespace, _meta, _where in by_kind.get(kind, ()):
            count(namespace, fact)

    for kind, target in KIND_TARGETS.items():
        if kind == "Namespace":
            continue
        items = collected.targets.setdefault(target, [])
        for obj, name, namespace, meta, where in by_kind.get(kind, ()):
            if namespace is not None:
                counts.setdefault(namespace, Counter())
            items.append({"subject": _subject(kind, name, namespace, meta, where), "object": obj})

    _add_namespaces(collected, by_kind.get("Namespace", []), counts, incomplete_kinds or {}, placeholder_namespaces)
    item: dict[str, Any] = {"subject": {"type": "cluster", "name": cluster_name}, "version": version,
                            "kinds": dict(sorted(kinds.items())), "forbidden": dict(sorted((forbidden or {}).items()))}
    if extra:
        item.update(extra)
    collected.add("k8s.cluster", item)


def _add_namespaces(collected: Collected, declared: list[Any], counts: dict[str | None, Counter[str]],
                    incomplete_kinds: dict[str, str], placeholders: bool) -> None:
    errors = {}
    for fact, kinds in DERIVED_FROM.items():
        reason = next((f"{k}: {incomplete_kinds[k]}" for k in kinds if k in incomplete_kinds), None)
        if reason:
            errors[f"derived.{fact}"] = f"cannot count {fact}: {reason}"
    items = collected.targets.setdefault("k8s.namespace", [])
    seen = set()

    def derived(name: str, labels: Any, is_declared: bool) -> dict[str, Any]:
        c = counts.get(name) or Counter()
        labels = labels if isinstance(labels, dict) else {}
        return {"declared": is_declared, **{fact: c[fact] for fact in DERIVED_FROM},
                "pss": {mode: labels.get(PSS_LABEL + mode) for mode in PSS_MODES}}

    for obj, name, _namespace, meta, where in declared:
        seen.add(name)
        item = {"subject": _subject("Namespace", name, None, meta, where), "object": obj,
                "derived": derived(name, meta.get("labels"), True)}
        if errors:
            item["errors"] = errors
        items.append(item)
    if not placeholders:
        return
    for name in sorted(n for n in counts if n is not None and n not in seen):
        item = {"subject": {"type": "Namespace", "name": name, "namespace": None, "kind": "Namespace"},
                "object": None, "derived": derived(name, None, False)}
        if errors:
            item["errors"] = errors
        items.append(item)
