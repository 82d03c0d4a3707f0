"""`auditor audit` without --target: collect every source that can be reached, into one bundle.

A source that cannot be reached (no Docker daemon answers, no Kubernetes component on this node,
no kubeconfig or in-cluster account, an API server that does not answer) is not an error here:
it is listed in the evidence metadata as a source with status "unreachable" and the reason, so
the bundle says what was looked for and not found, and nothing is skipped silently.
"""

from __future__ import annotations

import os
from typing import Any

from auditor.collect.collected import Collected


def docker_unreachable(docker_host: str | None, timeout: float) -> str | None:
    """None when a Docker daemon answers a ping at the endpoint, else the reason."""
    from auditor.collect.docker import DEFAULT_ENDPOINT, _make_client, _one_line

    endpoint = docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_ENDPOINT
    if endpoint.startswith("unix://") and not os.path.exists(endpoint[len("unix://"):]):
        return f"no Docker daemon: {endpoint[len('unix://'):]} does not exist"
    try:
        client = _make_client(endpoint, min(timeout, 5.0), tls_from_env=docker_host is None)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any transport error means "not reachable"
        return f"no Docker daemon answers at {endpoint}: {_one_line(exc)}"
    return None


def collect_reachable(*, root: str = "/", docker_host: str | None = None, daemon_json: str | None = None,
                      timeout: float = 10.0, deadline: float | None = None, kubelet_config: str | None = None,
                      kubeconfig: str | None = None,
                      context: str | None = None, in_cluster: bool = False, into: Collected | None = None,
                      reached: list[str] | None = None) -> tuple[Collected, list[str]]:
    """Collect docker, node and cluster where each is reachable; return the evidence and the
    names of the sources collected. `into` and `reached`, when given, are filled as each source
    finishes, so a caller interrupted midway (Ctrl-C) still has what was gathered."""
    collected = into if into is not None else Collected()
    reached = reached if reached is not None else []

    reason = docker_unreachable(docker_host, timeout)
    if reason is None:
        from auditor.collect.docker import collect_docker

        collected.merge(collect_docker(docker_host=docker_host, root=root, daemon_json_path=daemon_json,
                                       timeout=timeout, deadline=deadline))
        reached.append("docker")
    else:
        collected.source("docker", "unreachable", reason)

    node = _collect_node(root, kubelet_config)
    if isinstance(node, Collected):
        collected.merge(node)
        reached.append("node")
    else:
        collected.source("node", "unreachable", node)

    from auditor.collect.cluster import cluster_configured, collect_cluster

    reason = cluster_configured(kubeconfig, in_cluster)
    if reason is None:
        cluster = collect_cluster(kubeconfig=kubeconfig, context=context, in_cluster=in_cluster, timeout=timeout,
                                  deadline=deadline, required=False)
        collected.merge(cluster)
        if cluster.targets:
            reached.append("cluster")
    else:
        collected.source("cluster", "unreachable", reason)
    return collected, reached


def _collect_node(root: str, kubelet_config: str | None) -> Collected | str:
    """The node collector's evidence when it finds a Kubernetes component, else the reason."""
    try:
        from auditor.collect.node import collect_node
    except ImportError:  # the node collector is optional in this build
        return "the node collector is not installed"
    node = collect_node(root=root, kubelet_config=kubelet_config)
    info: list[dict[str, Any]] = node.targets.get("node.info") or []
    if (info and info[0].get("components")) or node.targets.get("node.kubelet"):
        return node
    return f"no Kubernetes component (process, static pod manifest or kubelet config) found under {root}"
