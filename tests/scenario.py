"""A Docker host with a dozen good and bad containers, made on a real dockerd.

Used by the end-to-end tests (every per-container control's verdict is asserted for every
container) and by ``tests/record_demo.py`` (the bundled demo evidence is recorded from it).

Every container starts from HARDENED, which passes every per-container control, and changes one
or a few settings; ``fails`` lists exactly the controls that must then fail for it.
"""

from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import docker
import dockerd
from docker.types import Mount, Ulimit

NETWORK = "auditor-test-net"
LABELS = {dockerd.TEST_LABEL: "1", **dict([dockerd.RUN_LABEL.split("=", 1)])}

# Controls judged per container (5.1 is about the daemon; 5.23, 5.24 and 5.28 are manual).
CONTAINER_CONTROLS = ["4.1"] + [f"5.{n}" for n in range(2, 33) if n not in (23, 24, 28)]
# Judged only where the host has the security module (not applicable elsewhere).
LSM_CONTROLS = {"5.2": "apparmor", "5.3": "selinux"}

HARDENED: dict[str, Any] = {
    "command": ["sleep", "3600"],
    "user": "1000:1000",
    "healthcheck": {"test": ["CMD", "true"], "interval": 30_000_000_000},
    "ports": [80],
    "host_config": {
        "read_only": True,
        "mem_limit": 64 * 2**20,
        "cpu_shares": 512,
        "pids_limit": 64,
        "security_opt": ["no-new-privileges"],
        "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 3},
        "cap_drop": ["ALL"],
        "network_mode": NETWORK,
        "port_bindings": {80: ("127.0.0.1", None)},
        "ulimits": [Ulimit(name="nofile", soft=1024, hard=2048)],
    },
}


@dataclass
class Case:
    name: str
    fails: set[str]
    config: dict[str, Any] = field(default_factory=dict)    # top-level create_container changes
    host: dict[str, Any] = field(default_factory=dict)      # host config changes (None removes)
    start: bool = True
    note: str = ""


def _sshd_command() -> list[str]:
    # A shell script named sshd stays in the process list as "/bin/sh /tmp/s/sshd".
    script = ("mkdir -p /tmp/s && printf '#!/bin/sh\\nsleep 3600\\n' > /tmp/s/sshd"
              " && chmod +x /tmp/s/sshd && /tmp/s/sshd")
    return ["sh", "-c", script]


def cases(shared_dir: str) -> list[Case]:
    return [
        Case("hardened", set()),
        Case("defaults", {"4.1", "5.11", "5.12", "5.13", "5.19", "5.26", "5.27", "5.29", "5.30"},
             config={"user": None, "healthcheck": None, "ports": None},
             host={"read_only": None, "mem_limit": None, "cpu_shares": None, "pids_limit": None,
                   "security_opt": None, "restart_policy": None, "cap_drop": None, "network_mode": None,
                   "port_bindings": None, "ulimits": None},
             note="docker run with no hardening option"),
        Case("root-user", {"4.1"}, config={"user": "0:0"}),
        Case("host-pid", {"5.16"}, host={"pid_mode": "host"}),
        Case("host-ipc", {"5.17"}, host={"ipc_mode": "host"}),
        Case("host-uts", {"5.21"}, host={"uts_mode": "host"}),
        Case("host-network", {"5.10"}, config={"ports": None}, host={"network_mode": "host", "port_bindings": None}),
        Case("host-userns", {"5.31"}, host={"userns_mode": "host"}),
        Case("added-caps", {"5.4"}, host={"cap_add": ["SYS_ADMIN", "NET_ADMIN"]}),
        Case("privileged", {"5.4", "5.5", "5.22"}, host={"privileged": True}, start=False,
             note="created, not started: privileged containers cannot start on this machine"),
        Case("etc-mounted", {"5.6"}, host={"binds": {"/etc": {"bind": "/host/etc", "mode": "ro"}}}),
        Case("usr-share-rw", {"5.6"}, host={"binds": {"/usr/share": {"bind": "/mnt/share", "mode": "rw"}}}),
        Case("localtime-ro", set(), host={"binds": {"/etc/localtime": {"bind": "/etc/localtime", "mode": "ro"}}},
             note="a read-only file beneath /etc passes 5.6"),
        Case("docker-sock", {"5.32"},
             host={"binds": {"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}}}),
        Case("privileged-port", {"5.8"}, host={"port_bindings": {80: ("127.0.0.1", 80)}}),
        Case("all-interfaces", {"5.14"}, host={"port_bindings": {80: 18099}}),
        Case("publish-all", {"5.9"}, host={"publish_all_ports": True}),
        Case("restart-always", {"5.15"}, host={"restart_policy": {"Name": "always"}}),
        Case("restart-unlimited", {"5.15"}, host={"restart_policy": {"Name": "on-failure", "MaximumRetryCount": 0}}),
        Case("seccomp-unconfined", {"5.22"}, host={"security_opt": ["no-new-privileges", "seccomp=unconfined"]}),
        Case("host-device", {"5.18"}, host={"devices": ["/dev/null:/dev/xnull:rwm"]}),
        Case("shared-propagation", {"5.20"},
             host={"mounts": [Mount("/data", shared_dir, type="bind", propagation="rshared")]}, start=False,
             note="created only: rshared needs a shared source mount to start"),
        Case("cgroup-parent", {"5.25"}, host={"cgroup_parent": "auditor-test"}, start=False),
        Case("sshd", {"5.7"}, config={"command": _sshd_command()}, host={"tmpfs": {"/tmp": "rw,exec,mode=1777"}}),
    ]


def create_config(api: docker.APIClient, case: Case, image: str, prefix: str, port: int) -> dict[str, Any]:
    config = copy.deepcopy({k: v for k, v in HARDENED.items() if k != "host_config"})
    # Fixed loopback ports: dockerd's allocator picks random ports per address, so a random
    # 127.0.0.1 port can clash with a 0.0.0.0 one.
    host = {**HARDENED["host_config"], "port_bindings": {80: ("127.0.0.1", port)}}
    for key, value in case.config.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    for key, value in case.host.items():
        if value is None:
            host.pop(key, None)
        else:
            host[key] = value
    return {"image": image, "name": f"{prefix}{case.name}", "labels": LABELS, **config,
            "host_config": api.create_host_config(**host)}


class Scenario:
    """Create the scenario's containers on a daemon; remove them (and the network) afterwards."""

    def __init__(self, host: str, prefix: str = "auditor-test-"):
        self.host = host
        self.prefix = prefix
        self.api = docker.APIClient(base_url=host)
        self.shared_dir = tempfile.mkdtemp(prefix="auditor-shared-")
        self.cases = cases(self.shared_dir)

    def __enter__(self) -> Scenario:
        self.remove_containers()
        try:
            dockerd.ensure_busybox(self.host)
            self.api.create_network(NETWORK, driver="bridge", labels=LABELS)
            for index, case in enumerate(self.cases):
                config = create_config(self.api, case, dockerd.BUSYBOX_IMAGE, self.prefix, 18100 + index)
                created = self.api.create_container(**config)
                if case.start:
                    self.api.start(created["Id"])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove_containers()
        if os.path.isdir(self.shared_dir):
            os.rmdir(self.shared_dir)

    def remove_containers(self) -> None:
        dockerd.remove_test_containers(self.host)
        for net in self.api.networks(names=[NETWORK]):
            self.api.remove_network(net["Id"])
