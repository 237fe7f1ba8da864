"""Steps "Installing CNI" and "Installing StorageClass": the manifests the
node image carries, applied through the control plane's kubectl.

The pod network is Flannel's (VXLAN, VNI 1, UDP 8472), from the image's
constants.CNI_MANIFEST: kind's convention, so the same image works
under kind. A manifest marked "would you kindly template this file" gets the
cluster's podSubnet for {{ .PodSubnet }}; an older manifest (the online
flavour's upstream kube-flannel.yml) has its default Network replaced.
"""
from __future__ import annotations

import ipaddress
import time

import yaml

from kindlike.cluster.boot import FLANNEL_SUBNET_ENV
from kindlike.cluster.kubectl import kubectl
from kindlike.cluster.nodes import Node
from kindlike.constants import CNI_MANIFEST, STORAGE_MANIFEST

TEMPLATE_MARKER = "would you kindly template this file"


def render_cni_manifest(manifest: str, pod_subnet: str) -> str:
    if TEMPLATE_MARKER in manifest:
        return manifest.replace("{{ .PodSubnet }}", pod_subnet).replace("{{.PodSubnet}}", pod_subnet)
    return manifest.replace('"Network": "10.244.0.0/16"', f'"Network": "{pod_subnet}"')


def apply(control_plane: Node, manifest: str) -> None:
    # --validate=false: the manifests are the image's own, and validating
    # them first downloads the API server's whole OpenAPI schema.
    kubectl(control_plane, "apply", "--validate=false", "-f", "-", stdin=manifest, timeout=300)


def point_at_api_server(manifest: str, host: str, port: int) -> str:
    """The CNI's host-network pods reach the API server directly, not through
    the kubernetes Service: they start when kube-proxy may not have
    programmed 10.96.0.1 yet, and a connection to it then leaves the node
    (and, behind a TLS-inspecting proxy, meets a stranger's certificate)."""
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    for doc in docs:
        if doc.get("kind") != "DaemonSet":
            continue
        for c in doc["spec"]["template"]["spec"].get("containers", []):
            env = [e for e in c.get("env", []) if e.get("name") not in ("KUBERNETES_SERVICE_HOST",
                                                                       "KUBERNETES_SERVICE_PORT")]
            c["env"] = env + [{"name": "KUBERNETES_SERVICE_HOST", "value": host},
                              {"name": "KUBERNETES_SERVICE_PORT", "value": str(port)}]
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def across_hosts(manifest: str) -> str:
    """Flannel for nodes on several hosts: each node's VXLAN endpoint is
    announced at its host's address (the pod's status.hostIP, which is the
    node's InternalIP, its host's address), where the node publishes the
    VXLAN port; the device itself stays on the node's own interface (eth0),
    not on the host address kindlike puts on the node's loopback."""
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    for doc in docs:
        if doc.get("kind") != "DaemonSet":
            continue
        for c in doc["spec"]["template"]["spec"].get("containers", []):
            env = [e for e in c.get("env", []) if e.get("name") not in ("FLANNELD_PUBLIC_IP", "FLANNELD_IFACE")]
            c["env"] = env + [{"name": "FLANNELD_PUBLIC_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                              {"name": "FLANNELD_IFACE", "value": "eth0"}]
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


FLANNEL_CONFLIST = "/etc/cni/net.d/10-flannel.conflist"


def without_conflist_copy(manifest: str) -> str:
    """The manifest without the DaemonSet init container whose only work is
    `cp` of the CNI config to FLANNEL_CONFLIST, for nodes that have it
    (preseed_cni_config). It stays in the image, which kind runs unchanged
    and which does not preseed; here it would be one more container to run
    and, for the kubelet, one more exit to notice (its pod lifecycle relist
    is once a second) before flanneld starts, which CoreDNS waits for."""
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    for doc in docs:
        if doc.get("kind") != "DaemonSet":
            continue
        spec = doc["spec"]["template"]["spec"]
        kept = [c for c in spec.get("initContainers", [])
                if not ((c.get("command") or [""])[0] == "cp" and c["command"][-1] == FLANNEL_CONFLIST)]
        if kept:
            spec["initContainers"] = kept
        else:
            spec.pop("initContainers", None)
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def flannel_conflist(manifest: str) -> str | None:
    """The CNI config Flannel's DaemonSet copies onto each node (its
    ConfigMap's cni-conf.json), or None for a manifest without one."""
    for doc in yaml.safe_load_all(manifest):
        if doc and doc.get("kind") == "ConfigMap" and "cni-conf.json" in (doc.get("data") or {}):
            return doc["data"]["cni-conf.json"]
    return None


def preseed_cni_config(nodes: list[Node], path: str = CNI_MANIFEST, text: str | None = None) -> bool:
    """Write Flannel's CNI config on every node before its kubelet starts,
    as the DaemonSet's init container will (the same bytes): the kubelet then
    reports the node Ready at its first status instead of one runtime poll
    (5 s) after the DaemonSet's pod ran. Pods scheduled before flanneld
    writes its subnet file retry, as they would after a node restart."""
    conflist = flannel_conflist(nodes[0].read_file(path) if text is None else text)
    if conflist is None:
        return False
    for n in nodes:
        n.write_file(FLANNEL_CONFLIST, conflist)
    return True


def install_cni(control_plane: Node, pod_subnet: str, api_server: tuple[str, int],
                path: str = CNI_MANIFEST, conflist_on_nodes: bool = False, multi_host: bool = False,
                text: str | None = None) -> None:
    """Apply the image's CNI manifest with the cluster's pod subnet, its
    DaemonSets pointed at the API server (host, port); without the init
    container that copies Flannel's CNI config when every node has it; with
    nodes on several hosts, Flannel's endpoints at their hosts' addresses.
    `text`: the manifest, when already read from the node."""
    manifest = render_cni_manifest(control_plane.read_file(path) if text is None else text, pod_subnet)
    manifest = point_at_api_server(manifest, *api_server)
    if multi_host:
        manifest = across_hosts(manifest)
    apply(control_plane, without_conflist_copy(manifest) if conflist_on_nodes else manifest)


def install_storage(control_plane: Node, path: str = STORAGE_MANIFEST, text: str | None = None) -> None:
    """Apply the image's default storage (local-path, StorageClass standard)."""
    apply(control_plane, control_plane.read_file(path) if text is None else text)


# What flanneld writes to the node's subnet file (WriteSubnetFile): the
# cluster's pod network, the node's first pod address, the VXLAN MTU (the
# interface's less 50 bytes of encapsulation) and --ip-masq of the manifest.
VXLAN_OVERHEAD = 50
_WRITE_SUBNET_ENV = ('test -s {path} || {{ mkdir -p {dir} && m=$(cat /sys/class/net/eth0/mtu) && '
                     'printf "FLANNEL_NETWORK={network}\\nFLANNEL_SUBNET={subnet}\\nFLANNEL_MTU=%d\\n'
                     'FLANNEL_IPMASQ=true\\n" $((m - {overhead})) > {path}.kindlike && mv {path}.kindlike {path}; }}')


def subnet_env_command(pod_subnet: str, node_cidr: str) -> str:
    """A shell command writing the node's subnet file as flanneld will,
    unless flanneld already has."""
    net = ipaddress.ip_network(node_cidr, strict=False)
    return _WRITE_SUBNET_ENV.format(path=FLANNEL_SUBNET_ENV, dir=FLANNEL_SUBNET_ENV.rsplit("/", 1)[0],
                                    network=ipaddress.ip_network(pod_subnet, strict=False),
                                    subnet=f"{next(net.hosts())}/{net.prefixlen}", overhead=VXLAN_OVERHEAD)


def preseed_subnet_env(control_plane: Node, nodes: list[Node], pod_subnet: str, timeout: float = 30) -> None:
    """Write each node's subnet file as soon as the controller manager has
    given the node its pod CIDR, before flanneld starts. The flannel CNI
    plugin waits for that file (images/node: the wrapper), so CoreDNS's and
    the first workloads' pods get their network while flanneld is still
    starting, not after (it writes the same file, then carries traffic
    between nodes). Gives up quietly: flanneld writes it anyway."""
    deadline = time.monotonic() + timeout
    left = {n.name: n for n in nodes}
    while left and time.monotonic() < deadline:
        res = kubectl(control_plane, "get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}={.spec.podCIDR}"
                      "{\"\\n\"}{end}", check=False, timeout=30)
        cidrs = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line) if res.code == 0 else {}
        for name in [name for name in left if cidrs.get(name)]:
            left.pop(name).exec("sh", "-c", subnet_env_command(pod_subnet, cidrs[name]), check=False, timeout=30)
        if left:
            time.sleep(0.5)
