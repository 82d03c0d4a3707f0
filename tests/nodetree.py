"""Build kubeadm-, k3s- and rke2-like node roots with real files, modes and owners (for tests)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

APISERVER_FLAGS = [
    "--advertise-address=10.0.0.10", "--allow-privileged=true", "--anonymous-auth=false",
    "--authorization-mode=Node,RBAC", "--client-ca-file=/etc/kubernetes/pki/ca.crt",
    "--enable-admission-plugins=NodeRestriction,EventRateLimit,AlwaysPullImages,DenyServiceExternalIPs",
    "--admission-control-config-file=/etc/kubernetes/admission.yaml",
    "--enable-bootstrap-token-auth=true", "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
    "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
    "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key", "--etcd-servers=https://127.0.0.1:2379",
    "--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
    "--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key",
    "--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt", "--profiling=false",
    "--audit-log-path=/var/log/kubernetes/audit.log", "--audit-log-maxage=30", "--audit-log-maxbackup=10",
    "--audit-log-maxsize=100", "--audit-policy-file=/etc/kubernetes/audit-policy.yaml",
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    "--service-account-key-file=/etc/kubernetes/pki/sa.pub",
    "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
    "--service-account-extend-token-expiration=false",
    "--encryption-provider-config=/etc/kubernetes/enc/encryption.yaml",
    "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt", "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
    "--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
]
CONTROLLER_FLAGS = [
    "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
    "--kubeconfig=/etc/kubernetes/controller-manager.conf", "--bind-address=127.0.0.1",
    "--profiling=false", "--use-service-account-credentials=true", "--terminated-pod-gc-threshold=10",
    "--service-account-private-key-file=/etc/kubernetes/pki/sa.key", "--root-ca-file=/etc/kubernetes/pki/ca.crt",
    "--feature-gates=RotateKubeletServerCertificate=true",
]
SCHEDULER_FLAGS = ["--kubeconfig=/etc/kubernetes/scheduler.conf", "--bind-address=127.0.0.1", "--profiling=false"]
ETCD_FLAGS = [
    "--data-dir=/var/lib/etcd", "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
    "--key-file=/etc/kubernetes/pki/etcd/server.key", "--client-cert-auth=true",
    "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt", "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
    "--peer-client-cert-auth=true", "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
    "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
]
KUBELET_FLAGS = ["--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
                 "--kubeconfig=/etc/kubernetes/kubelet.conf", "--config=/var/lib/kubelet/config.yaml"]
KUBELET_CONFIG = textwrap.dedent("""\
    apiVersion: kubelet.config.k8s.io/v1beta1
    kind: KubeletConfiguration
    authentication:
      anonymous:
        enabled: false
      webhook:
        enabled: true
      x509:
        clientCAFile: /etc/kubernetes/pki/ca.crt
    authorization:
      mode: Webhook
    readOnlyPort: 0
    streamingConnectionIdleTimeout: 5m
    makeIPTablesUtilChains: true
    eventRecordQPS: 5
    rotateCertificates: true
    serverTLSBootstrap: true
    tlsCertFile: /var/lib/kubelet/pki/kubelet.crt
    tlsPrivateKeyFile: /var/lib/kubelet/pki/kubelet.key
    tlsCipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]
    featureGates:
      RotateKubeletServerCertificate: true
    podPidsLimit: 4096
    seccompDefault: true
    protectKernelDefaults: true
    """)
PKI_CERTS = ["ca.crt", "apiserver.crt", "apiserver-kubelet-client.crt", "apiserver-etcd-client.crt",
             "front-proxy-ca.crt", "etcd/ca.crt", "etcd/server.crt", "etcd/peer.crt"]
PKI_KEYS = ["ca.key", "apiserver.key", "apiserver-kubelet-client.key", "apiserver-etcd-client.key",
            "sa.key", "etcd/ca.key", "etcd/server.key", "etcd/peer.key"]


def write(root: str, path: str, text: str = "", mode: int = 0o600, uid: int = 0, gid: int = 0) -> str:
    """Create host file `path` under `root` with `text`, `mode` and owner; return the real path."""
    real = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(real), exist_ok=True)
    with open(real, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(real, mode)
    os.chown(real, uid, gid)
    return real


def mkdir(root: str, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> str:
    real = os.path.join(root, path.lstrip("/"))
    os.makedirs(real, exist_ok=True)
    os.chmod(real, mode)
    os.chown(real, uid, gid)
    return real


def static_pod(name: str, flags: list[str], command: bool = True) -> str:
    """A static pod manifest whose container runs `name` with `flags` (as command or args)."""
    lines = ["apiVersion: v1", "kind: Pod", "metadata:", f"  name: {name}", "  namespace: kube-system",
             "spec:", "  hostNetwork: true", "  containers:", f"  - name: {name}",
             f"    image: registry.k8s.io/{name}:v1.30.0"]
    lines += ["    command:", f"    - {name}"] if command else ["    args:"]
    body = [f"    - {flag}" for flag in flags]
    return "\n".join(lines + body) + "\n"


def kubeadm_tree(root: str, *, etcd_uid: int = 0) -> None:
    """A hardened kubeadm control-plane node: manifests, kubeconfigs, PKI, kubelet, CNI, passwd."""
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\netcd:x:2379:2379::/var/lib/etcd:/bin/false\n"
          "alice:x:1000:1000::/home/alice:/bin/sh\n", 0o644)
    write(root, "/etc/group", "root:x:0:\netcd:x:2379:\nalice:x:1000:\n", 0o644)
    write(root, "/etc/hostname", "cp-1\n", 0o644)
    mkdir(root, "/etc/kubernetes/manifests", 0o700)
    for name, flags in (("kube-apiserver", APISERVER_FLAGS), ("kube-controller-manager", CONTROLLER_FLAGS),
                        ("kube-scheduler", SCHEDULER_FLAGS), ("etcd", ETCD_FLAGS)):
        write(root, f"/etc/kubernetes/manifests/{name}.yaml", static_pod(name, flags), 0o600)
    for conf in ("admin.conf", "super-admin.conf", "scheduler.conf", "controller-manager.conf", "kubelet.conf"):
        write(root, f"/etc/kubernetes/{conf}", "apiVersion: v1\nkind: Config\n", 0o600)
    mkdir(root, "/etc/kubernetes/pki", 0o755)
    mkdir(root, "/etc/kubernetes/pki/etcd", 0o755)
    for cert in PKI_CERTS:
        write(root, f"/etc/kubernetes/pki/{cert}", "-----BEGIN CERTIFICATE-----\n", 0o644)
    for key in PKI_KEYS:
        write(root, f"/etc/kubernetes/pki/{key}", "-----BEGIN PRIVATE KEY-----\n", 0o600)
    write(root, "/etc/kubernetes/pki/sa.pub", "-----BEGIN PUBLIC KEY-----\n", 0o644)
    mkdir(root, "/var/lib/etcd", 0o700, etcd_uid, etcd_uid)
    write(root, "/var/lib/kubelet/config.yaml", KUBELET_CONFIG, 0o600)
    write(root, "/usr/lib/systemd/system/kubelet.service", "[Service]\nExecStart=/usr/bin/kubelet\n", 0o600)
    write(root, "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
          "[Service]\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS\n", 0o600)
    write(root, "/etc/cni/net.d/10-flannel.conflist", '{"name": "cbr0", "plugins": []}\n', 0o600)
    write(root, "/var/lib/kube-proxy/kubeconfig.conf", "apiVersion: v1\nkind: Config\n", 0o600)


@contextlib.contextmanager
def fake_process(name: str, flags: list[str], seconds: int = 60) -> Iterator[subprocess.Popen]:
    """A running process whose argv[0] is `name` and whose cmdline carries `flags` (Python sleeping).

    Python stops reading its own options after `-c CODE`, so the flags reach /proc/PID/cmdline
    untouched; the process is killed and reaped when the block ends.
    """
    proc = subprocess.Popen([name, "-c", f"import time; time.sleep({seconds})", *flags], executable=sys.executable)
    try:
        # Wait until the kernel shows the new argv (the exec has happened).
        for _ in range(200):
            try:
                with open(f"/proc/{proc.pid}/cmdline", "rb") as fh:
                    if fh.read().split(b"\0")[0] == name.encode():
                        break
            except OSError:
                pass
            time.sleep(0.01)
        yield proc
    finally:
        proc.kill()
        proc.wait()


def kubelet_kubeconfig(ca_pem: bytes | None, server: str = "https://10.0.0.10:6443") -> str:
    """A kubelet kubeconfig naming the cluster CA (certificate-authority-data) and a client cert."""
    import base64

    lines = ["apiVersion: v1", "kind: Config", "clusters:", "- name: kubernetes", "  cluster:",
             f"    server: {server}"]
    if ca_pem:
        lines.append(f"    certificate-authority-data: {base64.b64encode(ca_pem).decode()}")
    lines += ["users:", "- name: default-auth", "  user:",
              "    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem",
              "    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem",
              "contexts:", "- name: default", "  context: {cluster: kubernetes, user: default-auth}",
              "current-context: default"]
    return "\n".join(lines) + "\n"


def worker_tree(root: str, hostname: str, *, ca_pem: bytes | None = None, kubelet_conf_mode: int = 0o600) -> None:
    """A kubeadm worker node: kubelet config, unit and kubeconfig, the cluster CA, kube-proxy, CNI."""
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644)
    write(root, "/etc/group", "root:x:0:\n", 0o644)
    write(root, "/etc/hostname", hostname + "\n", 0o644)
    write(root, "/etc/kubernetes/kubelet.conf", kubelet_kubeconfig(ca_pem), kubelet_conf_mode)
    mkdir(root, "/etc/kubernetes/pki", 0o755)
    write(root, "/etc/kubernetes/pki/ca.crt", (ca_pem or b"-----BEGIN CERTIFICATE-----\n").decode(), 0o644)
    write(root, "/var/lib/kubelet/config.yaml", KUBELET_CONFIG, 0o600)
    write(root, "/usr/lib/systemd/system/kubelet.service", "[Service]\nExecStart=/usr/bin/kubelet\n", 0o600)
    write(root, "/etc/cni/net.d/10-flannel.conflist", '{"name": "cbr0", "plugins": []}\n', 0o600)
    write(root, "/var/lib/kube-proxy/kubeconfig.conf", "apiVersion: v1\nkind: Config\n", 0o600)
