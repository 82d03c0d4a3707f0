"""The live cluster collector: Kubernetes API lists, read-only, paginated.

Uses the official ``kubernetes`` client for configuration and authentication (kubeconfig,
context, in-cluster service account, exec plugins), but reads raw JSON responses instead of
deserialising them into models: much faster, and objects stay plain dicts. Only GET requests
are made. Secrets are listed as a server-side Table with metadata only, so their values never
reach this process. See docs/evidence-kubernetes.md.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from auditor.collect.collected import Collected
from auditor.collect.k8s_objects import TARGETS, objects_to_targets, strip_secret, targets_of_kind
from auditor.collect.reads import Deadline
from auditor.speed.gc_pause import paused_gc

SOURCE = "k8s.api"
WORKERS = 4
# Secrets: a Table of metadata-only rows (name, type, counts) instead of the objects themselves.
TABLE_ACCEPT = "application/json;as=Table;g=meta.k8s.io;v=v1,application/json"

# (kind, list path, fallback path when the first is not served (404)).
KINDS: tuple[tuple[str, str, str | None], ...] = (
    ("Namespace", "/api/v1/namespaces", None),
    ("Node", "/api/v1/nodes", None),
    ("Pod", "/api/v1/pods", None),
    ("ServiceAccount", "/api/v1/serviceaccounts", None),
    ("Secret", "/api/v1/secrets", None),
    ("LimitRange", "/api/v1/limitranges", None),
    ("ResourceQuota", "/api/v1/resourcequotas", None),
    ("ReplicationController", "/api/v1/replicationcontrollers", None),
    ("Deployment", "/apis/apps/v1/deployments", None),
    ("StatefulSet", "/apis/apps/v1/statefulsets", None),
    ("DaemonSet", "/apis/apps/v1/daemonsets", None),
    ("ReplicaSet", "/apis/apps/v1/replicasets", None),
    ("Job", "/apis/batch/v1/jobs", None),
    ("CronJob", "/apis/batch/v1/cronjobs", None),
    ("Role", "/apis/rbac.authorization.k8s.io/v1/roles", None),
    ("ClusterRole", "/apis/rbac.authorization.k8s.io/v1/clusterroles", None),
    ("RoleBinding", "/apis/rbac.authorization.k8s.io/v1/rolebindings", None),
    ("ClusterRoleBinding", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", None),
    ("NetworkPolicy", "/apis/networking.k8s.io/v1/networkpolicies", None),
    ("ValidatingWebhookConfiguration", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", None),
    ("MutatingWebhookConfiguration", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", None),
    ("ValidatingAdmissionPolicy", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
     "/apis/admissionregistration.k8s.io/v1beta1/validatingadmissionpolicies"),
    ("ValidatingAdmissionPolicyBinding", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
     "/apis/admissionregistration.k8s.io/v1beta1/validatingadmissionpolicybindings"),
)


class Unreachable(Exception):
    """The API server could not be reached at all (no configuration, refused, timed out)."""


@dataclass
class KindList:
    """What listing one kind gave: its items (pages read so far, on failure too) and how it went."""

    kind: str
    path: str
    items: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    status: str = "ok"        # ok | absent (not served) | forbidden | error
    reason: str = ""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError wraps the real cause
    if reason is not None and not isinstance(reason, str):
        text = " ".join(str(reason).split())
    return text[:300]


# Where Kubernetes mounts a pod's service account (token, ca.crt, namespace).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class Api:
    """GET requests through a configured kubernetes ApiClient, returning (status, bytes)."""

    def __init__(self, kubeconfig: str | None, context: str | None, in_cluster: bool, timeout: float,
                 workers: int = WORKERS, deadline: float | None = None) -> None:
        import urllib3
        from kubernetes import client, config

        self.timeout = timeout
        self.deadline = Deadline(deadline)
        cfg = client.Configuration()
        try:
            if in_cluster:
                from kubernetes.config.incluster_config import InClusterConfigLoader

                # what load_incluster_config() does, with the service account folder a constant here
                InClusterConfigLoader(token_filename=os.path.join(SERVICE_ACCOUNT_DIR, "token"),
                                      cert_filename=os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt")).load_and_set(cfg)
                self.name = "in-cluster"
            else:
                # The client reads $KUBECONFIG once, at its import: pass today's value explicitly.
                kubeconfig = kubeconfig or _default_kubeconfig()
                # persist_config=False: refreshed tokens are never written back into the kubeconfig.
                config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg,
                                        persist_config=False)
                self.name = context or _current_context(kubeconfig) or "kubeconfig"
        except Exception as exc:  # ConfigException, missing file, bad YAML: one line, no traceback
            where = "in-cluster service account" if in_cluster else (kubeconfig or _default_kubeconfig())
            raise Unreachable(f"cannot load Kubernetes configuration from {where}: {_one_line(exc)}") from None
        # One try per request: a slow kind must cost `timeout`, not four times that.
        cfg.retries = urllib3.Retry(total=0, connect=0, read=0, redirect=0, status=0, raise_on_status=False)
        cfg.connection_pool_maxsize = max(workers, 1)
        self.server = cfg.host
        self.ca_sha256 = _ca_fingerprint(cfg.ssl_ca_cert)
        self.client = client.ApiClient(cfg)
        self._exception = client.ApiException

    def get(self, path: str, query: list[tuple[str, Any]] | None = None, accept: str = "application/json"
            ) -> tuple[int, bytes]:
        return self.request("GET", path, query, accept=accept)

    def request(self, method: str, path: str, query: list[tuple[str, Any]] | None = None, body: Any = None,
                accept: str = "application/json") -> tuple[int, bytes]:
        """One API call: (HTTP status, body bytes). Only the --all-nodes orchestration writes
        (POST and DELETE of its own Jobs, auditor/collect/node_jobs.py); collectors only GET."""
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = "application/json"
        c = self.client
        try:
            if hasattr(c, "param_serialize"):  # kubernetes >= 31 (current generator)
                method, url, headers, data, _post = c.param_serialize(method, path, query_params=query or [],
                                                                      header_params=headers, body=body,
                                                                      auth_settings=["BearerToken"])
                response = c.call_api(method, url, headers, data, _request_timeout=self.timeout)
                return response.status, response.read()
            raw = c.call_api(path, method, query_params=query or [], header_params=headers, body=body,
                             auth_settings=["BearerToken"], _preload_content=False,
                             _return_http_data_only=False, _request_timeout=self.timeout)[0]
            return raw.status, raw.data
        except self._exception as exc:  # older clients raise for non-2xx statuses
            return int(exc.status or 0), (exc.body or b"") if isinstance(exc.body, bytes) else str(exc.body).encode()

    def close(self) -> None:
        self.client.close()


def _ca_fingerprint(path: str | None) -> str | None:
    """Fingerprint of the cluster CA the client trusts (what node bundles are matched against)."""
    from auditor.common.certs import first_cert_sha256

    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            return first_cert_sha256(fh.read(1 << 20))
    except OSError:
        return None


def _default_kubeconfig() -> str:
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def _current_context(kubeconfig: str | None) -> str | None:
    from kubernetes import config

    try:
        _contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except Exception:
        return None
    return (active or {}).get("name")


def cluster_configured(kubeconfig: str | None = None, in_cluster: bool = False) -> str | None:
    """None when a cluster configuration exists (a kubeconfig with a current context, or a
    service account in a pod), else the reason there is none. Cheap: reads no API."""
    if in_cluster or (os.environ.get("KUBERNETES_SERVICE_HOST")
                      and os.path.exists(os.path.join(SERVICE_ACCOUNT_DIR, "token"))):
        return None
    path = kubeconfig or _default_kubeconfig()
    files = [p for p in path.split(os.pathsep) if p]
    if not any(os.path.isfile(os.path.expanduser(p)) for p in files):
        return f"no kubeconfig ({path}) and not running in a pod"
    return None


def _status_reason(status: int, body: bytes) -> str:
    """The API's Status message for an error response, in one line."""
    try:
        doc = json.loads(body)
        message = doc.get("message") if isinstance(doc, dict) else None
    except ValueError:
        message = None
    message = " ".join(str(message or body[:200].decode("utf-8", "replace")).split())
    label = {401: "unauthorized", 403: "forbidden", 404: "not found", 410: "list expired"}.get(status, "error")
    return f"HTTP {status} {label}: {message}" if message else f"HTTP {status} {label}"


def _table_secrets(doc: dict[str, Any], api_version: str = "v1") -> list[dict[str, Any]]:
    """Secret objects (metadata and type) from the rows of a metadata-only Table."""
    columns = [c.get("name") for c in doc.get("columnDefinitions") or [] if isinstance(c, dict)]
    type_index = columns.index("Type") if "Type" in columns else None
    out = []
    for row in doc.get("rows") or []:
        obj = row.get("object") if isinstance(row, dict) else None
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if not isinstance(meta, dict):
            continue
        secret: dict[str, Any] = {"apiVersion": api_version, "kind": "Secret", "metadata": meta}
        cells = row.get("cells") or []
        if type_index is not None and type_index < len(cells):
            secret["type"] = cells[type_index]
        out.append(strip_secret(secret))  # the last-applied annotation holds the values
    return out


def list_kind(api: Api, kind: str, path: str, fallback: str | None, page_size: int) -> KindList:
    """Every object of a kind, page by page (limit + continue). Keeps the pages read when a later
    page fails, with status "error" and the reason."""
    result = KindList(kind, path)
    secret = kind == "Secret"
    token: str | None = None
    while True:
        query: list[tuple[str, Any]] = [("limit", page_size)]
        if token:
            query.append(("continue", token))
        if secret:
            query.append(("includeObject", "Metadata"))
        try:
            status, body = api.get(result.path, query, TABLE_ACCEPT if secret else "application/json")
        except Exception as exc:  # timeouts, resets: this kind only
            result.status = "error"
            result.reason = (f"{_one_line(exc)} (after {result.pages} pages, {len(result.items)} objects)"
                             if result.pages else _one_line(exc))
            return result
        if status == 404 and result.pages == 0:
            if fallback and result.path != fallback:
                result.path = fallback
                continue
            result.status, result.reason = "absent", "not served by this API server"
            return result
        if status != 200:
            result.status = "forbidden" if status in (401, 403) else "error"
            result.reason = _status_reason(status, body)
            if result.pages:
                result.reason += f" (after {result.pages} pages, {len(result.items)} objects)"
            return result
        try:
            doc = json.loads(body)
        except ValueError as exc:
            result.status, result.reason = "error", f"response is not JSON: {exc}"
            return result
        del body
        result.pages += 1
        api_version = str(doc.get("apiVersion") or "v1")
        if secret and doc.get("kind") == "Table":
            result.items.extend(_table_secrets(doc))
        else:
            for item in doc.get("items") or []:
                if not isinstance(item, dict):
                    continue
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                if secret:  # the server ignored the Table request: drop the values at once
                    strip_secret(item)
                result.items.append(item)
        token = (doc.get("metadata") or {}).get("continue")
        if not token:
            return result


def _version(api: Api) -> dict[str, Any]:
    """GET /version; raises Unreachable when the server does not answer at all."""
    try:
        status, body = api.get("/version")
    except Exception as exc:
        raise Unreachable(f"cannot reach the Kubernetes API at {api.server}: {_one_line(exc)}") from None
    if status != 200:
        raise RuntimeError(_status_reason(status, body))
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise RuntimeError("GET /version did not return an object")
    return doc


def _unreachable(collected: Collected, reason: str, required: bool) -> Collected:
    if required:
        collected.source(SOURCE, "error", reason)
        collected.error(SOURCE, reason, targets=TARGETS)
    else:
        collected.source(SOURCE, "unreachable", reason)
    return collected


def collect_cluster(*, kubeconfig: str | None = None, context: str | None = None, in_cluster: bool = False,
                    timeout: float = 10.0, page_size: int = 500, required: bool = True,
                    deadline: float | None = None) -> Collected:
    """Collect the cluster's objects through its API into the k8s.* targets.

    Never raises for an unreachable or unwilling API server: a kind the auditor may not list
    (403) or that fails midway (timeout) is an error on the targets it feeds only, the pages read
    so far are kept. With `required=False` (auto-discovery) a server that cannot be reached at
    all is listed as an "unreachable" source instead of an error.
    """
    with paused_gc():
        return _collect(kubeconfig, context, in_cluster, timeout, page_size, required, deadline)


def _collect(kubeconfig: str | None, context: str | None, in_cluster: bool, timeout: float, page_size: int,
             required: bool, deadline: float | None = None) -> Collected:
    collected = Collected()
    try:
        api = Api(kubeconfig, context, in_cluster, timeout, deadline=deadline)
    except Unreachable as exc:
        return _unreachable(collected, str(exc), required)
    try:
        try:
            version: dict[str, Any] | None = _version(api)
            version_error = None
        except Unreachable as exc:
            return _unreachable(collected, str(exc), required)
        except Exception as exc:
            version, version_error = None, f"GET /version: {_one_line(exc)}"
        collected.source(SOURCE, "ok", f"{api.server} (context {api.name})")
        if version_error:
            collected.error(SOURCE, version_error)
        with ThreadPoolExecutor(WORKERS) as pool:
            lists = list(pool.map(lambda k: list_kind(api, k[0], k[1], k[2], page_size), KINDS))
    finally:
        api.close()
    forbidden: dict[str, str] = {}
    incomplete: dict[str, str] = {}
    for kl in lists:
        if kl.status in ("ok", "absent"):
            if kl.status == "absent":
                collected.source(f"{SOURCE}.{kl.kind}", "absent", f"{kl.path}: {kl.reason}")
            continue
        if kl.status == "forbidden":
            forbidden[kl.kind] = kl.reason
        incomplete[kl.kind] = kl.reason
        collected.error(SOURCE, f"list {kl.kind} ({kl.path}): {kl.reason}", targets=targets_of_kind(kl.kind))
    extra: dict[str, Any] = {"server": api.server, "context": api.name}
    if api.ca_sha256:
        extra["cluster_ca_sha256"] = api.ca_sha256
    if version_error:
        extra["errors"] = {"version": version_error}
    objects_to_targets(((obj, None) for kl in lists for obj in kl.items), collected, cluster_name=api.name,
                       version=version, forbidden=forbidden, incomplete_kinds=incomplete,
                       default_namespace=None, placeholder_namespaces=False, extra=extra)
    return collected
