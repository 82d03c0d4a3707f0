"""The Kubernetes node collector: component processes, static pods, kubelet config, file modes.

Read-only. Everything is read under an audited root (`--root`, "/" for the live node) with the
helpers of :mod:`auditor.collect.host`; paths in the evidence are host paths. See
docs/evidence-kubernetes.md for the targets (`node.process`, `node.kubelet`, `host.file`,
`node.info`).

Where flags come from, per component:

* the running process (found in /proc by executable name: comm, exe basename or argv[0]
  basename; `hyperkube NAME` too), else
* its static pod manifest (command + args of the pod's container), else
* for k3s, the `k3s server`/`k3s agent` process: k3s runs every component inside itself and
  passes extra flags with `--kube-apiserver-arg KEY=VALUE` (and `-controller-manager-`,
  `-scheduler-`, `kubelet-`, `kube-proxy-`, `etcd-` variants), also read from
  /etc/rancher/k3s/config.yaml. The flags k3s sets by itself are not visible there (they are
  only printed in its log), so an item from k3s carries a note saying its flags are partial.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from auditor.collect import host
from auditor.collect.collected import Collected
from auditor.common.argv import parse_flags
from auditor.common.secrets import REDACTED, redact_argv, redact_text, secret_key, secret_value, value_looks_secret

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet", "kube-proxy")
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
LAYOUTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_layouts.yaml")

# Boolean flags of the components (pflag: given alone they mean true and take no value).
BOOL_FLAGS = {
    "anonymous-auth", "profiling", "allow-privileged", "service-account-lookup", "client-cert-auth",
    "peer-client-cert-auth", "auto-tls", "peer-auto-tls", "use-service-account-credentials",
    "rotate-certificates", "rotate-server-certificates", "make-iptables-util-chains",
    "protect-kernel-defaults", "seccomp-default", "authentication-token-webhook",
    "service-account-extend-token-expiration", "enable-bootstrap-token-auth", "enable-aggregator-routing",
    "contention-profiling", "leader-elect", "enable-v2", "strict-reconfig-check", "fail-swap-on",
    "serialize-image-pulls", "enable-debugging-handlers", "cluster-init", "disable-cloud-controller",
    "debug", "v2-deprecated",
}

# k3s: the k3s flag carrying extra arguments of each component.
K3S_ARG_FLAGS = {
    "kube-apiserver-arg": "kube-apiserver", "kube-controller-manager-arg": "kube-controller-manager",
    "kube-scheduler-arg": "kube-scheduler", "kubelet-arg": "kubelet", "kube-proxy-arg": "kube-proxy",
    "etcd-arg": "etcd",
}
K3S_NOTE = ("k3s runs this component inside the k3s process: only the flags given with k3s's "
            "--*-arg options are visible here, not the ones k3s sets by itself")

# etcd reads every flag also from ETCD_<NAME> (upper case, dashes as underscores); flags win.
_ETCD_ENV = re.compile(r"^ETCD_[A-Z0-9_]+$")
_SECRET_NAME = re.compile(r"PASSW|SECRET|TOKEN|CREDENTIAL", re.IGNORECASE)


# ---------------------------------------------------------------- layouts

@lru_cache(maxsize=1)
def load_layouts() -> dict[str, dict[str, Any]]:
    """The per-distribution paths of node_layouts.yaml (package data)."""
    import yaml

    with open(LAYOUTS_FILE, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


# ---------------------------------------------------------------- YAML files

def read_yaml(root: str, path: str) -> tuple[Any, str | None, bool]:
    """(parsed document, error, exists): the error names file, line and column."""
    import yaml

    try:
        text = host.read_text(root, path)
    except FileNotFoundError:
        return None, None, False
    except OSError as exc:
        return None, f"{path}: cannot read: {exc.strerror or exc}", True
    from auditor.common.safeyaml import YamlLimitError, located, safe_load

    try:
        return safe_load(text, path), None, True
    except YamlLimitError as exc:
        return None, located(path, exc), True
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        return None, f"{path}{where}: invalid YAML: {problem}", True


# ---------------------------------------------------------------- processes

@dataclass
class Component:
    """One component's command line, from wherever it was found."""

    name: str
    source: str  # process | static-pod | k3s
    argv: list[str] | None
    pid: int | None = None
    exe: str | None = None
    manifest: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def flags(self) -> dict[str, list[str]]:
        return component_flags(self.argv[1:]) if self.argv else {}


def component_flags(args: list[str]) -> dict[str, list[str]]:
    """A component's arguments (without the program name) parsed as pflag would."""
    return parse_flags(args, BOOL_FLAGS, {"v": "v"})


def _read_argv(base: str) -> list[str] | None:
    try:
        with open(f"{base}/cmdline", "rb") as fh:
            raw = fh.read(host.MAX_READ)
    except OSError:
        return None
    argv = [a.decode("utf-8", errors="replace") for a in raw.split(b"\0")]
    if argv and argv[-1] == "":
        argv.pop()
    return argv or None


def _etcd_environ(base: str) -> dict[str, str]:
    """ETCD_* variables of a process (values of secret-named ones are not kept)."""
    try:
        with open(f"{base}/environ", "rb") as fh:
            raw = fh.read(host.MAX_READ)
    except OSError:
        return {}
    env = {}
    for entry in raw.split(b"\0"):
        name, sep, value = entry.decode("utf-8", errors="replace").partition("=")
        if sep and _ETCD_ENV.match(name) and not _SECRET_NAME.search(name):
            env[name] = value
    return env


def identify(comm: str, exe: str | None, argv: list[str]) -> tuple[str | None, list[str]]:
    """(component name or "k3s", argv with the component as argv[0]) or (None, argv)."""
    names = {os.path.basename(exe or ""), os.path.basename(argv[0]) if argv else ""}
    for name in COMPONENTS:
        # comm holds at most 15 characters: only a name that fits can be matched by it.
        if name in names or (len(name) <= 15 and comm == name):
            return name, argv
    if "hyperkube" in names and len(argv) > 1:
        sub = argv[1] if argv[1].startswith("kube-") or argv[1] in ("kubelet", "etcd") else f"kube-{argv[1]}"
        if sub in COMPONENTS:
            return sub, [sub, *argv[2:]]
    if "k3s" in names or comm.startswith(("k3s-server", "k3s-agent")):
        return "k3s", argv
    return None, argv


def scan_processes(proc: str) -> tuple[dict[str, Component], list[list[str]]]:
    """Running components by name (first pid wins) and the argv of k3s processes."""
    found: dict[str, Component] = {}
    k3s: list[list[str]] = []
    try:
        pids = sorted((p for p in os.listdir(proc) if p.isdigit()), key=int)
    except OSError:
        return found, k3s
    for pid in pids:
        base = f"{proc}/{pid}"
        try:
            with open(f"{base}/comm", encoding="utf-8", errors="replace") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        try:
            exe: str | None = os.readlink(f"{base}/exe").removesuffix(" (deleted)")
        except OSError:
            exe = None
        argv = _read_argv(base)
        if not argv:
            continue
        name, argv = identify(comm, exe, argv)
        if name == "k3s":
            k3s.append(argv)
        elif name and name not in found:
            env = _etcd_environ(base) if name == "etcd" else {}
            found[name] = Component(name, "process", argv, pid=int(pid), exe=exe, env=env)
    return found, k3s


# ---------------------------------------------------------------- static pods

def _container_of(pod: Any, name: str) -> dict[str, Any] | None:
    containers = ((pod or {}).get("spec") or {}).get("containers") if isinstance(pod, dict) else None
    if not isinstance(containers, list) or not containers:
        return None
    for c in containers:
        if isinstance(c, dict) and (c.get("name") == name or name in [os.path.basename(str(x))
                                                                    for x in (c.get("command") or [])[:1]]):
            return c
    return containers[0] if isinstance(containers[0], dict) else None


def static_pod(root: str, name: str, path: str) -> Component | None:
    """The component as its static pod manifest declares it, or None when there is no manifest."""
    doc, error, exists = read_yaml(root, path)
    if not exists:
        return None
    if error:
        return Component(name, "static-pod", None, manifest=path, errors={"flags": error, "argv": error})
    container = _container_of(doc, name)
    if container is None:
        reason = f"{path}: no container in spec.containers"
        return Component(name, "static-pod", None, manifest=path, errors={"flags": reason, "argv": reason})
    argv = [str(x) for x in (container.get("command") or [])] + [str(x) for x in (container.get("args") or [])]
    if argv and argv[0].startswith("-"):
        argv.insert(0, name)  # args only: the image's entrypoint is the component
    env = {}
    if name == "etcd":
        for var in container.get("env") or []:
            if isinstance(var, dict) and _ETCD_ENV.match(str(var.get("name", ""))) and "value" in var:
                if not _SECRET_NAME.search(str(var["name"])):
                    env[str(var["name"])] = str(var["value"])
    return Component(name, "static-pod", argv or [name], manifest=path, env=env)


# ---------------------------------------------------------------- k3s

def _k3s_config(root: str, layout: dict[str, Any]) -> tuple[dict[str, list[str]], list[str]]:
    """k3s's config.yaml (and drop-ins) as flags: {flag: [values]}, plus read errors."""
    files = list(layout.get("config_files") or [])
    if layout.get("config_dropins"):
        files += [host.host_path(layout["config_dropins"] + "/" + name)
                  for name in host.list_dir(root, layout["config_dropins"])
                  if name.endswith(".yaml") and not name.startswith(".")]
    flags: dict[str, list[str]] = {}
    errors = []
    for path in files:
        doc, error, _exists = read_yaml(root, path)
        if error:
            errors.append(error)
            continue
        for key, value in (doc or {}).items() if isinstance(doc, dict) else ():
            values = value if isinstance(value, list) else [value]
            flags.setdefault(str(key), []).extend("true" if v is True else "false" if v is False else str(v)
                                                  for v in values)
    return flags, errors


def k3s_components(root: str, layout: dict[str, Any], argvs: list[list[str]]) -> dict[str, Component]:
    """Components run inside k3s processes, with the flags k3s was told to pass them."""
    out: dict[str, Component] = {}
    config, errors = _k3s_config(root, layout)
    for argv in argvs:
        mode = next((a for a in argv[1:3] if a in ("server", "agent")), "server")
        flags = dict(config)
        for key, values in parse_flags(argv[2:] if len(argv) > 1 else [], BOOL_FLAGS, {}).items():
            flags[key] = values  # the command line wins over config.yaml
        names = COMPONENTS if mode == "server" else ("kubelet", "kube-proxy")
        for name in names:
            if name in out:
                continue
            if name == "etcd" and "cluster-init" not in flags and "etcd-arg" not in flags \
                    and not host.is_dir(root, layout["etcd_data_dir"]):
                continue  # k3s's default datastore is SQLite, not etcd
            arg_flag = next(k for k, v in K3S_ARG_FLAGS.items() if v == name)
            args = [f"--{v}" if not v.startswith("-") else v for v in flags.get(arg_flag, [])]
            comp = Component(name, "k3s", [name, *args], notes=[K3S_NOTE])
            if errors:
                comp.errors = {"flags": errors[0], "argv": errors[0]}
            out[name] = comp
    return out


# ---------------------------------------------------------------- node.process items

def _env_flags(env: dict[str, str]) -> dict[str, list[str]]:
    return {name[len("ETCD_"):].lower().replace("_", "-"): [value] for name, value in sorted(env.items())}


def redact_word(word: str) -> str:
    """One argv word or flag value without secrets: URL credentials stripped, and a value that
    looks like a secret (PEM, password URL, long random token) replaced. Judged by the value, not
    the flag name: names such as `use-service-account-credentials` carry booleans checks read."""
    name, sep, value = word.partition("=") if word.startswith("-") else ("", "", word)
    if value_looks_secret(value):
        return name + sep + REDACTED
    return redact_text(word)


def process_item(comp: Component) -> dict[str, Any]:
    """One `node.process` item (secret-looking argv values redacted, see :func:`redact_word`)."""
    flags = {k: [REDACTED if secret_key(k) and secret_value(v) else redact_word(v) for v in vs]
             for k, vs in comp.flags.items()}
    argv = [redact_word(a) for a in redact_argv(comp.argv)] if comp.argv else comp.argv
    item: dict[str, Any] = {
        "subject": {"type": "process", "name": comp.name}, "component": comp.name, "source": comp.source,
        "pid": comp.pid, "exe": comp.exe, "argv": argv, "flags": flags, "manifest": comp.manifest,
    }
    if comp.name == "etcd":
        env_flags = _env_flags(comp.env)
        item["env_flags"] = env_flags
        # etcd gives a command-line flag precedence over the same ETCD_* variable.
        item["flags"] = {**env_flags, **flags}
    if comp.notes:
        item["notes"] = comp.notes
    if comp.errors:
        item["errors"] = dict(comp.errors)
    return item


# ---------------------------------------------------------------- kubelet

# Kubelet flag -> (KubeletConfiguration field path, kind) for the fields CIS section 4.2 reads.
KUBELET_FLAG_FIELDS: dict[str, tuple[str, str]] = {
    "anonymous-auth": ("authentication.anonymous.enabled", "bool"),
    "authentication-token-webhook": ("authentication.webhook.enabled", "bool"),
    "client-ca-file": ("authentication.x509.clientCAFile", "str"),
    "authorization-mode": ("authorization.mode", "str"),
    "read-only-port": ("readOnlyPort", "int"),
    "port": ("port", "int"),
    "address": ("address", "str"),
    "streaming-connection-idle-timeout": ("streamingConnectionIdleTimeout", "str"),
    "protect-kernel-defaults": ("protectKernelDefaults", "bool"),
    "make-iptables-util-chains": ("makeIPTablesUtilChains", "bool"),
    "event-qps": ("eventRecordQPS", "int"),
    "event-burst": ("eventBurst", "int"),
    "tls-cert-file": ("tlsCertFile", "str"),
    "tls-private-key-file": ("tlsPrivateKeyFile", "str"),
    "tls-cipher-suites": ("tlsCipherSuites", "list"),
    "tls-min-version": ("tlsMinVersion", "str"),
    "rotate-certificates": ("rotateCertificates", "bool"),
    "rotate-server-certificates": ("serverTLSBootstrap", "bool"),
    "feature-gates": ("featureGates", "gates"),
    "pod-max-pids": ("podPidsLimit", "int"),
    "seccomp-default": ("seccompDefault", "bool"),
}

# KubeletConfiguration v1beta1 defaults (k8s.io/kubelet/config/v1beta1, SetDefaults) for the
# fields above, applied when a config file is used.
KUBELET_DEFAULTS: dict[str, Any] = {
    "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True, "cacheTTL": "2m0s"},
                       "x509": {"clientCAFile": ""}},
    "authorization": {"mode": "Webhook"},
    "readOnlyPort": 0,
    "port": 10250,
    "address": "0.0.0.0",
    "streamingConnectionIdleTimeout": "4h0m0s",
    "protectKernelDefaults": False,
    "makeIPTablesUtilChains": True,
    "eventRecordQPS": 50,
    "eventBurst": 100,
    "tlsCertFile": "",
    "tlsPrivateKeyFile": "",
    "tlsCipherSuites": [],
    "tlsMinVersion": "",
    "rotateCertificates": False,
    "serverTLSBootstrap": False,
    "featureGates": {},
    "podPidsLimit": -1,
    "seccompDefault": False,
}
# Without a config file kubelet keeps its older command-line defaults for these fields
# (cmd/kubelet/app/options: applyLegacyDefaults): anonymous access on, no webhook, AlwaysAllow,
# and the read-only port 10255 open.
KUBELET_LEGACY_DEFAULTS: dict[str, Any] = {
    "authentication.anonymous.enabled": True,
    "authentication.webhook.enabled": False,
    "authorization.mode": "AlwaysAllow",
    "readOnlyPort": 10255,
}


def _set_dotted(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        if not isinstance(doc.get(part), dict):
            doc[part] = {}
        doc = doc[part]
    doc[parts[-1]] = value


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out


def _flag_value(flag: str, kind: str, raw: str) -> Any:
    if kind == "bool":
        return {"true": True, "false": False}.get(raw, raw)
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            try:
                return float(raw)
            except ValueError:
                return raw
    if kind == "list":
        return [p.strip() for p in raw.split(",") if p.strip()]
    return raw


def _gates(values: list[str]) -> dict[str, Any]:
    """--feature-gates A=true,B=false (repeatable; later wins) -> {"A": True, "B": False}."""
    gates: dict[str, Any] = {}
    for value in values:
        for part in value.split(","):
            key, sep, val = part.strip().partition("=")
            if key and sep:
                gates[key.strip()] = {"true": True, "false": False}.get(val.strip().lower(), val.strip())
    return gates


def kubelet_effective(config: dict[str, Any] | None, flags: dict[str, list[str]]) -> dict[str, Any]:
    """The kubelet's settings as kubelet resolves them: defaults, then the config file, then flags.

    Flags win over the file, as kubelet documents; feature gates merge key by key.
    """
    effective = copy.deepcopy(KUBELET_DEFAULTS)  # never mutate the shared defaults
    if config is None:
        for path, value in KUBELET_LEGACY_DEFAULTS.items():
            _set_dotted(effective, path, value)
    else:
        effective = _deep_merge(effective, copy.deepcopy(config))
    for flag, (path, kind) in KUBELET_FLAG_FIELDS.items():
        if flag not in flags:
            continue
        if kind == "gates":
            current = effective.get("featureGates") if isinstance(effective.get("featureGates"), dict) else {}
            effective["featureGates"] = {**current, **_gates(flags[flag])}
        else:
            _set_dotted(effective, path, _flag_value(flag, kind, flags[flag][-1]))
    return effective


def kubelet_item(root: str, node: str, comp: Component | None, layout: dict[str, Any],
                 config_arg: str | None) -> dict[str, Any] | None:
    """The `node.kubelet` item, or None when neither a kubelet nor its config file is found."""
    flags = comp.flags if comp else {}
    config_path = config_arg or (flags.get("config") or [None])[-1] or layout.get("kubelet_config")
    config, error, exists = read_yaml(root, config_path) if config_path else (None, None, False)
    explicit = config_arg or (flags.get("config") or [None])[-1]
    if explicit and not exists:
        error = f"{config_path}: kubelet config file not found"  # kubelet refuses to start without it
        exists = True
    if comp is None and not exists:
        return None
    if error is None and exists and config is not None and not isinstance(config, dict):
        error = f"{config_path} line 1 column 1: a KubeletConfiguration must be a mapping"
    if error is None and exists and config is None:
        config = {}
    item: dict[str, Any] = {
        "subject": {"type": "kubelet", "name": f"kubelet on {node}"},
        "flags": {k: [REDACTED if secret_key(k) and secret_value(v) else redact_word(v) for v in vs]
                  for k, vs in flags.items()},
        "config_path": config_path if exists else None,
        "config": config if error is None else None,
        "effective": kubelet_effective(config if error is None and exists else None, flags),
        "source": comp.source if comp else "config-file",
    }
    if comp and comp.notes:
        item["notes"] = comp.notes
    errors = dict(comp.errors) if comp else {}
    if error:
        errors.update(config=error, effective=error)
    elif comp and "flags" in errors:
        errors["effective"] = errors["flags"]
    if errors:
        item["errors"] = errors
    return item


# ---------------------------------------------------------------- kube-proxy

def kube_proxy_effective(root: str, item: dict[str, Any]) -> None:
    """Add `config_path`, `config` and `effective.metricsBindAddress` to the kube-proxy item.

    A --config that cannot be read on the host (kubeadm mounts it into the kube-proxy pod from a
    ConfigMap) leaves `effective` as an error rather than guessing the default.
    """
    flags = item["flags"]
    path = (flags.get("config") or [None])[-1]
    item["config_path"], item["config"] = path, None
    if "flags" in (item.get("errors") or {}):
        item["errors"]["effective"] = item["errors"]["flags"]
    effective = {"metricsBindAddress": "127.0.0.1:10249"}  # kube-proxy's default
    if path:
        doc, error, exists = read_yaml(root, path)
        if error or not exists:
            reason = error or f"{path}: kube-proxy --config file not found on the host (mounted into its pod?)"
            item.setdefault("errors", {}).update(config=reason, effective=reason)
        elif isinstance(doc, dict):
            item["config"] = doc
            if doc.get("metricsBindAddress"):
                effective["metricsBindAddress"] = str(doc["metricsBindAddress"])
    if "metrics-bind-address" in flags:
        effective["metricsBindAddress"] = flags["metrics-bind-address"][-1]
    item["effective"] = effective


# ---------------------------------------------------------------- files

def _existing(root: str, path: str) -> bool:
    return host.lexists(root, path)


def _flag(items: dict[str, dict[str, Any]], name: str, flag: str) -> str | None:
    values = (items.get(name) or {}).get("flags", {}).get(flag)
    return values[-1] if values else None


def file_roles(root: str, layout: dict[str, Any], items: dict[str, dict[str, Any]],
               kubelet: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(role, host path) of every file and directory CIS Kubernetes 1.1 and 4.1 name."""
    roles: list[tuple[str, str]] = []
    short = {"kube-apiserver": "apiserver", "kube-controller-manager": "controller-manager",
             "kube-scheduler": "scheduler", "etcd": "etcd"}
    for name, role in short.items():
        path = (items.get(name) or {}).get("manifest") or (layout.get("manifests") or {}).get(name)
        if path:
            roles.append((f"{role}-manifest", path))
    for directory in layout.get("cni_dirs") or []:
        roles += [("cni-file", p) for p in host.walk_files(root, directory)]
    data_dir = _flag(items, "etcd", "data-dir")
    if data_dir or ("etcd" in items and layout.get("etcd_data_dir")) or _existing(root, layout["etcd_data_dir"]):
        roles.append(("etcd-data-dir", data_dir or layout["etcd_data_dir"]))
    for role, key, component in (("admin-kubeconfig", "admin_kubeconfig", None),
                                 ("super-admin-kubeconfig", "super_admin_kubeconfig", None),
                                 ("scheduler-kubeconfig", "scheduler_kubeconfig", "kube-scheduler"),
                                 ("controller-manager-kubeconfig", "controller_manager_kubeconfig",
                                  "kube-controller-manager")):
        path = (_flag(items, component, "kubeconfig") if component else None) or layout.get(key)
        if path:
            roles.append((role, path))
    if layout.get("pki_dir"):
        pki = layout["pki_dir"]
        roles.append(("pki-dir", pki))
        for path in host.walk_files(root, pki):
            if path.endswith(".crt"):
                roles.append(("pki-cert", path))
            elif path.endswith(".key"):
                roles.append(("pki-key", path))
    services = []
    for path in layout.get("kubelet_service") or []:
        if host.is_dir(root, path):
            services += host.walk_files(root, path)
        elif _existing(root, path):
            services.append(path)
    roles += [("kubelet-service", p) for p in services] or \
        ([("kubelet-service", layout["kubelet_service"][0])] if layout.get("kubelet_service") else [])
    kubelet_flags = (kubelet or {}).get("flags") or {}
    kubeconfig = (kubelet_flags.get("kubeconfig") or [None])[-1] or layout.get("kubelet_kubeconfig")
    if kubeconfig:
        roles.append(("kubelet-kubeconfig", kubeconfig))
    if kubelet and kubelet.get("config_path"):
        roles.append(("kubelet-config", kubelet["config_path"]))
    proxy = _flag(items, "kube-proxy", "kubeconfig") or layout.get("kube_proxy_kubeconfig")
    if proxy:
        roles.append(("kube-proxy-kubeconfig", proxy))
    if kubelet and "effective" not in (kubelet.get("errors") or {}):
        ca = ((kubelet["effective"].get("authentication") or {}).get("x509") or {}).get("clientCAFile")
        if isinstance(ca, str) and ca:
            roles.append(("client-ca-file", ca))
    return roles


# ---------------------------------------------------------------- distribution and entry point

def cluster_ca_sha256(root: str, kubeconfig: str | None) -> str | None:
    """The fingerprint of the cluster CA the kubelet's kubeconfig trusts (its first cluster's
    certificate-authority-data or certificate-authority file), so a merge can tell a node of
    another cluster. Only that certificate is read from the kubeconfig, never its credentials."""
    import base64
    import binascii

    from auditor.common.certs import first_cert_sha256

    if not kubeconfig:
        return None
    doc, error, exists = read_yaml(root, kubeconfig)
    clusters = doc.get("clusters") if isinstance(doc, dict) and not error else None
    first = clusters[0] if isinstance(clusters, list) and clusters and isinstance(clusters[0], dict) else {}
    cluster = first.get("cluster") if isinstance(first.get("cluster"), dict) else {}
    data, path = cluster.get("certificate-authority-data"), cluster.get("certificate-authority")
    if isinstance(data, str):
        try:
            return first_cert_sha256(base64.b64decode(data))
        except (binascii.Error, ValueError):
            return None
    if isinstance(path, str) and path:
        text = host.read_optional(root, path)
        return first_cert_sha256(text) if text else None
    return None


def detect_distribution(root: str, k3s_running: bool) -> str:
    """kubeadm, k3s, rke2 or unknown, from the layouts' marker paths (k3s also by its process)."""
    if k3s_running:
        return "k3s"
    for name in ("rke2", "k3s", "kubeadm"):
        if any(_existing(root, p) for p in load_layouts()[name]["detect"]):
            return name
    return "unknown"


def collect_node(*, root: str = "/", kubelet_config: str | None = None, node_name: str | None = None) -> Collected:
    """Collect this node's Kubernetes components, kubelet settings and file modes (read-only).

    ``node_name``: the node's Kubernetes name (a node collector Job passes spec.nodeName), which
    can differ from the host name (clouds name nodes after their DNS names)."""
    collected = Collected()
    proc = host.proc_dir(root)
    running, k3s = scan_processes(proc)
    distribution = detect_distribution(root, bool(k3s))
    layout = load_layouts()["kubeadm" if distribution == "unknown" else distribution]
    components: dict[str, Component] = dict(running)
    for name, path in (layout.get("manifests") or {}).items():
        if name not in components:
            comp = static_pod(root, name, path)
            if comp is not None:
                components[name] = comp
        elif _existing(root, path):
            components[name].manifest = path
    if k3s:
        for name, comp in k3s_components(root, layout, k3s).items():
            components.setdefault(name, comp)
    node = node_name or host.hostname(root)
    items: dict[str, dict[str, Any]] = {}
    for name in COMPONENTS:
        if name in components and name != "kubelet":
            items[name] = process_item(components[name])
            if name == "kube-proxy":
                kube_proxy_effective(root, items[name])
            collected.add("node.process", items[name])
    kubelet = kubelet_item(root, node, components.get("kubelet"), layout, kubelet_config)
    if "kubelet" in components:
        collected.add("node.process", process_item(components["kubelet"]))
    if kubelet is not None:
        collected.add("node.kubelet", kubelet)
    for name, comp in sorted(components.items()):
        where = f"pid {comp.pid} {comp.exe}" if comp.pid else (comp.manifest or comp.source)
        detail = next(iter(comp.errors.values())) if comp.errors else where
        collected.source(f"node.{name}", "error" if comp.errors else "ok", detail=detail)
    if kubelet is not None and kubelet.get("errors", {}).get("config"):
        collected.source("kubelet.config", "error", detail=kubelet["errors"]["config"])
    accounts = host.Accounts(root)
    seen: set[tuple[str, str]] = set()
    for role, path in file_roles(root, layout, items, kubelet):
        key = (role, host.host_path(path))
        if key not in seen:
            seen.add(key)
            collected.add("host.file", host.file_item(root, path, role, accounts))
    collected.source("node.files", detail=f"{root} ({distribution} layout)")
    roles = (["control-plane"] if any(n in components for n in CONTROL_PLANE) else []) + \
        (["etcd"] if "etcd" in components else []) + (["worker"] if "kubelet" in components or kubelet else [])
    kubeconfig = (((kubelet or {}).get("flags") or {}).get("kubeconfig") or [None])[-1] \
        or layout.get("kubelet_kubeconfig")
    info: dict[str, Any] = {"subject": {"type": "node", "name": node}, "roles": roles, "distribution": distribution,
                            "components": [n for n in COMPONENTS if n in components]}
    ca = cluster_ca_sha256(root, kubeconfig)
    if ca:
        info["cluster_ca_sha256"] = ca
    collected.add("node.info", info)
    collected.targets.setdefault("node.process", [])
    return collected
