"""Record the node fixture bases (tests/fixtures/bases/k8s_*.json, kubelet.json, node_*.json).

Builds a hardened kubeadm-like tree in a temporary root, starts stand-in kubelet and kube-proxy
processes whose /proc/PID/cmdline carries their flags, runs the node collector and keeps one
item per kind. Run: python3 tests/record_node_bases.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import nodetree  # noqa: E402

from auditor.collect.node import collect_node  # noqa: E402

BASES = os.path.join(HERE, "fixtures", "bases")
PROXY_FLAGS = ["--kubeconfig=/var/lib/kube-proxy/kubeconfig.conf", "--metrics-bind-address=127.0.0.1:10249"]


def main() -> None:
    with tempfile.TemporaryDirectory() as root, \
            nodetree.fake_process("kubelet", nodetree.KUBELET_FLAGS), \
            nodetree.fake_process("kube-proxy", PROXY_FLAGS):
        nodetree.kubeadm_tree(root)
        collected = collect_node(root=root)
    procs = {i["component"]: i for i in collected.targets["node.process"]}
    out = {
        "k8s_apiserver_process": procs["kube-apiserver"],
        "k8s_controller_manager_process": procs["kube-controller-manager"],
        "k8s_scheduler_process": procs["kube-scheduler"],
        "k8s_etcd_process": procs["etcd"],
        "k8s_kube_proxy_process": procs["kube-proxy"],
        "kubelet": collected.targets["node.kubelet"][0],
        "node_file": next(i for i in collected.targets["host.file"] if i["role"] == "apiserver-manifest"),
        "node_info": collected.targets["node.info"][0],
    }
    for item in out.values():
        if item.get("pid"):
            # Stable across recordings, and without the stand-in's Python interpreter.
            item["pid"], item["exe"] = 4242, f"/usr/local/bin/{item['component']}"
            item["argv"] = [item["argv"][0], *item["argv"][3:]]
            item["flags"].pop("c", None)
    out["kubelet"]["flags"].pop("c", None)
    for name, item in out.items():
        with open(os.path.join(BASES, f"{name}.json"), "w", encoding="utf-8") as fh:
            json.dump(item, fh, indent=1, sort_keys=True)
            fh.write("\n")
        print("wrote", name)


if __name__ == "__main__":
    main()
