"""The defaults the Kubernetes API server fills in, applied to pods and pod templates read from
manifests, so that a manifest is judged as the object the cluster would store.

A live API object is already defaulted; a manifest is not: a volume written with only a name is
an `emptyDir` once stored, a `hostNetwork` pod's ports get host ports, a container without
`imagePullPolicy` gets `Always` or `IfNotPresent` from its image tag. The manifests collector
runs :func:`apply_pod_defaults` on every `k8s.pod` object before it becomes evidence (one place,
no check does it on its own). Every default, its source in the Kubernetes API reference and the
defaults left out on purpose are listed in docs/kubernetes-defaults.md.

Rules: a field is filled only where it is absent (missing, or null as the API server decodes
null); a value that is present, of whatever type, is never changed; a node of the wrong shape (a
volume that is not an object, ports that are not a list) is left as it is; an object that the
API server would refuse outright (no spec, no container list, a container without a name) gets
no defaults at all, so defaulting never makes a broken object look complete. The object is
changed in place (no copy): the list of filled paths, returned and recorded on the evidence
item, is what tells an auditor which values were not written in the manifest.
"""

from __future__ import annotations

import re
from typing import Any

# Pod spec fields (pkg/apis/core/v1 SetDefaults_PodSpec), for Pods and every pod template.
_POD_SPEC = (("dnsPolicy", "ClusterFirst"), ("schedulerName", "default-scheduler"),
             ("terminationGracePeriodSeconds", 30))
# Container fields (SetDefaults_Container, SetDefaults_EphemeralContainer).
_CONTAINER = (("terminationMessagePath", "/dev/termination-log"), ("terminationMessagePolicy", "File"))
_PROBE = (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3))
_HTTP_GET = (("path", "/"), ("scheme", "HTTP"))
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# 0644: the file mode of secret, configMap, downwardAPI and projected volumes.
DEFAULT_MODE = 0o644
# Every member of VolumeSource: a volume with none of them set becomes an emptyDir.
VOLUME_SOURCES = frozenset({
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
})
# Kinds whose pod template must not restart Always (the API server would refuse the object the
# restartPolicy default produces), so that default is not filled for them.
_RUN_TO_COMPLETION = frozenset({"Job", "CronJob"})

# An image reference as the API server's image-name parser reads it (distribution's grammar):
# [domain/]path[:tag][@digest]. A string it cannot parse has no tag: IfNotPresent.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH_PART}(?:/{_PATH_PART})*)"
                    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
                    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def image_pull_policy(image: str) -> str:
    """The imagePullPolicy the API server fills for an image: Always when its tag is `latest` or
    when it has neither tag nor digest (the tag then defaults to latest), else IfNotPresent."""
    match = _IMAGE.fullmatch(image)
    if match is None or _HEX64.fullmatch(image) or len(match["path"]) + len(match["domain"] or "") > 255:
        return "IfNotPresent"  # the parser's error: no tag
    tag = match["tag"]
    if tag is None and match["digest"] is None:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _fill(node: dict[str, Any], pairs: tuple[tuple[str, Any], ...], path: str, filled: list[str]) -> None:
    for key, value in pairs:
        if node.get(key) is None:
            node[key] = value
            filled.append(path + key)


def _http_get(handler: Any, path: str, filled: list[str]) -> None:
    http = handler.get("httpGet") if isinstance(handler, dict) else None
    if isinstance(http, dict):
        _fill(http, _HTTP_GET, path + "httpGet.", filled)


def _field_refs(items: Any, path: str, filled: list[str]) -> None:
    """ObjectFieldSelector.apiVersion = v1 in downwardAPI items."""
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        ref = item.get("fieldRef") if isinstance(item, dict) else None
        if isinstance(ref, dict) and ref.get("apiVersion") is None:
            ref["apiVersion"] = "v1"
            filled.append(f"{path}[{index}].fieldRef.apiVersion")


def _container(container: dict[str, Any], path: str, ephemeral: bool, pod: bool, host_network: bool,
               filled: list[str]) -> None:
    image = container.get("image")
    if container.get("imagePullPolicy") is None and isinstance(image, str) and image:
        container["imagePullPolicy"] = image_pull_policy(image)
        filled.append(path + "imagePullPolicy")
    _fill(container, _CONTAINER, path, filled)
    ports = container.get("ports")
    if isinstance(ports, list):
        for index, port in enumerate(ports):
            if not isinstance(port, dict):
                continue
            if port.get("protocol") is None:
                port["protocol"] = "TCP"
                filled.append(f"{path}ports[{index}].protocol")
            # SetDefaults_Pod: with host networking every container port is also a host port
            # (Pods only; containers and init containers, not ephemeral ones).
            if host_network and not ephemeral and port.get("hostPort") is None \
                    and type(port.get("containerPort")) is int:
                port["hostPort"] = port["containerPort"]
                filled.append(f"{path}ports[{index}].hostPort")
    env = container.get("env")
    if isinstance(env, list):
        for index, var in enumerate(env):
            source = var.get("valueFrom") if isinstance(var, dict) else None
            ref = source.get("fieldRef") if isinstance(source, dict) else None
            if isinstance(ref, dict) and ref.get("apiVersion") is None:
                ref["apiVersion"] = "v1"
                filled.append(f"{path}env[{index}].valueFrom.fieldRef.apiVersion")
    if not ephemeral:  # ephemeral containers may not have probes or lifecycle hooks at all
        for name in _PROBES:
            probe = container.get(name)
            if isinstance(probe, dict):
                _fill(probe, _PROBE, f"{path}{name}.", filled)
                _http_get(probe, f"{path}{name}.", filled)
        lifecycle = container.get("lifecycle")
        if isinstance(lifecycle, dict):
            for hook in ("postStart", "preStop"):
                _http_get(lifecycle.get(hook), f"{path}lifecycle.{hook}.", filled)
    if pod and not ephemeral:
        # SetDefaults_Pod: requests default to limits, resource by resource (Pods only, not
        # templates).
        resources = container.get("resources")
        limits = resources.get("limits") if isinstance(resources, dict) else None
        if isinstance(limits, dict) and limits:
            requests = resources.get("requests")
            if requests is None:
                requests = resources["requests"] = {}
            if isinstance(requests, dict):
                for key, value in limits.items():
                    if key not in requests:
                        requests[key] = value
                        filled.append(f"{path}resources.requests.{key}")


def _volume(volume: dict[str, Any], path: str, filled: list[str]) -> None:
    set_sources = [key for key in VOLUME_SOURCES if volume.get(key) is not None]
    if not set_sources:
        # No source at all: an emptyDir (SetDefaults_Volume). Only for a volume that holds
        # nothing but its name (and null sources): unknown keys mean an object the API server
        # refuses under strict field validation.
        if isinstance(volume.get("name"), str) and all(key == "name" or key in VOLUME_SOURCES for key in volume):
            volume["emptyDir"] = {}
            filled.append(path + "emptyDir")
        return
    if len(set_sources) != 1:
        return  # more than one source: invalid, nothing to fill
    key = set_sources[0]
    source = volume[key]
    if not isinstance(source, dict):
        return
    base = f"{path}{key}."
    if key == "hostPath":
        if source.get("type") is None and isinstance(source.get("path"), str):
            source["type"] = ""
            filled.append(base + "type")
    elif key in ("secret", "configMap", "downwardAPI", "projected"):
        if source.get("defaultMode") is None:
            source["defaultMode"] = DEFAULT_MODE
            filled.append(base + "defaultMode")
        if key == "downwardAPI":
            _field_refs(source.get("items"), base + "items", filled)
        elif key == "projected":
            sources = source.get("sources")
            for index, projection in enumerate(sources if isinstance(sources, list) else ()):
                if not isinstance(projection, dict):
                    continue
                inner = f"{base}sources[{index}]."
                downward = projection.get("downwardAPI")
                if isinstance(downward, dict):
                    _field_refs(downward.get("items"), inner + "downwardAPI.items", filled)
                token = projection.get("serviceAccountToken")
                if isinstance(token, dict) and token.get("expirationSeconds") is None:
                    token["expirationSeconds"] = 3600
                    filled.append(inner + "serviceAccountToken.expirationSeconds")
    elif key == "ephemeral":
        template = source.get("volumeClaimTemplate")
        spec = template.get("spec") if isinstance(template, dict) else None
        if isinstance(spec, dict) and spec.get("volumeMode") is None:
            spec["volumeMode"] = "Filesystem"
            filled.append(base + "volumeClaimTemplate.spec.volumeMode")


def refused_reason(spec: Any) -> str | None:
    """Why the API server would refuse this pod spec outright (then no default is filled), or None."""
    if not isinstance(spec, dict):
        return "spec is not an object"
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return "spec.containers is not a non-empty list"
    for key in _CONTAINER_LISTS:
        listed = spec.get(key)
        if listed is None:
            continue
        if not isinstance(listed, list):
            return f"spec.{key} is not a list"
        for index, container in enumerate(listed):
            if not isinstance(container, dict) or not isinstance(container.get("name"), str) \
                    or not container["name"]:
                return f"spec.{key}[{index}] is not a container with a name"
    return None


def apply_pod_defaults(pod: dict[str, Any], kind: str) -> tuple[list[str], str | None]:
    """Fill the API server's defaults into a Pod-shaped object, in place.

    `kind` is the kind the object came from: "Pod" for a Pod (which also gets the defaults the
    API server applies to Pods only), else the controller whose pod template it is. Returns the
    filled paths (relative to the object: "spec.dnsPolicy", "spec.containers[0].imagePullPolicy")
    and, when nothing was filled because the API server would refuse the object, the reason.
    Running it again on its own output fills nothing.
    """
    spec = pod.get("spec")
    reason = refused_reason(spec)
    if reason is not None:
        return [], reason
    filled: list[str] = []
    _fill(spec, _POD_SPEC, "spec.", filled)
    if spec.get("restartPolicy") is None and kind not in _RUN_TO_COMPLETION:
        spec["restartPolicy"] = "Always"
        filled.append("spec.restartPolicy")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
        filled.append("spec.securityContext")
    # The deprecated serviceAccount and serviceAccountName are one field (the v1 conversion
    # copies one into the other), as a stored object shows.
    account, deprecated = spec.get("serviceAccountName"), spec.get("serviceAccount")
    if account is None and isinstance(deprecated, str) and deprecated:
        spec["serviceAccountName"] = deprecated
        filled.append("spec.serviceAccountName")
    elif deprecated is None and isinstance(account, str) and account:
        spec["serviceAccount"] = account
        filled.append("spec.serviceAccount")
    is_pod = kind == "Pod"
    if is_pod and spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
        filled.append("spec.enableServiceLinks")
    host_network = is_pod and spec.get("hostNetwork") is True
    volumes = spec.get("volumes")
    if isinstance(volumes, list):
        for index, volume in enumerate(volumes):
            if isinstance(volume, dict):
                _volume(volume, f"spec.volumes[{index}].", filled)
    for key in _CONTAINER_LISTS:
        ephemeral = key == "ephemeralContainers"
        for index, container in enumerate(spec.get(key) or ()):
            _container(container, f"spec.{key}[{index}].", ephemeral, is_pod, host_network, filled)
    return filled, None
