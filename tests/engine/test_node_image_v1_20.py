"""The v1.20 node image (Kubernetes from Debian's source package, the oldest
version kindlike supports) under rootful Docker: build it (seconds when the
cache is warm), boot a node from it the way kindlike runs nodes, and check
from inside that it is what its metadata says: systemd up, containerd
answering with the user-namespace settings, Kubernetes v1.20.2 binaries, the
control-plane images preloaded and pinned, the flannel.1 offload fix; then a
one-node `kubeadm init` on it. Every container (and its /var volume) is
removed afterwards, pass or fail."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import uuid

import pytest

from kindlike.nodeimage import image_metadata
from tests.engine_fixtures import connect, start_engine

pytestmark = pytest.mark.engine

IMAGE = "kindlike/node:v1.20.2-offline"
NODE_FLAGS = [
    "--privileged", "--cgroupns=private", "--tmpfs", "/tmp", "--tmpfs", "/run", "-v", "/var",
    "--security-opt", "seccomp=unconfined", "-t",
]
# Units allowed to be failed in a "degraded" node (none so far).
HARMLESS_FAILED_UNITS: set[str] = set()


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    res = subprocess.run(["docker", "-H", "unix:///var/run/docker.sock", *args], capture_output=True, text=True,
                         timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


@pytest.fixture(scope="module")
def rootful_docker():
    start_engine("rootful-docker")
    eng = connect("rootful-docker")
    yield eng
    eng.close()


def cli(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "kindlike.cli.main", "--provider", "docker", *args],
                         capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "DOCKER_HOST": "unix:///var/run/docker.sock"})
    print(f"$ kindlike {' '.join(args)}\n{res.stdout}\n{res.stderr}")
    return res


@pytest.fixture(scope="module")
def node_image(rootful_docker):
    """Build (or find up to date, from the cache) the v1.20.2 image, as a user
    does: `kindlike build node-image --kubernetes debian-source`, under its own
    tag only (the default image is the current Kubernetes)."""
    res = cli("build", "node-image", "--kubernetes", "debian-source", "--image", IMAGE)
    assert res.returncode == 0, res.stderr
    assert f"Image {IMAGE} built" in res.stderr
    assert [i.tags for i in rootful_docker.list_images({}) if IMAGE in i.tags] == [[IMAGE]]
    res = cli("build", "node-image", "--metadata", IMAGE)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_dry_run_names_the_release_asked_for_and_builds_nothing(rootful_docker):
    image = f"kindlike/node:dry-{uuid.uuid4().hex[:6]}"
    res = cli("build", "node-image", "--dry-run", "--kubernetes", "v1.33.4", "--image", image, timeout=120)
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert plan["components"]["kubernetes"]["version"] == "v1.33.4"
    assert plan["tags"] == [image, "kindlike/node:v1.33.4-offline"]
    assert not rootful_docker.image_exists(image)


def start_node(request, image: str) -> str:
    name = f"kindlike-imgtest-{uuid.uuid4().hex[:8]}"
    request.addfinalizer(lambda: docker("rm", "-f", "-v", name, check=False))
    docker("run", "-d", "--name", name, "--hostname", name, *NODE_FLAGS, image)
    return name


def sh(node: str, script: str, check: bool = True, timeout: float = 120) -> str:
    return docker("exec", node, "sh", "-c", script, check=check, timeout=timeout).stdout


def wait_system_running(node: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = docker("exec", node, "systemctl", "is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return state
        time.sleep(0.5)
    raise AssertionError(f"systemd did not come up in {timeout} s (state {state!r}); log:\n"
                         + docker("logs", "--tail", "40", node, check=False).stdout)


@pytest.fixture(scope="module")
def node(request, node_image):
    name = start_node(request, IMAGE)
    state = wait_system_running(name)
    if state == "degraded":
        failed = set(sh(name, "systemctl --failed --no-legend --plain | awk '{print $1}'").split())
        assert failed <= HARMLESS_FAILED_UNITS, f"failed units: {failed}"
    return name


def test_labels_and_image_json_agree(rootful_docker, node_image, node):
    meta = image_metadata(rootful_docker, IMAGE)
    assert meta["kubernetes_version"] == "v1.20.2"
    assert (meta["flavour"], meta["cni"], meta["has_coredns"], meta["cgroup_driver"]) == (
        "offline", "none", False, "cgroupfs")
    inside = json.loads(sh(node, "cat /kindlike/image.json"))
    for key in ("kubernetes_version", "flavour", "cni", "has_coredns", "cgroup_driver", "sandbox_image", "kubeadm_api"):
        assert inside[key] == meta[key], key
    assert sorted(inside["images"]) == sorted(meta["images"])
    assert sh(node, "cat /kind/version").strip() == "v1.20.2"
    assert {"bridge", "host-local", "loopback", "portmap"} <= set(inside["cni_plugins"])


def test_kubernetes_binaries(node):
    assert sh(node, "kubelet --version").strip() == "Kubernetes v1.20.2"
    assert sh(node, "kubeadm version -o short").strip() == "v1.20.2"
    assert "v1.20.2" in sh(node, "kubectl version --client --short")
    # The reflect2 trap: json-iterator on maps panicked with the vendored copy.
    assert "InitConfiguration" in sh(node, "kubeadm config print init-defaults")


def test_containerd_answers_with_preloaded_pinned_images(node, node_image):
    assert "Version:" in sh(node, "ctr version")
    refs = set(sh(node, "ctr -n k8s.io images ls -q").split())
    for ref in node_image["images"]:
        assert ref in refs
    pinned = sh(node, "ctr -n k8s.io images ls | grep -c 'io.cri-containerd.pinned=pinned'").strip()
    assert int(pinned) >= len(node_image["images"])
    assert "k8s.gcr.io/pause:3.2" in node_image["images"]
    assert not any(r.startswith("k8s.gcr.io/coredns") for r in refs)


def test_containerd_config_and_boot_decisions(node, node_image):
    boot = dict(l.split("=", 1) for l in sh(node, "cat /run/kindlike/boot.env").splitlines() if "=" in l)
    cfg = tomllib.loads(sh(node, "cat /etc/containerd/config.toml"))
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["disable_apparmor"] is True
    assert cri["disable_hugetlb_controller"] is True
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert cri["sandbox_image"] == node_image["sandbox_image"] == boot["SANDBOX_IMAGE"]
    assert cri["containerd"]["snapshotter"] == boot["SNAPSHOTTER"]
    assert boot["SNAPSHOTTER"] in ("overlayfs", "fuse-overlayfs", "native")
    assert str(cri["restrict_oom_score_adj"]).lower() == boot["RESTRICT_OOM_SCORE_ADJ"]
    # Whether this container may lower oom_score_adj decides restrict_oom_score_adj
    # (this machine lacks CAP_SYS_RESOURCE even for root: then it must be true).
    can_lower = docker("exec", node, "sh", "-c", "echo -998 > /proc/self/oom_score_adj", check=False).returncode == 0
    assert cri["restrict_oom_score_adj"] is (not can_lower or boot["USERNS"] == "true")
    # /var is a volume, so overlayfs can be mounted on it
    assert boot["VAR_LIB_CONTAINERD_FS"] != "overlayfs"
    assert sh(node, "systemctl is-active containerd").strip() == "active"


def test_machine_id_is_per_node(request, node):
    other = start_node(request, IMAGE)
    wait_system_running(other)
    a, b = sh(node, "cat /etc/machine-id").strip(), sh(other, "cat /etc/machine-id").strip()
    assert len(a) == 32 and a != b


def test_flannel_vxlan_checksum_offload_is_turned_off(node):
    assert sh(node, "systemctl is-active kindlike-flannel-offload").strip() == "active"
    sh(node, "ip link add flannel.1 type vxlan id 1 dstport 8472 dev eth0 nolearning && ip link set flannel.1 up")
    deadline = time.monotonic() + 10
    out = ""
    while time.monotonic() < deadline:
        out = sh(node, "ethtool -k flannel.1 | grep 'tx-checksum-ip-generic:'")
        if "off" in out:
            break
        time.sleep(0.3)
    sh(node, "ip link del flannel.1", check=False)
    assert "tx-checksum-ip-generic: off" in out


def test_kubeadm_init_single_node(request, node_image):
    """The preloaded images really run: kubeadm 1.20 brings up a control plane
    from them (no registry), the node goes Ready with a bridge CNI config,
    and a pod gets an address."""
    name = start_node(request, IMAGE)
    wait_system_running(name)
    ip = docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).stdout.strip()
    config = f"""\
apiVersion: kubeadm.k8s.io/v1beta2
kind: InitConfiguration
localAPIEndpoint: {{advertiseAddress: {ip}, bindPort: 6443}}
nodeRegistration:
  criSocket: /run/containerd/containerd.sock
  name: {name}
  kubeletExtraArgs: {{node-ip: {ip}}}
---
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
networking: {{podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/16}}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: {node_image['cgroup_driver']}
failSwapOn: false
# As kind and kindlike set it: the host's disk is the node's, and a shared
# CI disk below the default 15% free put a disk-pressure taint on the node.
evictionHard: {{imagefs.available: "0%", nodefs.available: "0%", nodefs.inodesFree: "0%"}}
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
conntrack: {{maxPerCore: 0}}
"""
    cni = ('{"cniVersion":"0.4.0","name":"kindlike","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,'
           '"ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.0.0/24"}]],'
           '"routes":[{"dst":"0.0.0.0/0"}]}},{"type":"portmap","capabilities":{"portMappings":true}}]}')
    sh(name, f"mkdir -p /kind /etc/cni/net.d && cat > /kind/kubeadm.yaml <<'EOF'\n{config}EOF\n"
             f"echo '{cni}' > /etc/cni/net.d/10-kindlike.conflist")
    res = docker("exec", name, "kubeadm", "init", "--config", "/kind/kubeadm.yaml",
                 "--skip-phases=preflight,addon/coredns", "--skip-token-print", check=False, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    k = "kubectl --kubeconfig /etc/kubernetes/admin.conf "
    sh(name, k + "taint nodes --all node-role.kubernetes.io/master-")
    # The "default" service account appears a moment after the API server.
    deadline = time.monotonic() + 60
    while docker("exec", name, "sh", "-c", k + "run probe --image=k8s.gcr.io/pause:3.2 --restart=Never",
                 check=False).returncode != 0:
        assert time.monotonic() < deadline, "could not create a pod"
        time.sleep(1)
    deadline = time.monotonic() + 120
    ready = ip_of_pod = proxy = ""
    # kube-proxy's DaemonSet pod can start after the probe pod: wait for all three, not one after another.
    while time.monotonic() < deadline:
        ready = sh(name, k + "get node " + name + " -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'",
                   check=False)
        ip_of_pod = sh(name, k + "get pod probe -o jsonpath='{.status.podIP}'", check=False)
        proxy = sh(name, k + "-n kube-system get pods -l k8s-app=kube-proxy -o jsonpath='{.items[*].status.phase}'",
                   check=False)
        if ready == "True" and ip_of_pod.startswith("10.244.") and proxy == "Running":
            break
        time.sleep(1)
    assert ready == "True"
    assert ip_of_pod.startswith("10.244."), sh(name, k + "describe pod probe", check=False)
    assert proxy == "Running", sh(name, k + "-n kube-system describe pods -l k8s-app=kube-proxy", check=False)
