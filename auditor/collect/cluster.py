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
import ssl
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from auditor.collect import reads
from auditor.collect.collected import Collected
from auditor.collect.k8s_objects import TARGETS, objects_to_targets, strip_secret, targets_of_kind
from auditor.collect.reads import Deadline
from auditor.speed.gc_pause import paused_gc

SOURCE = "k8s.api"
WORKERS = 4
# A list longer than this many pages is a server in a loop, not a cluster (500 objects a page).
MAX_PAGES = 2_000
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
    return reads.one_line(text, 300)  # a server's text may echo the request's credentials


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
        # Reads go through the bounded layer (wall-clock limits, size caps) unless a proxy is
        # configured, which only the client's own transport speaks.
        self._tls = _tls_context(cfg) if not getattr(cfg, "proxy", None) else None
        self._tls_name = getattr(cfg, "tls_server_name", None)
        self._bounded = not getattr(cfg, "proxy", None) and hasattr(self.client, "param_serialize")

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
        if self._bounded:
            return self._bounded_request(method, path, query, body, headers)
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

    def _bounded_request(self, method: str, path: str, query: list[tuple[str, Any]] | None, body: Any,
                         headers: dict[str, str]) -> tuple[int, bytes]:
        method, url, headers, data, _post = self.client.param_serialize(
            method, path, query_params=query or [], header_params=headers, body=body, auth_settings=["BearerToken"])
        parts = urllib.parse.urlsplit(url)
        https = parts.scheme == "https"
        endpoint = reads.Endpoint(host=parts.hostname or "localhost", port=parts.port or (443 if https else 80),
                                  tls=self._tls if https else None, server_hostname=self._tls_name)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        payload = None
        if data is not None:
            payload = data if isinstance(data, bytes) else (data.encode() if isinstance(data, str)
                                                            else json.dumps(data).encode())
        response = reads.request(endpoint, method, target, headers, payload, self.timeout, self.deadline)
        return response.status, response.body

    def close(self) -> None:
        self.client.close()


def _tls_context(cfg: Any) -> ssl.SSLContext:
    """The TLS settings of a loaded kubeconfig (CA, client certificate, verification) as a context."""
    if cfg.verify_ssl:
        ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None)
        if getattr(cfg, "assert_hostname", None) is False:
            ctx.check_hostname = False
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.cert_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file or None)
    return ctx


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
    message = reads.one_line(message or body[:200].decode("utf-8", "replace"), 300)
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


def _page_error(result: KindList, reason: str, status: str = "error") -> KindList:
    result.status = status
    result.reason = (f"{reason} (after {result.pages} pages, {len(result.items)} objects)"
                     if result.pages else reason)
    return result


def _served(api: Api, path: str) -> bool | None:
    """Whether discovery lists the resource of a list path: True, False, or None when discovery
    itself does not answer with a resource list."""
    group_version, _, resource = path.rpartition("/")
    try:
        status, body = api.get(group_version)
        doc = json.loads(body) if status == 200 else None
    except Exception:  # noqa: BLE001 - no discovery answer: unknown
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("resources"), list):
        return None
    return any(isinstance(r, dict) and r.get("name") == resource for r in doc["resources"])


def _not_found(api: Api, result: KindList, fallback: str | None) -> KindList | None:
    """A 404 on the first page. Core kinds are served by every API server: a 404 there is an
    error (a proxy, a broken aggregation layer), never "nothing to see". An optional kind (one
    with a fallback version) is "not served" only when discovery does not list it either."""
    if fallback and result.path != fallback:
        result.path = fallback
        return None
    if fallback is None:
        return _page_error(result, f"HTTP 404 for {result.path}, a kind every API server serves")
    listed = _served(api, result.path)
    if listed:
        return _page_error(result, f"HTTP 404 for {result.path}, which discovery lists as served")
    result.status, result.reason = "absent", "not served by this API server"
    return result


def list_kind(api: Api, kind: str, path: str, fallback: str | None, page_size: int) -> KindList:
    """Every object of a kind, page by page (limit + continue). Keeps the pages read when a later
    page fails, with status "error" and the reason. A page that is not a list object, an item
    that is not an object with metadata, a `continue` token seen before or more than MAX_PAGES
    pages are errors too."""
    result = KindList(kind, path)
    secret = kind == "Secret"
    token: str | None = None
    seen: set[str] = set()
    while True:
        query: list[tuple[str, Any]] = [("limit", page_size)]
        if token:
            query.append(("continue", token))
        if secret:
            query.append(("includeObject", "Metadata"))
        try:
            status, body = api.get(result.path, query, TABLE_ACCEPT if secret else "application/json")
        except Exception as exc:  # timeouts, resets, cut-off answers: this kind only
            return _page_error(result, _one_line(exc))
        if status == 404 and result.pages == 0:
            done = _not_found(api, result, fallback)
            if done is not None:
                return done
            continue
        if status != 200:
            return _page_error(result, _status_reason(status, body), "forbidden" if status in (401, 403) else "error")
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return _page_error(result, f"response is not JSON: {exc}")
        del body
        problem = _page_shape(doc, secret, kind)
        if problem:
            return _page_error(result, f"page {result.pages + 1} of {result.path}: {problem}")
        result.pages += 1
        api_version = str(doc.get("apiVersion") or "v1")
        if secret and doc.get("kind") == "Table":
            result.items.extend(_table_secrets(doc))
        else:
            for item in doc.get("items") or []:
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                if secret:  # the server ignored the Table request: drop the values at once
                    strip_secret(item)
                result.items.append(item)
        token = (doc.get("metadata") or {}).get("continue")
        if not token:
            return result
        if token in seen:
            return _page_error(result, "the API server repeated a continue token: the list loops")
        if result.pages >= MAX_PAGES:
            return _page_error(result, f"more than {MAX_PAGES} pages: stopped")
        seen.add(token)


def _page_shape(doc: Any, secret: bool, kind: str = "") -> str | None:
    """None when a list page has the shape the collector reads, else what is wrong with it."""
    if not isinstance(doc, dict):
        return f"expected a list object, got a JSON {type(doc).__name__}"
    meta = doc.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        return "metadata is not an object"
    if meta and meta.get("continue") is not None and not isinstance(meta["continue"], str):
        return "metadata.continue is not text"
    if secret and doc.get("kind") == "Table":
        return None if isinstance(doc.get("rows") or [], list) else "rows is not a list"
    items = doc.get("items")
    if not isinstance(items, list):
        return "no items list: not a list answer"
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict) \
                or not isinstance(item["metadata"].get("name"), str):
            return f"item {n} is not an object with metadata.name"
        problem = _object_shape(kind, item)
        if problem:
            return f"{kind} {item['metadata']['name']}: {problem}"
    return None


# Where each workload kind keeps its pod spec (what the pod controls read).
_POD_SPEC_AT = {"Pod": ("spec",), "Deployment": ("spec", "template", "spec"),
                "StatefulSet": ("spec", "template", "spec"), "DaemonSet": ("spec", "template", "spec"),
                "ReplicaSet": ("spec", "template", "spec"), "ReplicationController": ("spec", "template", "spec"),
                "Job": ("spec", "template", "spec"), "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}


def _object_shape(kind: str, obj: dict[str, Any]) -> str | None:
    """The fields the packs read, checked for type: a Pod (or a workload's template) without a
    container list is not a valid object, so it cannot pass a pod control on no data."""
    meta = obj["metadata"]
    if meta.get("namespace") is not None and not isinstance(meta["namespace"], str):
        return "metadata.namespace is not text"
    for name in ("labels", "annotations"):
        if meta.get(name) is not None and not isinstance(meta[name], dict):
            return f"metadata.{name} is not an object"
    if obj.get("spec") is not None and not isinstance(obj["spec"], dict):
        return "spec is not an object"
    at = _POD_SPEC_AT.get(kind)
    if at is None:
        return None
    spec: Any = obj
    for step in at:
        spec = spec.get(step) if isinstance(spec, dict) else None
    where = ".".join(at)
    if not isinstance(spec, dict):
        return f"no {where} object"
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return f"{where}.containers is not a list of containers"
    for field_name in ("containers", "initContainers", "ephemeralContainers"):
        listed = spec.get(field_name)
        if listed is None:
            continue
        if not isinstance(listed, list) or not all(isinstance(c, dict) for c in listed):
            return f"{where}.{field_name} is not a list of objects"
        for c in listed:
            if c.get("securityContext") is not None and not isinstance(c["securityContext"], dict):
                return f"{where}.{field_name}: securityContext is not an object"
    for name in ("securityContext", "volumes"):
        if spec.get(name) is not None and not isinstance(spec[name], dict if name == "securityContext" else list):
            return f"{where}.{name} has the wrong type"
    return None


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
