"""Connecting a local registry (kindlike.registry) to a cluster: at create
(`create cluster --registry NAME`, or the config's `kindlike.registry`) or
later (`kindlike registry connect NAME --name CLUSTER`).

Three things, as kind's local-registry page does them:
- the registry joins the cluster's network as NAME;
- every node's containerd gets a hosts.toml for `localhost:PORT` (what the
  host pushes to, so a pod spec names the image as it was pushed) and for
  `NAME:5000`, both sent to http://NAME:5000;
- the `local-registry-hosting` ConfigMap in kube-public (KEP-1755) tells
  tools (Tilt, Skaffold, ...) where to push.
containerd reads a hosts directory only when its `config_path` is set; the
node images do not set it, so it is set once per node (containerd is
restarted then; at create, before kubeadm runs, as part of the config's
containerd patches).
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from kindlike.cluster.containerd import apply_patches, config_version, parse
from kindlike.cluster.nodes import free_address, list_nodes, network_name
from kindlike.constants import ADMIN_CONF, CONTAINERD_CONF
from kindlike.registry import Registry, RegistryError, get, running

HOSTS_DIR = "/etc/containerd/certs.d"
CONFIGMAP = "local-registry-hosting"
# The CRI plugin's image-registry table by containerd config version; a
# merge patch carrying another `version` is skipped (kind's rule), so both
# can be listed.
_REGISTRY_TABLE = {2: ("plugins", "io.containerd.grpc.v1.cri", "registry"),
                   3: ("plugins", "io.containerd.cri.v1.images", "registry")}


def containerd_patches() -> tuple[str, ...]:
    """Merge patches that point containerd at HOSTS_DIR, one per config version."""
    out = []
    for version, (a, b, c) in _REGISTRY_TABLE.items():
        out.append(f'version = {version}\n[{a}."{b}".{c}]\n  config_path = "{HOSTS_DIR}"\n')
    return tuple(out)


def hosts_toml(reg: Registry) -> str:
    return (f'# written by kindlike: registry {reg.name}\n'
            f'server = "http://{reg.in_cluster}"\n\n'
            f'[host."http://{reg.in_cluster}"]\n'
            f'  capabilities = ["pull", "resolve"]\n')


def configmap(reg: Registry) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP, "namespace": "kube-public"},
        "data": {"localRegistryHosting.v1": (f'host: "{reg.address}"\n'
                                             f'hostFromContainerRuntime: "{reg.in_cluster}"\n')},
    }
    return json.dumps(doc)


def _config_path_set(config_toml: str) -> bool:
    config = parse(config_toml)
    table = config
    for key in _REGISTRY_TABLE.get(config_version(config), _REGISTRY_TABLE[2]):
        table = table.get(key) if isinstance(table, dict) else None
    return isinstance(table, dict) and bool(table.get("config_path"))


def configure_node(node, reg: Registry) -> None:
    """hosts.toml for both names, and containerd's config_path when unset
    (a containerd restart: running pods are not touched)."""
    for host in (reg.address, reg.in_cluster):
        node.exec("mkdir", "-p", f"{HOSTS_DIR}/{host}")
        node.write_file(f"{HOSTS_DIR}/{host}/hosts.toml", hosts_toml(reg))
    current = node.read_file(CONTAINERD_CONF)
    if not _config_path_set(current):
        node.write_file(CONTAINERD_CONF, apply_patches(current, containerd_patches(), []))
        node.exec("systemctl", "restart", "containerd")


def publish(control_plane, reg: Registry) -> None:
    control_plane.exec("kubectl", f"--kubeconfig={ADMIN_CONF}", "apply", "-f", "-", stdin=configmap(reg),
                       timeout=60)


def connect(engine, name: str, cluster: str, note=None) -> Registry:
    """Connect registry `name` to a running cluster (again: harmless)."""
    reg = running(engine, name)
    nodes = list_nodes(engine, cluster)
    if not nodes:
        raise RegistryError(f"no cluster named {cluster!r}", fix="see `kindlike get clusters`")
    stopped = [n.name for n in nodes if not n.running]
    if stopped:
        raise RegistryError(f"cluster {cluster!r} is not running ({', '.join(stopped)} stopped)",
                            fix=f"start it first: kindlike start cluster --name {cluster}")
    # At an address of its own, as the port forwarders: with one the engine
    # picked, a restarted engine may hand the registry a node's address
    # first, and that node then cannot start (kindlike.cluster.nodes.free_address).
    if network_name(cluster) not in engine.container_networks(reg.name):
        engine.connect_network(reg.name, network_name(cluster), [reg.name], free_address(engine, cluster))
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(lambda n: configure_node(n, reg), nodes))
    publish(nodes[0], reg)
    if note:
        note(f"{reg.address} -> {reg.in_cluster}")
    return get(engine, name)


def disconnect(engine, name: str, cluster: str) -> None:
    """Detach the registry from the cluster's network and withdraw the
    ConfigMap; the nodes' hosts.toml stay (they name an absent host)."""
    reg = get(engine, name)
    engine.disconnect_network(reg.name, network_name(cluster))
    running = [n for n in list_nodes(engine, cluster) if n.running]
    if running:
        running[0].exec("kubectl", f"--kubeconfig={ADMIN_CONF}", "-n", "kube-public", "delete", "configmap",
                        CONFIGMAP, "--ignore-not-found", timeout=60, check=False)
