"""The Docker collector: daemon, containers, images, networks, and the host files around them.

Only read-only Docker API calls are made (info, version, list and inspect, top, history).
Secrets never enter the evidence: environment values are reduced to names, secret-looking
keys are redacted and credentials are stripped from URLs. See docs/evidence.md.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from auditor.collect import host, reads
from auditor.collect.collected import Collected
from auditor.collect.reads import Deadline
from auditor.common.argv import parse_flags
from auditor.common.secrets import (  # noqa: F401  (re-exported: one way to tell a secret)
    REDACTED,
    SECRET_NAME,
    redact_arg,
    redact_argv,
    redact_text,
    secret_key,
    secret_value,
    strip_url_credentials,
    value_looks_secret,
)

DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"
DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_DAEMON_JSON = "/etc/docker/daemon.json"
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
WORKERS = 8
API_TARGETS = ("docker.container", "docker.image", "docker.network")

DOCKERD_BOOL_FLAGS = {
    "icc", "iptables", "ip6tables", "ip-forward", "ip-masq", "userland-proxy", "live-restore",
    "no-new-privileges", "tls", "tlsverify", "experimental", "selinux-enabled", "debug", "ipv6",
    "raw-logs", "init", "rootless", "help", "version", "validate", "disable-legacy-registry",
    "cri-containerd", "fixed-cidr-v6-enabled",
}
DOCKERD_SHORT = {"H": "host", "D": "debug", "l": "log-level", "b": "bridge", "G": "group",
                 "p": "pidfile", "s": "storage-driver", "g": "data-root", "v": "version", "h": "help"}

# Flag name -> daemon.json key where they differ (dockerd's own mapping).
FLAG_TO_KEY = {
    "host": "hosts", "insecure-registry": "insecure-registries", "storage-opt": "storage-opts",
    "authorization-plugin": "authorization-plugins", "default-ulimit": "default-ulimits",
    "log-opt": "log-opts", "registry-mirror": "registry-mirrors", "dns-opt": "dns-opts",
    "label": "labels", "exec-opt": "exec-opts", "cluster-store-opt": "cluster-store-opts",
    "default-address-pool": "default-address-pools", "add-runtime": "runtimes",
    "node-generic-resource": "node-generic-resources", "feature": "features", "graph": "data-root",
}
LIST_KEYS = {"hosts", "insecure-registries", "storage-opts", "authorization-plugins",
             "registry-mirrors", "dns", "dns-opts", "dns-search", "labels", "exec-opts",
             "allow-nondistributable-artifacts", "node-generic-resources", "default-address-pools"}
INT_KEYS = {"mtu", "max-concurrent-downloads", "max-concurrent-uploads", "max-download-attempts",
            "shutdown-timeout", "network-control-plane-mtu"}
EFFECTIVE_DEFAULTS: dict[str, Any] = {
    "icc": True, "iptables": True, "ip-forward": True, "ip-masq": True, "userland-proxy": True,
    "live-restore": False, "no-new-privileges": False, "log-level": "info", "log-driver": "json-file",
    "experimental": False, "tls": False, "tlsverify": False, "selinux-enabled": False, "hosts": [],
    "insecure-registries": [], "storage-opts": [], "authorization-plugins": [], "default-ulimits": {},
    "userns-remap": "", "cgroup-parent": "", "seccomp-profile": "", "data-root": "/var/lib/docker",
}
# Flags that configure the process rather than the daemon: not settings dockerd compares.
_NOT_SETTINGS = {"config-file", "help", "version", "validate"}

# ---------------------------------------------------------------- secrets

def env_names(env: list[str] | None) -> tuple[list[str] | None, list[str]]:
    """Reduce ["NAME=value", ...] to the names, and list the names that look secret."""
    if env is None:
        return None, []
    names, secret = [], []
    for entry in env:
        name, _, value = entry.partition("=")
        names.append(name)
        if SECRET_NAME.search(name) or value_looks_secret(value):
            secret.append(name)
    return names, sorted(set(secret))


def redact(obj: Any) -> Any:
    """Copy of `obj` with values under secret-looking keys replaced and every string's secrets
    (URL credentials, token shapes) redacted; the evidence stage does the same for the bundle."""
    if isinstance(obj, dict):
        return {k: REDACTED if secret_key(k) and secret_value(v) else redact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


_ENV_STEP = re.compile(r"^(?P<head>(?:/bin/sh -c )?(?:#\(nop\)\s*)?)ENV\s+(?P<rest>.*)$", re.DOTALL)
_RUN_ARGS = re.compile(r"^(?P<head>(?:RUN\s+)?)\|(?P<n>\d+)\s+(?P<rest>.*)$", re.DOTALL)


def redact_build_step(text: str) -> str:
    """Drop values from an image history step: `ENV A=b` and build args `|2 A=b C=d cmd`."""
    m = _ENV_STEP.match(text)
    if m:
        rest = m["rest"]
        names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", rest) or rest.split()[:1]
        return f"{m['head']}ENV {' '.join(names)}"
    m = _RUN_ARGS.match(text)
    if m:
        words = m["rest"].split(" ")
        count = int(m["n"])
        args = [w.partition("=")[0] + "=" + REDACTED for w in words[:count]]
        return f"{m['head']}|{count} {' '.join(args + words[count:])}"
    return text


def _reduce_config_env(config: Any) -> list[str]:
    """Reduce Config.Env of an inspect document in place; return the secret-looking names."""
    if not isinstance(config, dict):
        return []
    names, secret = env_names(config.get("Env"))
    config["Env"] = names
    if isinstance(config.get("Cmd"), list):
        config["Cmd"] = [redact_build_step(c) if isinstance(c, str) else c for c in config["Cmd"]]
    return secret


# ---------------------------------------------------------------- API access

def _one_line(exc: BaseException) -> str:
    # a daemon's error text may echo what it was sent: redacted like any evidence
    return reads.one_line(str(exc) or type(exc).__name__)


@dataclass
class Api:
    """What the Docker API answered; every failure kept as a one-line reason."""

    endpoint: str
    info: dict[str, Any] | None = None
    version: dict[str, Any] | None = None
    unreachable: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    containers: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    plugins: Any = None
    swarm: dict[str, Any] | None = None


class DockerReader:
    """The Docker Engine API over :mod:`auditor.collect.reads` (unix://, tcp://, tcp:// with TLS):
    each call bounded by `timeout` and the source's deadline, each answer checked for shape."""

    def __init__(self, endpoint: str, timeout: float, tls_from_env: bool, deadline: Deadline) -> None:
        self.endpoint, self.timeout, self.deadline = endpoint, timeout, deadline
        self.target = _docker_endpoint(endpoint, tls_from_env)
        self.prefix = ""
        version = self._get("/version", dict, "version")
        api_version = str(version.get("ApiVersion") or "")
        if re.fullmatch(r"\d{1,2}\.\d{1,3}", api_version):
            self.prefix = f"/v{api_version}"
        self._version = version

    def _get(self, path: str, shape: type, what: str, query: dict[str, Any] | None = None) -> Any:
        target = self.prefix + urllib.parse.quote(path, safe="/:@") + (
            "?" + urllib.parse.urlencode(query) if query else "")
        response = reads.request(self.target, "GET", target, timeout=self.timeout, deadline=self.deadline)
        if response.status != 200:
            raise reads.ReadError(reads.error_message(response), response.status)
        doc = response.json(what)
        if not isinstance(doc, shape):
            raise reads.ReadError(f"{what}: expected a JSON {'object' if shape is dict else 'array'}, "
                                  f"got {type(doc).__name__}")
        return doc

    def version(self) -> dict[str, Any]:
        return self._version

    def ping(self) -> bool:
        return True

    def info(self) -> dict[str, Any]:
        return self._get("/info", dict, "info")

    def containers(self, all: bool = False) -> list[Any]:  # noqa: A002 (the SDK's name)
        return _listed(self._get("/containers/json", list, "container list", {"all": 1} if all else None),
                       "container list")

    def images(self) -> list[Any]:
        return _listed(self._get("/images/json", list, "image list"), "image list")

    def networks(self) -> list[Any]:
        return _listed(self._get("/networks", list, "network list"), "network list")

    def plugins(self) -> list[Any]:
        return self._get("/plugins", list, "plugin list")

    def inspect_container(self, cid: str) -> dict[str, Any]:
        return self._get(f"/containers/{cid}/json", dict, "container inspect")

    def top(self, cid: str) -> dict[str, Any]:
        return self._get(f"/containers/{cid}/top", dict, "container top")

    def inspect_image(self, iid: str) -> dict[str, Any]:
        return self._get(f"/images/{iid}/json", dict, "image inspect")

    def history(self, iid: str) -> list[Any]:
        return self._get(f"/images/{iid}/history", list, "image history")

    def inspect_network(self, nid: str) -> dict[str, Any]:
        return self._get(f"/networks/{nid}", dict, "network inspect")

    def inspect_swarm(self) -> dict[str, Any]:
        return self._get("/swarm", dict, "swarm inspect")

    def nodes(self) -> list[Any]:
        return self._get("/nodes", list, "swarm nodes")

    def services(self) -> list[Any]:
        return self._get("/services", list, "swarm services")

    def secrets(self) -> list[Any]:
        return self._get("/secrets", list, "swarm secrets")

    def close(self) -> None:
        pass


def _listed(items: list[Any], what: str) -> list[Any]:
    """A list answer whose every entry is an object with a text Id (what the collector joins on)."""
    for n, entry in enumerate(items):
        if not isinstance(entry, dict) or not isinstance(entry.get("Id"), str) or not entry["Id"]:
            raise reads.ReadError(f"{what}: entry {n} is not an object with an Id")
    return items


def _docker_endpoint(endpoint: str, tls_from_env: bool) -> reads.Endpoint:
    """Where a unix:// or tcp:// Docker address points, with TLS client settings as the docker CLI
    takes them from $DOCKER_CERT_PATH (default ~/.docker) and $DOCKER_TLS_VERIFY."""
    if endpoint.startswith("unix://"):
        return reads.Endpoint(unix_path=endpoint[len("unix://"):] or DEFAULT_SOCKET)
    parts = urllib.parse.urlsplit(endpoint)
    if endpoint.startswith(("tcp://", "http://", "https://")) and parts.hostname:
        tls = None
        verify = bool(os.environ.get("DOCKER_TLS_VERIFY"))
        cert_path = os.environ.get("DOCKER_CERT_PATH") or ""
        if endpoint.startswith("https://") or (tls_from_env and (cert_path or verify)):
            cert_path = cert_path or os.path.expanduser("~/.docker")
            tls = ssl.create_default_context(cafile=os.path.join(cert_path, "ca.pem") if verify else None)
            if not verify:
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
            cert, key = os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem")
            if os.path.isfile(cert) and os.path.isfile(key):
                tls.load_cert_chain(cert, key)
        port = parts.port or (2376 if tls else 2375)
        return reads.Endpoint(host=parts.hostname, port=port, tls=tls)
    raise reads.ReadError(f"unsupported Docker address {endpoint!r} (unix://, tcp:// or ssh://)")


class _SshClient:
    """An ssh:// daemon through the docker SDK (it runs `docker system dial-stdio` over ssh); each
    call runs under a watchdog so the source deadline and `timeout` bound it on the wall clock."""

    def __init__(self, endpoint: str, timeout: float, deadline: Deadline) -> None:
        self.timeout, self.deadline = timeout, deadline
        self.client = self._watch(_sdk_client, endpoint, timeout)

    def _watch(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.deadline.expired():
            raise reads.ReadError(f"timed out: the source deadline of {self.deadline.seconds:g}s passed")
        limit, by_deadline = self.deadline.bound(self.timeout)
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - carried to the caller
                box["error"] = exc
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(limit)
        if worker.is_alive():  # the SDK call is abandoned; its thread dies with the process
            raise reads.ReadError(f"timed out: the source deadline of {self.deadline.seconds:g}s passed"
                                  if by_deadline else f"timed out: no complete answer within {self.timeout:g}s")
        if "error" in box:
            raise reads.ReadError(_one_line(box["error"]))
        return box["value"]

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)
        return lambda *args, **kwargs: self._watch(method, *args, **kwargs)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a dead transport
            pass


def _sdk_client(endpoint: str, timeout: float) -> Any:
    import docker  # lazily: only ssh:// daemons need the SDK (and paramiko, the docker[ssh] extra)

    # Constructing the client asks the daemon for its API version (one GET /version).
    # paramiko when installed (the `ssh` extra), else the system's ssh client, as the docker CLI does
    system_ssh = importlib.util.find_spec("paramiko") is None
    return docker.APIClient(base_url=endpoint, timeout=timeout, max_pool_size=WORKERS + 2, use_ssh_client=system_ssh)


def _make_client(endpoint: str, timeout: float, tls_from_env: bool, deadline: Deadline | None = None) -> Any:
    """A client for the daemon at `endpoint`: the bounded reader, or the SDK for ssh://."""
    deadline = deadline or Deadline(None)
    if endpoint.startswith("ssh://"):
        return _SshClient(endpoint, timeout, deadline)
    return DockerReader(endpoint, timeout, tls_from_env, deadline)


def _guard(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """Run one API call; return (result, None) or (None, one-line reason)."""
    try:
        return fn(*args, **kwargs), None
    except Exception as exc:  # noqa: BLE001 - any SDK/transport error is evidence, not a crash
        return None, _one_line(exc)


def _unreachable_reason(endpoint: str, reason: str, timeout: float) -> str:
    if "timed out" in reason.lower() or "timeout" in reason.lower():
        reason = f"no answer within {timeout:g}s ({reason})"
    return f"cannot connect to the Docker daemon at {endpoint}: {reason}"


def query_api(endpoint: str, timeout: float, tls_from_env: bool = False, deadline: float | None = None) -> Api:
    """Ask the daemon everything the evidence needs, in parallel where it is per object; each call
    bounded by `timeout`, all of them by `deadline` seconds (wall clock)."""
    api = Api(endpoint)
    client, reason = _guard(_make_client, endpoint, timeout, tls_from_env, Deadline(deadline))
    if client is None:
        api.unreachable = _unreachable_reason(endpoint, reason or "", timeout)
        return api
    try:
        _query_with(client, api, timeout)
    finally:
        client.close()
    return api


def _query_with(client: Any, api: Api, timeout: float) -> None:
    api.version, reason = _guard(client.version)
    if reason:
        api.unreachable = _unreachable_reason(api.endpoint, reason, timeout)
        return
    api.info, reason = _guard(client.info)
    if reason is None and not isinstance(api.info, dict):
        api.info, reason = None, "info is not an object"
    if reason:
        api.unreachable = _unreachable_reason(api.endpoint, reason, timeout)
        return
    summaries, c_err = _guard(lambda: _listed(client.containers(all=True), "container list"))
    images, i_err = _guard(lambda: _listed(client.images(), "image list"))
    networks, n_err = _guard(lambda: _listed(client.networks(), "network list"))
    for name, err in (("docker.container", c_err), ("docker.image", i_err), ("docker.network", n_err)):
        if err:
            api.errors[name] = f"{name} list from {api.endpoint} failed: {err}"
    api.plugins, p_err = _guard(client.plugins)
    if p_err:
        api.errors["plugins"] = p_err
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        container_jobs = [(s, pool.submit(_container_details, client, s)) for s in summaries or []]
        image_jobs = [(s, pool.submit(_image_details, client, s["Id"])) for s in images or []]
        network_jobs = [(s, pool.submit(_checked, client.inspect_network, s["Id"], {"Id": str}, "network inspect"))
                        for s in networks or []]
        swarm = _swarm(client, api.info or {})
        api.containers = [{"summary": s, **job.result()} for s, job in container_jobs]
        api.images = [{"summary": s, **job.result()} for s, job in image_jobs]
        api.networks = [{"summary": s, "inspect": job.result()[0], "error": job.result()[1]}
                        for s, job in network_jobs]
    api.swarm = swarm


# Fields of an inspect answer that Docker always sends and the packs read: an answer without them
# (`{}`, a cut-off proxy reply) is not a container or image, whatever its status code.
_CONTAINER_FIELDS = {"Id": str, "State": dict, "Config": dict, "HostConfig": dict}
_IMAGE_FIELDS = {"Id": str}
_OPTIONAL_FIELDS = {"Mounts": list, "NetworkSettings": dict, "Config": dict, "ContainerConfig": dict,
                    "AppArmorProfile": str, "Name": str, "Image": str, "RootFS": dict}


# Nested fields the packs read, with their documented types (null is allowed: absent).
_NESTED_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "HostConfig": {"Privileged": bool, "ReadonlyRootfs": bool, "PublishAllPorts": bool, "SecurityOpt": list,
                   "CapAdd": list, "CapDrop": list, "Devices": list, "Ulimits": list, "PortBindings": dict,
                   "RestartPolicy": dict, "NetworkMode": str, "PidMode": str, "IpcMode": str, "UTSMode": str,
                   "UsernsMode": str, "CgroupParent": str, "Memory": int, "NanoCpus": int, "CpuShares": int,
                   "CpuQuota": int, "PidsLimit": int},
    "State": {"Running": bool, "StartedAt": str},
    "Config": {"User": str, "Healthcheck": dict, "Env": list, "Labels": dict},
}


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def check_inspect(doc: Any, required: dict[str, type], what: str) -> str | None:
    """None when `doc` has the shape the packs read, else the reason it cannot be judged."""
    if not isinstance(doc, dict):
        return f"{what} is not an object"
    for name, kind in required.items():
        if not isinstance(doc.get(name), kind) or (kind is str and not doc[name]):
            return f"{what} has no {name} {'text' if kind is str else 'object'}: not a valid answer"
    for name, kind in _OPTIONAL_FIELDS.items():
        if name not in required and doc.get(name) is not None and not isinstance(doc[name], kind):
            return f"{what}: {name} is {type(doc[name]).__name__}, not {_type_name(kind)}"
    for section, fields in _NESTED_FIELDS.items():
        inner = doc.get(section)
        if not isinstance(inner, dict):
            continue
        for name, kind in fields.items():
            value = inner.get(name)
            # bool is an int in Python: a number field holding true/false is wrong too
            wrong = value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool)))
            if wrong:
                return f"{what}: {section}.{name} is {type(value).__name__}, not {_type_name(kind)}"
    return None


def _checked(fn: Callable[..., Any], ident: str, required: dict[str, type], what: str) -> tuple[Any, str | None]:
    doc, err = _guard(fn, ident)
    if err is None:
        err = check_inspect(doc, required, what)
        if err is not None:
            doc = None
    return doc, err


def _container_details(client: Any, summary: dict[str, Any]) -> dict[str, Any]:
    inspect, err = _checked(client.inspect_container, summary["Id"], _CONTAINER_FIELDS, "container inspect")
    top, top_err = None, None
    running = (inspect or {}).get("State", {}).get("Running", summary.get("State") == "running")
    if running:
        top, top_err = _guard(client.top, summary["Id"])
        if top_err is None and not (isinstance(top, dict) and isinstance(top.get("Processes") or [], list)
                                    and isinstance(top.get("Titles") or [], list)):
            top, top_err = None, "container top is not an object with Titles and Processes lists"
    return {"inspect": inspect, "error": err, "running": running, "top": top, "top_error": top_err}


def _image_details(client: Any, image_id: str) -> dict[str, Any]:
    inspect, err = _checked(client.inspect_image, image_id, _IMAGE_FIELDS, "image inspect")
    history, h_err = _guard(client.history, image_id)
    if h_err is None and not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
        history, h_err = None, "image history is not a list of objects"
    return {"inspect": inspect, "error": err, "history": history, "history_error": h_err}


def _swarm(client: Any, info: dict[str, Any]) -> dict[str, Any] | None:
    swarm_info = info.get("Swarm") if isinstance(info.get("Swarm"), dict) else {}
    if swarm_info.get("LocalNodeState") != "active":
        return None
    out: dict[str, Any] = {"inspect": None, "nodes": [], "services": [], "secrets": [], "errors": {}}
    if not swarm_info.get("ControlAvailable"):
        return out  # workers cannot answer manager-only endpoints
    inspect, err = _guard(client.inspect_swarm)
    if isinstance(inspect, dict):
        inspect.pop("JoinTokens", None)
    out["inspect"] = inspect
    for name, call in (("nodes", client.nodes), ("services", client.services), ("secrets", client.secrets)):
        result, e = _guard(call)
        out[name] = result or []
        if e:
            out["errors"][name] = e
    if err:
        out["errors"]["inspect"] = err
    out["secrets"] = [{"ID": s.get("ID"), "Spec": {"Name": (s.get("Spec") or {}).get("Name"),
                                                   "Labels": (s.get("Spec") or {}).get("Labels")}}
                      for s in out["secrets"]]
    return out


# ---------------------------------------------------------------- dockerd process

@dataclass
class Process:
    """A running dockerd."""

    pid: int
    exe: str | None
    argv: list[str]
    flags: dict[str, list[str]]


def dockerd_flags(argv: list[str]) -> dict[str, list[str]]:
    """dockerd's argv (without argv[0]) parsed as dockerd would."""
    return parse_flags(argv, DOCKERD_BOOL_FLAGS, DOCKERD_SHORT)


def _read_process(proc: str, pid: str) -> Process | None:
    base = f"{proc}/{pid}"
    try:
        with open(f"{base}/comm", encoding="utf-8", errors="replace") as fh:
            comm = fh.read().strip()
    except OSError:
        return None
    try:
        exe: str | None = os.readlink(f"{base}/exe").removesuffix(" (deleted)")
    except OSError:
        exe = None
    if comm != "dockerd" and os.path.basename(exe or "") != "dockerd":
        return None
    try:
        with open(f"{base}/cmdline", "rb") as fh:
            argv = [a.decode("utf-8", errors="replace") for a in fh.read(host.MAX_READ).split(b"\0")]
    except OSError:
        return None
    if argv and argv[-1] == "":
        argv.pop()
    return Process(int(pid), exe, argv, dockerd_flags(argv[1:]))


def find_dockerd_processes(proc: str) -> list[Process]:
    """Every process whose comm or exe basename is `dockerd`."""
    try:
        pids = sorted((p for p in os.listdir(proc) if p.isdigit()), key=int)
    except OSError:
        return []
    return [p for p in (_read_process(proc, pid) for pid in pids) if p is not None]


def _same_socket(a: str, b: str) -> bool:
    return host.run_alias(host.host_path(a)) == host.run_alias(host.host_path(b))


def process_sockets(flags: dict[str, list[str]]) -> list[str]:
    """The unix sockets a dockerd listens on according to its -H flags."""
    hosts = flags.get("host") or [DEFAULT_ENDPOINT]
    out = []
    for h in hosts:
        if h.startswith("unix://"):
            out.append(h[len("unix://"):] or DEFAULT_SOCKET)
        elif h.startswith("fd://"):
            # Socket activation: docker.socket's ListenStream, /run/docker.sock on every distro.
            out.append("/run/docker.sock")
        elif h.startswith("/"):
            out.append(h)
    return out


def endpoint_is_local(endpoint: str) -> bool:
    """Whether a tcp:// or ssh:// daemon address names this machine (a loopback address,
    localhost or this host's own name); unix sockets and named pipes are local."""
    if endpoint.startswith(("unix://", "npipe://", "fd://")) or "://" not in endpoint:
        return True
    name = (urlsplit(endpoint).hostname or "").lower()
    return (name in ("localhost", "::1", "", socket.gethostname().lower())
            or name.startswith("127.") or name.endswith(".localhost"))


def choose_dockerd(processes: list[Process], endpoint: str, docker_root: str | None) -> Process | None:
    """The dockerd behind `endpoint`: by unix socket, else by data root, else the only one;
    none for an address on another machine.

    A unix endpoint that no running dockerd listens on matches none by default: attributing
    another daemon's flags to it would judge the wrong daemon.
    """
    unix = endpoint.startswith("unix://")
    if not unix and not endpoint_is_local(endpoint):
        return None  # a daemon on another machine: no local process (nor its flags) is it
    if unix:
        sock = endpoint[len("unix://"):]
        for p in processes:
            if any(_same_socket(sock, s) for s in process_sockets(p.flags)):
                return p
    if docker_root:
        for p in processes:
            root = (p.flags.get("data-root") or ["/var/lib/docker"])[-1]
            if host.host_path(root) == host.host_path(docker_root):
                return p
    return processes[0] if len(processes) == 1 and not unix else None


# ---------------------------------------------------------------- daemon.json and effective

def read_daemon_json(root: str, path: str) -> tuple[dict[str, Any] | None, str | None]:
    """(parsed daemon.json, None), (None, None) when absent, or (None, one-line reason)."""
    try:
        text = host.read_text(root, path)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{path}: cannot read: {exc.strerror or _one_line(exc)}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{path} line {exc.lineno} column {exc.colno}: {exc.msg}"
    if not isinstance(data, dict):
        return None, f"{path} line 1 column 1: the configuration must be a JSON object"
    return data, None


def _to_bool(value: str) -> bool | str:
    return {"true": True, "false": False}.get(value, value)


def _ulimits(values: list[str]) -> dict[str, Any]:
    # Same shape as daemon.json's "default-ulimits", so both sources compare alike.
    out: dict[str, Any] = {}
    for v in values:
        name, _, limits = v.partition("=")
        soft, _, hard = limits.partition(":")
        out[name] = {"Name": name, "Soft": _maybe_int(soft), "Hard": _maybe_int(hard or soft)}
    return out


def _maybe_int(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


def _key_values(values: list[str]) -> dict[str, str]:
    return dict(v.partition("=")[::2] for v in values)


def flags_as_settings(flags: dict[str, list[str]]) -> dict[str, Any]:
    """dockerd flags as daemon.json keys and JSON types."""
    out: dict[str, Any] = {}
    for flag, values in flags.items():
        if flag in _NOT_SETTINGS:
            continue
        key = FLAG_TO_KEY.get(flag, flag)
        if flag in DOCKERD_BOOL_FLAGS:
            out[key] = _to_bool(values[-1])
        elif key == "default-ulimits":
            out[key] = _ulimits(values)
        elif key in ("log-opts", "cluster-store-opts"):
            out[key] = _key_values(values)
        elif key == "features":
            out[key] = {k: _to_bool(v or "true") for k, v in _key_values(values).items()}
        elif key == "default-address-pools":
            out[key] = [_key_values(v.split(",")) for v in values]
        elif key in LIST_KEYS:
            out[key] = list(values)
        elif key in INT_KEYS:
            out[key] = _maybe_int(values[-1])
        else:
            out[key] = values[-1]
    return out


def effective_settings(daemon_json: dict[str, Any] | None,
                       flags: dict[str, list[str]]) -> tuple[dict[str, Any], list[str]]:
    """Defaults, then daemon.json, then flags; and the keys set both ways."""
    from_flags = flags_as_settings(flags)
    effective = copy.deepcopy(EFFECTIVE_DEFAULTS)
    effective.update(copy.deepcopy(daemon_json or {}))
    effective.update(from_flags)
    conflicts = sorted(k for k in from_flags if k in (daemon_json or {}))
    return effective, conflicts


def socket_paths(root: str, effective: dict[str, Any], socket_unit: str | None) -> list[str]:
    """Unix socket paths dockerd listens on, from `hosts` (default /var/run/docker.sock)."""
    hosts = effective.get("hosts") or []
    if isinstance(hosts, str):
        hosts = [hosts]
    paths: list[str] = []
    for h in hosts or [DEFAULT_ENDPOINT]:
        if h.startswith("unix://"):
            paths.append(h[len("unix://"):] or DEFAULT_SOCKET)
        elif h.startswith("fd://"):
            paths.extend(host.unit_listen_paths(root, socket_unit) or ["/run/docker.sock"])
    return list(dict.fromkeys(host.host_path(p) for p in paths))


# ---------------------------------------------------------------- items

def _redact_plugins(plugins: Any) -> Any:
    # A plugin's Settings.Env carries values set with `docker plugin set`: keep names only.
    plugins = copy.deepcopy(plugins)
    for plugin in plugins if isinstance(plugins, list) else []:
        settings = plugin.get("Settings") if isinstance(plugin, dict) else None
        if isinstance(settings, dict) and isinstance(settings.get("Env"), list):
            settings["Env"] = env_names(settings["Env"])[0]
    return redact(plugins)


def _redact_swarm(swarm: dict[str, Any]) -> dict[str, Any]:
    # Service specs carry their containers' environment: keep names only.
    swarm = copy.deepcopy(swarm)
    for service in swarm.get("services") or []:
        spec = ((service.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec")
        if isinstance(spec, dict) and isinstance(spec.get("Env"), list):
            spec["Env"] = env_names(spec["Env"])[0]
    return redact(swarm)


def daemon_item(api: Api, process: Process | None, root: str, daemon_json_arg: str | None,
                units: dict[str, str | None]) -> dict[str, Any]:
    """The one `docker.daemon` item."""
    flags = process.flags if process else {}
    path = daemon_json_arg or (flags.get("config-file") or [DEFAULT_DAEMON_JSON])[-1]
    remote = not endpoint_is_local(api.endpoint) and daemon_json_arg is None
    # This machine's daemon.json says nothing of a daemon on another machine.
    daemon_json, json_error = (None, None) if remote else read_daemon_json(root, path)
    effective, conflicts = effective_settings(daemon_json, flags)
    errors: dict[str, str] = {}
    if api.unreachable:
        errors.update(info=api.unreachable, version=api.unreachable)
        if process is None:
            # Neither the API nor a matching process: dockerd's flags, and so its effective
            # settings, are unknown; daemon.json alone would judge a half-known configuration.
            unknown = f"{api.unreachable}; no running dockerd listens there, so its flags are unknown"
            errors.update(flags=unknown, effective=unknown, socket_paths=unknown)
    if remote:
        elsewhere = (f"dockerd at {api.endpoint} runs on another machine: its flags and daemon.json cannot be "
                     "read from here (run `auditor collect docker` on that host and `auditor merge` the bundles)")
        errors.update(flags=elsewhere, effective=elsewhere, daemon_json=elsewhere, socket_paths=elsewhere)
    if json_error:
        errors.update(daemon_json=json_error, effective=json_error)
    if "plugins" in api.errors:
        errors["plugins"] = api.errors["plugins"]
    swarm = api.swarm
    if swarm and swarm.get("errors"):
        errors.update({f"swarm.{k}": v for k, v in swarm["errors"].items()})
    if swarm is not None:
        swarm = {k: v for k, v in swarm.items() if k != "errors"}
    safe_flags = {k: [REDACTED if secret_key(k) and secret_value(v) else redact_arg(v) for v in vs]
                  for k, vs in flags.items()}
    item: dict[str, Any] = {
        "subject": {"type": "daemon", "name": f"dockerd at {api.endpoint}"},
        "info": redact(api.info) if api.info is not None else None,
        "version": api.version,
        "endpoint": api.endpoint,
        "process": ({"pid": process.pid, "exe": process.exe, "argv": redact_argv(process.argv)}
                    if process else None),
        "flags": safe_flags,
        "daemon_json_path": path,
        "daemon_json": redact(daemon_json) if daemon_json is not None else None,
        "effective": redact(effective),
        "conflicts": conflicts,
        "units": units,
        "socket_paths": socket_paths(root, effective, units.get("docker.socket")),
        "swarm": _redact_swarm(swarm) if swarm is not None else None,
        "plugins": _redact_plugins(api.plugins) if api.plugins is not None else None,
    }
    if errors:
        item["errors"] = errors
    return item


def _image_tags(api: Api) -> dict[str, list[str]]:
    return {i["summary"]["Id"]: [t for t in i["summary"].get("RepoTags") or [] if t != "<none>:<none>"]
            for i in api.images}


def _command_column(top: dict[str, Any]) -> list[str]:
    titles = top.get("Titles") or []
    index = next((titles.index(t) for t in ("CMD", "COMMAND") if t in titles), len(titles) - 1)
    return [row[index] for row in top.get("Processes") or [] if len(row) > index >= 0]


def _run_path(path: str) -> str:
    """/var/run is a link to /run on current distributions: compare paths in one spelling."""
    path = os.path.normpath(path or "/")
    return "/run" + path[len("/var/run"):] if path == "/var/run" or path.startswith("/var/run/") else path


def socket_mounts(inspect: dict[str, Any] | None, sockets: list[str]) -> list[dict[str, Any]]:
    """Mounts that expose a daemon socket: the socket itself, a folder holding it, or any source
    named docker.sock / containerd.sock (a derived fact, so checks need no join)."""
    wanted = {_run_path(s) for s in sockets}
    found = []
    for mount in (inspect or {}).get("Mounts") or []:
        source = _run_path(str(mount.get("Source") or ""))
        if (source in wanted or any(s.startswith(source.rstrip("/") + "/") for s in wanted)
                or source.endswith(("/docker.sock", "/containerd.sock"))):
            found.append({"Source": mount.get("Source"), "Destination": mount.get("Destination"),
                          "RW": mount.get("RW")})
    return found


def container_item(entry: dict[str, Any], tags: dict[str, list[str]], sockets: list[str]) -> dict[str, Any]:
    """One `docker.container` item from the API answers for it."""
    summary, inspect = entry["summary"], copy.deepcopy(entry["inspect"])
    name = ((inspect or {}).get("Name") or (summary.get("Names") or ["/" + summary["Id"][:12]])[0]).lstrip("/")
    secret: list[str] = []
    if inspect is not None:
        secret = _reduce_config_env(inspect.get("Config"))
        log_config = (inspect.get("HostConfig") or {}).get("LogConfig") or {}
        if isinstance(log_config.get("Config"), dict):
            log_config["Config"] = redact(log_config["Config"])
    image_id = (inspect or {}).get("Image") or summary.get("ImageID")
    top = entry["top"]
    item: dict[str, Any] = {
        "subject": {"type": "container", "name": name, "id": summary["Id"],
                    # the image as the container was created from, and its labels: waivers select on them
                    "image": ((inspect or {}).get("Config") or {}).get("Image") or summary.get("Image"),
                    "labels": ((inspect or {}).get("Config") or {}).get("Labels") or None},
        "inspect": inspect,
        "processes": top,
        "process_commands": _command_column(top) if top else [],
        "env_secret_like": secret,
        "image": {"id": image_id, "tags": tags.get(image_id, [])},
        "socket_mounts": socket_mounts(inspect, sockets),
    }
    errors = {}
    if entry["error"]:
        # everything but the subject is read from (or derived from) the inspect answer
        errors["inspect"] = f"container {name}: inspect failed: {entry['error']}"
        for derived in ("env_secret_like", "image", "socket_mounts", "processes", "process_commands"):
            errors[derived] = errors["inspect"]
    if entry["top_error"] and not entry["error"]:
        errors["processes"] = errors["process_commands"] = f"container {name}: top failed: {entry['top_error']}"
    if errors:
        item["errors"] = errors
    return item


def image_item(entry: dict[str, Any]) -> dict[str, Any]:
    """One `docker.image` item."""
    summary, inspect = entry["summary"], copy.deepcopy(entry["inspect"])
    tags = [t for t in summary.get("RepoTags") or [] if t != "<none>:<none>"]
    secret: list[str] = []
    if inspect is not None:
        secret = sorted(set(_reduce_config_env(inspect.get("Config"))
                            + _reduce_config_env(inspect.get("ContainerConfig"))))
    history = copy.deepcopy(entry["history"])
    for step in history or []:
        if isinstance(step.get("CreatedBy"), str):
            step["CreatedBy"] = redact_build_step(step["CreatedBy"])
    item: dict[str, Any] = {"subject": {"type": "image", "name": tags[0] if tags else summary["Id"],
                                        "id": summary["Id"]},
                            "inspect": inspect, "history": history, "env_secret_like": secret}
    errors = {}
    if entry["error"]:
        errors["inspect"] = errors["env_secret_like"] = f"image {summary['Id']}: inspect failed: {entry['error']}"
    if entry["history_error"]:
        errors["history"] = f"image {summary['Id']}: history failed: {entry['history_error']}"
    if errors:
        item["errors"] = errors
    return item


def network_item(entry: dict[str, Any]) -> dict[str, Any]:
    """One `docker.network` item."""
    summary = entry["summary"]
    item: dict[str, Any] = {"subject": {"type": "network", "name": summary.get("Name") or summary["Id"],
                                        "id": summary["Id"]}, "inspect": entry["inspect"]}
    if entry["error"]:
        item["errors"] = {"inspect": f"network {summary.get('Name')}: inspect failed: {entry['error']}"}
    return item


# ---------------------------------------------------------------- host files

def _file_roles(root: str, daemon: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, path) for every host.file item docs/evidence.md lists."""
    effective, units = daemon["effective"], daemon["units"]
    roles: list[tuple[str, str]] = []
    for unit in ("docker.service", "docker.socket"):
        roles.append((unit, units.get(unit) or f"/lib/systemd/system/{unit}"))
    roles.append(("etc-docker", "/etc/docker"))
    roles += [("registry-cert", p) for p in host.walk_files(root, "/etc/docker/certs.d")]
    for role, key in (("tls-ca", "tlscacert"), ("tls-cert", "tlscert"), ("tls-key", "tlskey")):
        if isinstance(effective.get(key), str) and effective[key]:
            roles.append((role, effective[key]))
    roles += [("docker-sock", p) for p in daemon["socket_paths"]]
    roles += [("daemon-json", daemon["daemon_json_path"]), ("etc-default-docker", "/etc/default/docker"),
              ("etc-sysconfig-docker", "/etc/sysconfig/docker"),
              ("containerd-sock", "/run/containerd/containerd.sock")]
    return roles


def _audit_roles(root: str, daemon: dict[str, Any], docker_root: str, dockerd_exe: str | None) -> list[tuple[str, str]]:
    units = daemon["units"]
    return [
        ("dockerd", host.find_binary(root, "dockerd", dockerd_exe)),
        ("run-containerd", "/run/containerd"),
        ("docker-root", docker_root),
        ("etc-docker", "/etc/docker"),
        ("docker.service", units.get("docker.service") or "/lib/systemd/system/docker.service"),
        ("containerd.sock", "/run/containerd/containerd.sock"),
        ("docker.socket", units.get("docker.socket") or "/lib/systemd/system/docker.socket"),
        ("etc-default-docker", "/etc/default/docker"),
        ("daemon-json", daemon["daemon_json_path"]),
        ("containerd-config", "/etc/containerd/config.toml"),
        ("etc-sysconfig-docker", "/etc/sysconfig/docker"),
        ("containerd", host.find_binary(root, "containerd")),
        ("containerd-shim", host.find_binary(root, "containerd-shim")),
        ("containerd-shim-runc-v1", host.find_binary(root, "containerd-shim-runc-v1")),
        ("containerd-shim-runc-v2", host.find_binary(root, "containerd-shim-runc-v2")),
        ("runc", host.find_binary(root, "runc")),
    ]


def collect_host(collected: Collected, root: str, daemon: dict[str, Any], docker_root: str,
                 dockerd_exe: str | None, proc: str) -> None:
    """Add host.file, host.audit_path and host.info items."""
    accounts = host.Accounts(root)
    for role, path in _file_roles(root, daemon):
        collected.add("host.file", host.file_item(root, path, role, accounts))
    rules, source = host.load_audit_rules(root)
    for role, path in _audit_roles(root, daemon, docker_root, dockerd_exe):
        collected.add("host.audit_path", host.audit_item(root, path, role, rules, source))
    collected.add("host.info", host.host_info_item(root, docker_root, accounts, proc))
    collected.source("host.files", detail=root)
    collected.source("audit.rules", "ok" if source else "absent", detail=str(source or "no audit rules found"))


# ---------------------------------------------------------------- entry point

def collect_docker(*, docker_host: str | None = None, root: str = "/", daemon_json_path: str | None = None,
                   timeout: float = 10.0, deadline: float | None = None) -> Collected:
    """Collect the Docker daemon, its objects and the host facts around it; never raises
    for an unreachable daemon (the reason is recorded as evidence instead). Each API call takes
    at most `timeout` seconds, all of them together at most `deadline` seconds (wall clock)."""
    endpoint = docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_ENDPOINT
    collected = Collected()
    # TLS client certificates come from $DOCKER_CERT_PATH (and $DOCKER_TLS_VERIFY), as for the docker CLI,
    # also for an address given explicitly (a fleet of tcp:// hosts sharing one CA)
    tls_env = bool(os.environ.get("DOCKER_CERT_PATH") or os.environ.get("DOCKER_TLS_VERIFY"))
    api = query_api(endpoint, timeout, tls_from_env=docker_host is None or tls_env, deadline=deadline)
    if api.unreachable:
        collected.error("docker.api", api.unreachable, targets=API_TARGETS)
    else:
        collected.source("docker.api", detail=endpoint)
        for target, message in api.errors.items():
            if target in API_TARGETS:
                collected.error("docker.api", message, targets=(target,))
    proc = host.proc_dir(root)
    docker_root = (api.info or {}).get("DockerRootDir")
    process = choose_dockerd(find_dockerd_processes(proc), endpoint, docker_root)
    units = {u: host.find_unit(root, u) for u in ("docker.service", "docker.socket")}
    daemon = daemon_item(api, process, root, daemon_json_path, units)
    collected.add("docker.daemon", daemon)
    for key, message in (daemon.get("errors") or {}).items():
        if key == "plugins" or key.startswith("swarm."):
            collected.error("docker.api", f"{key}: {message}")
    where = f"pid {process.pid} {process.exe}" if process else f"no dockerd behind {endpoint} in {proc}"
    collected.source("dockerd.process", "ok" if process else "absent", detail=where)
    json_error = (daemon.get("errors") or {}).get("daemon_json")
    json_status = "error" if json_error else ("ok" if daemon["daemon_json"] is not None else "absent")
    collected.source("daemon.json", json_status, detail=json_error or daemon["daemon_json_path"])
    tags = _image_tags(api)
    sockets = [*daemon["socket_paths"], CONTAINERD_SOCKET]
    for target, entries, make in (("docker.container", api.containers, lambda e: container_item(e, tags, sockets)),
                                  ("docker.image", api.images, image_item),
                                  ("docker.network", api.networks, network_item)):
        for entry in entries:
            item = make(entry)
            collected.add(target, item)
            # a subject that could not be read leaves the evidence incomplete (exit 3), not only
            # its own controls in error
            for message in dict.fromkeys((item.get("errors") or {}).values()):
                collected.error("docker.api", message)
    if not api.unreachable:
        for target in API_TARGETS:
            collected.targets.setdefault(target, [])
    docker_root = docker_root or daemon["effective"].get("data-root") or "/var/lib/docker"
    collect_host(collected, root, daemon, docker_root, process.exe if process else None, proc)
    return collected
