"""The API-defaulting stage of the manifests collector (auditor/collect/k8s_defaults.py,
docs/kubernetes-defaults.md): each default filled where absent, never where present, never into
a wrong shape or an object the API server would refuse; a live API object is left unchanged."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from auditor.collect.collected import Collected
from auditor.collect.k8s_defaults import apply_pod_defaults, image_pull_policy
from auditor.collect.k8s_objects import objects_to_targets
from auditor.collect.manifests import collect_manifests

FIELD_REF = {"fieldPath": "metadata.name"}


def sparse_pod() -> dict[str, Any]:
    """A Pod as a person writes it: every defaulted field left out (the parents present)."""
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "hostNetwork": True, "serviceAccount": "builder",
            "containers": [{
                "name": "app", "image": "registry.example/app:1.2",
                "ports": [{"containerPort": 8080}],
                "env": [{"name": "POD", "valueFrom": {"fieldRef": dict(FIELD_REF)}}],
                "livenessProbe": {"httpGet": {"port": 8080}},
                "lifecycle": {"postStart": {"httpGet": {"port": 8080}}, "preStop": {"httpGet": {"port": 8081}}},
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}},
            }],
            "initContainers": [{"name": "init", "image": "busybox", "ports": [{"containerPort": 9000}],
                                "resources": {"limits": {"memory": "64Mi"}}}],
            "ephemeralContainers": [{"name": "debug", "image": "busybox:latest", "ports": [{"containerPort": 7000}]}],
            "volumes": [
                {"name": "scratch"},
                {"name": "host", "hostPath": {"path": "/var/log"}},
                {"name": "creds", "secret": {"secretName": "creds"}},
                {"name": "conf", "configMap": {"name": "conf"}},
                {"name": "info", "downwardAPI": {"items": [{"path": "name", "fieldRef": dict(FIELD_REF)}]}},
                {"name": "token", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token"}},
                    {"downwardAPI": {"items": [{"path": "name", "fieldRef": dict(FIELD_REF)}]}}]}},
                {"name": "claim", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
            ],
        },
    }


C0, INIT, DEBUG = ("spec", "containers", 0), ("spec", "initContainers", 0), ("spec", "ephemeralContainers", 0)
VOL = ("spec", "volumes")
# (path into the Pod, the default the API server fills there)
CASES: list[tuple[tuple[Any, ...], Any]] = [
    (("spec", "dnsPolicy"), "ClusterFirst"),
    (("spec", "restartPolicy"), "Always"),
    (("spec", "securityContext"), {}),
    (("spec", "terminationGracePeriodSeconds"), 30),
    (("spec", "schedulerName"), "default-scheduler"),
    (("spec", "serviceAccountName"), "builder"),
    (("spec", "enableServiceLinks"), True),
    ((*C0, "imagePullPolicy"), "IfNotPresent"),
    ((*C0, "terminationMessagePath"), "/dev/termination-log"),
    ((*C0, "terminationMessagePolicy"), "File"),
    ((*C0, "ports", 0, "protocol"), "TCP"),
    ((*C0, "ports", 0, "hostPort"), 8080),
    ((*C0, "env", 0, "valueFrom", "fieldRef", "apiVersion"), "v1"),
    ((*C0, "livenessProbe", "timeoutSeconds"), 1),
    ((*C0, "livenessProbe", "periodSeconds"), 10),
    ((*C0, "livenessProbe", "successThreshold"), 1),
    ((*C0, "livenessProbe", "failureThreshold"), 3),
    ((*C0, "livenessProbe", "httpGet", "path"), "/"),
    ((*C0, "livenessProbe", "httpGet", "scheme"), "HTTP"),
    ((*C0, "lifecycle", "postStart", "httpGet", "path"), "/"),
    ((*C0, "lifecycle", "preStop", "httpGet", "scheme"), "HTTP"),
    ((*C0, "resources", "requests", "memory"), "1Gi"),
    ((*INIT, "imagePullPolicy"), "Always"),
    ((*INIT, "ports", 0, "hostPort"), 9000),
    ((*INIT, "resources", "requests"), {"memory": "64Mi"}),
    ((*DEBUG, "imagePullPolicy"), "Always"),
    ((*DEBUG, "terminationMessagePolicy"), "File"),
    ((*DEBUG, "ports", 0, "protocol"), "TCP"),
    ((*VOL, 0, "emptyDir"), {}),
    ((*VOL, 1, "hostPath", "type"), ""),
    ((*VOL, 2, "secret", "defaultMode"), 0o644),
    ((*VOL, 3, "configMap", "defaultMode"), 0o644),
    ((*VOL, 4, "downwardAPI", "defaultMode"), 0o644),
    ((*VOL, 4, "downwardAPI", "items", 0, "fieldRef", "apiVersion"), "v1"),
    ((*VOL, 5, "projected", "defaultMode"), 0o644),
    ((*VOL, 5, "projected", "sources", 0, "serviceAccountToken", "expirationSeconds"), 3600),
    ((*VOL, 5, "projected", "sources", 1, "downwardAPI", "items", 0, "fieldRef", "apiVersion"), "v1"),
    ((*VOL, 6, "ephemeral", "volumeClaimTemplate", "spec", "volumeMode"), "Filesystem"),
]
IDS = [".".join(str(p) for p in path[1:]) for path, _ in CASES]


def text_path(path: tuple[Any, ...]) -> str:
    """("spec", "containers", 0, "image") -> "spec.containers[0].image", as the stage records it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def get(obj: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        obj = obj[part]
    return obj


def parent(obj: Any, path: tuple[Any, ...]) -> Any:
    return get(obj, path[:-1])


@pytest.mark.parametrize(("path", "value"), CASES, ids=IDS)
def test_an_absent_field_is_filled_with_the_api_default(path, value):
    pod = sparse_pod()
    assert path[-1] not in parent(pod, path)
    filled, refused = apply_pod_defaults(pod, "Pod")
    assert refused is None
    assert get(pod, path) == value
    assert any(p == text_path(path) or p.startswith(text_path(path) + ".") for p in filled)


@pytest.mark.parametrize(("path", "value"), CASES, ids=IDS)
def test_a_null_field_is_absent_and_filled(path, value):
    if path[-2] == "requests":
        pytest.skip("a resource key with a null quantity is present for the API server (decoded as 0): kept")
    pod = sparse_pod()
    parent(pod, path)[path[-1]] = None
    apply_pod_defaults(pod, "Pod")
    assert get(pod, path) == value


@pytest.mark.parametrize(("path", "value"), CASES, ids=IDS)
def test_a_present_field_is_never_changed(path, value):
    pod = sparse_pod()
    written = ["as written"]  # a value of another type and shape: kept, whatever it is
    parent(pod, path)[path[-1]] = written
    filled, _ = apply_pod_defaults(pod, "Pod")
    assert get(pod, path) is written and get(pod, path) == ["as written"]
    assert text_path(path) not in filled


DEEP = [(case, case_id) for case, case_id in zip(CASES, IDS, strict=True) if len(case[0]) > 3]


@pytest.mark.parametrize(("path", "value"), [case for case, _ in DEEP], ids=[case_id for _, case_id in DEEP])
def test_a_wrong_shaped_parent_is_left_alone(path, value):
    pod = sparse_pod()
    holder = parent(pod, path[:-1])
    holder[path[-2]] = "not an object"
    filled, _ = apply_pod_defaults(pod, "Pod")
    assert holder[path[-2]] == "not an object"
    assert not any(p.startswith(text_path(path[:-1])) for p in filled)


@pytest.mark.parametrize("spec", [
    None, "a string", [], {}, {"containers": []}, {"containers": "app"}, {"containers": [{"image": "x"}]},
    {"containers": [{"name": "", "image": "x"}]}, {"containers": ["app"]},
    {"containers": [{"name": "a", "image": "x"}], "initContainers": {"name": "i"}},
    {"containers": [{"name": "a", "image": "x"}], "ephemeralContainers": [{"image": "busybox"}]},
], ids=["none", "string", "list", "empty", "no-containers", "containers-string", "unnamed", "empty-name",
        "container-string", "init-not-list", "unnamed-ephemeral"])
def test_an_object_the_api_server_refuses_gets_no_default(spec):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}
    before = copy.deepcopy(pod)
    filled, refused = apply_pod_defaults(pod, "Pod")
    assert filled == [] and refused
    assert pod == before


def test_pod_only_defaults_are_not_filled_into_templates():
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"):
        pod = sparse_pod()
        filled, _ = apply_pod_defaults(pod, kind)
        spec = pod["spec"]
        assert "enableServiceLinks" not in spec
        assert "hostPort" not in spec["containers"][0]["ports"][0]  # the v1.28+ template behaviour
        assert spec["containers"][0]["resources"]["requests"] == {"cpu": "500m"}
        assert "requests" not in spec["initContainers"][0]["resources"]
        assert spec["dnsPolicy"] == "ClusterFirst" and spec["volumes"][0] == {"name": "scratch", "emptyDir": {}}
        # a Job's pod may not restart Always: the default would make the Job invalid
        assert ("restartPolicy" in spec) is (kind not in ("Job", "CronJob")), kind
        assert ("spec.restartPolicy" in filled) is (kind not in ("Job", "CronJob"))


def test_host_ports_only_with_host_networking_and_never_for_ephemeral_containers():
    pod = sparse_pod()
    apply_pod_defaults(pod, "Pod")
    assert "hostPort" not in pod["spec"]["ephemeralContainers"][0]["ports"][0]
    pod = sparse_pod()
    pod["spec"]["hostNetwork"] = False
    apply_pod_defaults(pod, "Pod")
    assert "hostPort" not in pod["spec"]["containers"][0]["ports"][0]
    pod = sparse_pod()
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"  # not a number: left alone
    apply_pod_defaults(pod, "Pod")
    assert "hostPort" not in pod["spec"]["containers"][0]["ports"][0]


def test_ephemeral_containers_get_no_probe_defaults():
    pod = sparse_pod()
    pod["spec"]["ephemeralContainers"][0]["readinessProbe"] = {"httpGet": {"port": 1}}  # invalid there
    apply_pod_defaults(pod, "Pod")
    assert pod["spec"]["ephemeralContainers"][0]["readinessProbe"] == {"httpGet": {"port": 1}}


def test_a_volume_is_an_empty_dir_only_when_it_names_no_source_and_nothing_unknown():
    pod = sparse_pod()
    pod["spec"]["volumes"] = [{"name": "a"}, {"name": "b", "hostpath": {"path": "/"}}, {"name": "c", "emptyDir": None},
                              {"name": "d", "secret": {}, "configMap": {}}, {"nameless": True}, "e"]
    filled, _ = apply_pod_defaults(pod, "Pod")
    assert pod["spec"]["volumes"] == [{"name": "a", "emptyDir": {}}, {"name": "b", "hostpath": {"path": "/"}},
                                      {"name": "c", "emptyDir": {}}, {"name": "d", "secret": {}, "configMap": {}},
                                      {"nameless": True}, "e"]
    volumes = [p for p in filled if p.startswith("spec.volumes")]
    assert volumes == ["spec.volumes[0].emptyDir", "spec.volumes[2].emptyDir"]


def test_service_account_fields_mirror_each_other_as_the_v1_conversion_does():
    pod = sparse_pod()
    del pod["spec"]["serviceAccount"]
    pod["spec"]["serviceAccountName"] = "runner"
    apply_pod_defaults(pod, "Pod")
    assert pod["spec"]["serviceAccount"] == "runner"
    pod = sparse_pod()
    pod["spec"]["serviceAccountName"] = "other"  # both set and different: neither changed
    apply_pod_defaults(pod, "Pod")
    assert (pod["spec"]["serviceAccountName"], pod["spec"]["serviceAccount"]) == ("other", "builder")
    pod = sparse_pod()
    del pod["spec"]["serviceAccount"]
    apply_pod_defaults(pod, "Pod")  # neither: the admission plugin's "default" is not ours to fill
    assert "serviceAccountName" not in pod["spec"] and "serviceAccount" not in pod["spec"]


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"), ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ("registry.example:5000/team/app", "Always"), ("registry.example:5000/team/app:v2", "IfNotPresent"),
    ("localhost/app:latest", "Always"), ("registry:5000", "IfNotPresent"), ("ghcr.io/a/b:LATEST", "IfNotPresent"),
    ("Nginx", "IfNotPresent"), ("a" * 64, "IfNotPresent"), ("nginx:", "IfNotPresent"), ("bad image", "IfNotPresent"),
])
def test_image_pull_policy_follows_the_tag(image, policy):
    assert image_pull_policy(image) == policy


def test_no_pull_policy_without_an_image():
    pod = sparse_pod()
    del pod["spec"]["containers"][0]["image"]
    pod["spec"]["initContainers"][0]["image"] = 3
    apply_pod_defaults(pod, "Pod")
    assert "imagePullPolicy" not in pod["spec"]["containers"][0]
    assert "imagePullPolicy" not in pod["spec"]["initContainers"][0]


def test_defaulting_twice_fills_nothing_the_second_time():
    for kind in ("Pod", "Deployment", "CronJob"):
        pod = sparse_pod()
        first, _ = apply_pod_defaults(pod, kind)
        once = copy.deepcopy(pod)
        second, refused = apply_pod_defaults(pod, kind)
        assert first and second == [] and refused is None and pod == once


def live_pod() -> dict[str, Any]:
    """A Pod as `kubectl get pod -o json` returns it from an API server (defaulted, admitted)."""
    return json.loads("""{
 "apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "web-5d9c7b6b8f-x2x7k", "namespace": "shop", "uid": "0c1d", "resourceVersion": "4711",
              "creationTimestamp": "2026-11-02T10:00:00Z", "labels": {"app": "web"},
              "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d9c7b6b8f",
                                   "uid": "aa", "controller": true, "blockOwnerDeletion": true}]},
 "spec": {
  "containers": [{"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                  "ports": [{"containerPort": 80, "protocol": "TCP"}],
                  "env": [{"name": "POD",
                           "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                  "readinessProbe": {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1,
                                     "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                  "resources": {"limits": {"memory": "128Mi"}, "requests": {"memory": "128Mi"}},
                  "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false},
                  "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                  "volumeMounts": [{"name": "kube-api-access-7lq2b", "readOnly": true,
                                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
  "dnsPolicy": "ClusterFirst", "enableServiceLinks": true, "nodeName": "node-1",
  "preemptionPolicy": "PreemptLowerPriority", "priority": 0, "restartPolicy": "Always",
  "schedulerName": "default-scheduler", "securityContext": {}, "serviceAccount": "default",
  "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
  "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
                   "tolerationSeconds": 300}],
  "volumes": [{"name": "kube-api-access-7lq2b", "projected": {"defaultMode": 420, "sources": [
     {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
     {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
     {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                   "fieldPath": "metadata.namespace"}}]}}]}},
     {"name": "logs", "hostPath": {"path": "/var/log", "type": ""}},
     {"name": "cache", "emptyDir": {}}]},
 "status": {"phase": "Running", "qosClass": "Burstable", "startTime": "2026-11-02T10:00:01Z"}}""")


def live_deployment() -> dict[str, Any]:
    """A Deployment as the API server stores it: its template defaulted, pod-only fields absent."""
    return json.loads("""{
 "apiVersion": "apps/v1", "kind": "Deployment",
 "metadata": {"name": "api", "namespace": "shop", "uid": "d1", "generation": 1},
 "spec": {"replicas": 2, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
  "selector": {"matchLabels": {"app": "api"}},
  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
  "template": {"metadata": {"labels": {"app": "api"}}, "spec": {
   "containers": [{"name": "api", "image": "registry.example/api", "imagePullPolicy": "Always",
                   "ports": [{"containerPort": 8443, "protocol": "TCP"}],
                   "resources": {"limits": {"cpu": "1"}},
                   "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
   "initContainers": [{"name": "migrate", "image": "registry.example/api:2", "imagePullPolicy": "IfNotPresent",
                       "terminationMessagePath": "/dev/termination-log",
                       "terminationMessagePolicy": "FallbackToLogsOnError"}],
   "hostNetwork": true, "serviceAccountName": "api", "serviceAccount": "api",
   "dnsPolicy": "ClusterFirstWithHostNet", "restartPolicy": "Always", "schedulerName": "default-scheduler",
   "securityContext": {"runAsNonRoot": true}, "terminationGracePeriodSeconds": 30,
   "volumes": [{"name": "conf", "configMap": {"name": "api", "defaultMode": 420}},
               {"name": "tls", "secret": {"secretName": "api-tls", "defaultMode": 256}}]}}},
 "status": {"replicas": 2}}""")


@pytest.mark.parametrize("make", [live_pod, live_deployment], ids=["pod", "deployment"])
def test_a_live_api_object_is_unchanged(make):
    obj = make()
    before = make()
    pod = obj if obj["kind"] == "Pod" else {"kind": "Pod", "metadata": {}, "spec": obj["spec"]["template"]["spec"]}
    filled, refused = apply_pod_defaults(pod, obj["kind"])
    assert (filled, refused) == ([], None)
    assert obj == before


def test_live_objects_through_the_collector_get_no_defaults_recorded():
    collected = Collected()
    objects_to_targets([(live_pod(), None), (live_deployment(), None)], collected, cluster_name="c", api_defaults=True)
    items = collected.targets["k8s.pod"] + collected.targets["k8s.container"]
    assert len(collected.targets["k8s.pod"]) == 2 and len(collected.targets["k8s.container"]) == 3
    assert not [item for item in items if "api_defaults" in item or "api_defaults_skipped" in item]
    source = next(s for s in collected.sources if s["name"] == "manifests.api-defaults")
    assert source["detail"].startswith("API server defaults filled in 0 of 2 pods and pod templates (0 fields")


def test_the_manifests_collector_records_what_it_filled(tmp_path):
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "half", "namespace": "ns"},
              "spec": {"template": {"spec": {"containers": "app"}}}}
    path = tmp_path / "all.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [sparse_pod(), broken]}))
    collected = collect_manifests([str(path)])
    pods = {item["subject"]["name"]: item for item in collected.targets["k8s.pod"]}
    pod = pods["ns/p"]
    assert "object.spec.dnsPolicy" in pod["api_defaults"]
    assert "object.spec.containers[0].imagePullPolicy" in pod["api_defaults"]
    assert pod["object"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert "api_defaults" not in pods["ns/half"]
    assert pods["ns/half"]["api_defaults_skipped"].endswith("(spec.containers is not a non-empty list)")
    containers = {item["subject"]["name"]: item for item in collected.targets["k8s.container"]}
    app = containers["ns/p:app"]
    assert app["container"]["imagePullPolicy"] == "IfNotPresent" and app["pod"]["dnsPolicy"] == "ClusterFirst"
    assert "container.imagePullPolicy" in app["api_defaults"] and "pod.dnsPolicy" in app["api_defaults"]
    assert "container.ports[0].hostPort" in app["api_defaults"]
    assert not [p for p in app["api_defaults"] if "initContainers" in p or p.startswith("object.")]
    assert "container.imagePullPolicy" in containers["ns/p:debug"]["api_defaults"]
    source = next(s for s in collected.sources if s["name"] == "manifests.api-defaults")
    assert source["detail"].startswith("API server defaults filled in 1 of 2 pods and pod templates (")
    assert source["detail"].endswith("; 1 the API server would refuse left as written")


@pytest.mark.parametrize(("key", "filled", "named"), [
    ("container.ports[?hostPort > `0`]", ["container.ports[0].hostPort", "container.imagePullPolicy"],
     ["container.ports[0].hostPort"]),
    ("not_null(container.securityContext.runAsNonRoot, pod.securityContext.runAsNonRoot)",
     ["pod.securityContext", "pod.dnsPolicy"], ["pod.securityContext"]),  # read inside a filled {}
    ("object.spec.hostNetwork", ["object.spec.hostNetworkish", "object.spec.dnsPolicy"], []),
    ("container.imagePullPolicy", ["container.imagePullPolicy"], ["container.imagePullPolicy"]),
    ("subject.namespace", ["object.spec.dnsPolicy"], []),
    ("container.image", "not a list", []),
])
def test_a_failing_finding_names_the_defaults_among_the_fields_it_read(key, filled, named):
    from auditor.judging.engine import defaulted_fields

    assert defaulted_fields(key, filled) == named
