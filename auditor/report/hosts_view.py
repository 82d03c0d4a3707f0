"""Reading a merged bundle's results per host: "fails on 3 of 40 worker nodes", and the hosts
with their own scores, worst first (results ``hosts`` and each control's ``hosts``)."""

from __future__ import annotations

from typing import Any

ROLE_NAMES = {"control-plane": "control plane", "etcd": "etcd", "worker": "worker", "docker-host": "Docker host",
              "unknown": "no role detected"}


def host_noun(results: dict[str, Any], count: int = 2) -> str:
    """What the hosts of a results document are: nodes, Docker hosts, or hosts when mixed."""
    kinds = {k for h in results.get("hosts") or [] if isinstance(h, dict) for k in h.get("kinds") or []}
    noun = "node" if kinds == {"node"} else "Docker host" if kinds == {"docker"} else "host"
    return noun if count == 1 else noun + "s"


# Hosts named in the line when this few fail ("fails on 2 of 40 nodes: w-7, w-9").
NAMED_HOSTS = 3


def _role_phrase(roles: dict[str, Any], status: str, total: int) -> str:
    """The per-role counts worth saying: roles with hosts of that status that are not every host."""
    parts = [f"{ROLE_NAMES.get(role, role)} {int(t.get(status, 0))} of {int(t.get('total', 0))}"
             for role, t in roles.items()
             if isinstance(t, dict) and int(t.get(status, 0)) and int(t.get("total", 0)) < total]
    return f" ({', '.join(parts)})" if parts else ""


def _named(names: Any) -> str:
    names = [str(n) for n in names or []] if isinstance(names, list) else []
    return f": {', '.join(names)}" if 0 < len(names) <= NAMED_HOSTS else ""


def control_hosts_text(control: dict[str, Any], noun: str) -> str:
    """One line on a control's verdict across hosts, or "" when it was not judged per host."""
    hosts = control.get("hosts")
    if not isinstance(hosts, dict) or not hosts.get("total"):
        return ""
    total, fail, error = int(hosts.get("total", 0)), int(hosts.get("fail", 0)), int(hosts.get("error", 0))
    roles = hosts.get("roles") if isinstance(hosts.get("roles"), dict) else {}
    if len(roles) == 1 and total > 1:
        role = next(iter(roles))
        label = ROLE_NAMES.get(role, role)
        noun = f"{label} {noun}" if role != "unknown" and not noun.startswith(label) else noun
        roles = {}
    if total == 1:
        noun = noun.removesuffix("s")
    if fail:
        text = f"fails on {fail} of {total} {noun}" + _role_phrase(roles, "fail", total) + _named(hosts.get("failing"))
        return text + (f"; could not be judged on {error}" + _named(hosts.get("erroring")) if error else "")
    if error:
        return (f"could not be judged on {error} of {total} {noun}" + _role_phrase(roles, "error", total)
                + _named(hosts.get("erroring")))
    return f"passes on {total} of {total} {noun}"


def hosts_rows(results: dict[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
    """The hosts table: each host's score and counts, worst first (as the results list them)."""
    rows = []
    for h in (results.get("hosts") or [])[:limit]:
        if not isinstance(h, dict):
            continue
        counts = h.get("counts") if isinstance(h.get("counts"), dict) else {}
        rows.append({"host": str(h.get("host", "")), "roles": ", ".join(ROLE_NAMES.get(str(r), str(r))
                                                                       for r in h.get("roles") or []),
                     "kinds": ", ".join(str(k) for k in h.get("kinds") or []),
                     "score": "-" if h.get("score") is None else f"{float(h['score']):.1f}",
                     "fail": int(counts.get("fail", 0)), "error": int(counts.get("error", 0)),
                     "pass": int(counts.get("pass", 0)), "complete": bool(h.get("complete"))})
    return rows
