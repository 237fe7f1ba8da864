"""Every name and path kindlike's parts must agree on, defined once.

Node paths are where the node image puts things (images/node) or where
kubeadm writes them; labels are how kindlike finds its containers again, as
it keeps no state of its own.
"""

DEFAULT_CLUSTER_NAME = "kindlike"
# Name `create cluster` uses when neither --image nor the config names one; if
# it is missing, kindlike builds it (online or offline flavour) and tags it so.
DEFAULT_NODE_IMAGE = "kindlike/node:latest"

# Prefix of the names kindlike gives what is not a node: the cluster's
# network and its kubeconfig context/cluster/user entries.
NAME_PREFIX = "kindlike-"

LABEL_PREFIX = "io.kindlike."
LABEL_CLUSTER = LABEL_PREFIX + "cluster"
LABEL_ROLE = LABEL_PREFIX + "role"
# Every container's fixed address on the cluster network, so the next one
# can be given a free address even while others are stopped.
LABEL_ADDRESS = LABEL_PREFIX + "address"
# Nodes on several hosts: a node's host address (what the other hosts reach
# it at), and on the cluster engine's nodes the other hosts' engines.
LABEL_HOST_ADDRESS = LABEL_PREFIX + "host-address"
# A node's CPU and memory limits as the config gave them (kindlike.noderesources).
LABEL_CPUS = LABEL_PREFIX + "cpus"
LABEL_MEMORY = LABEL_PREFIX + "memory"
LABEL_HOSTS = LABEL_PREFIX + "hosts"

ROLE_CONTROL_PLANE = "control-plane"
ROLE_WORKER = "worker"
# kind's name and role for the haproxy container in front of several control
# planes: <cluster>-external-load-balancer.
ROLE_LOAD_BALANCER = "external-load-balancer"
# A container publishing one host port to a node after create (kindlike.ports).
ROLE_PORT_FORWARDER = "port-forwarder"
# A local registry (kindlike.registry): not a cluster's, joins their networks.
ROLE_REGISTRY = "registry"
# On a port forwarder: what it forwards, "PROTO/ADDRESS:HOSTPORT>NODE:PORT",
# and, for a LoadBalancer Service's port, "NAMESPACE/NAME/PORT".
LABEL_PORT = LABEL_PREFIX + "port"
LABEL_SERVICE = LABEL_PREFIX + "service"

# On a snapshot's images (kindlike.snapshot): the snapshot's name, and on
# each node image of it where the node stood: its index in the cluster, its
# Kubernetes node name (kept by every copy: PersistentVolumes and pods are
# bound to it), the address its files were written for, the host address the
# API server was published on, and the bind mounts it had.
LABEL_SNAPSHOT = LABEL_PREFIX + "snapshot"
LABEL_SNAPSHOT_INFO = LABEL_PREFIX + "snapshot.info"
# On a container started from a snapshot: which one, and the Kubernetes node
# name (its hostname) when it differs from the container's name.
LABEL_NODE_NAME = LABEL_PREFIX + "node-name"
# A container that is only a step of `snapshot save`; removed when it ends.
ROLE_SNAPSHOT_STEP = "snapshot-step"

API_SERVER_CONTAINER_PORT = 6443
KUBELET_PORT = 10250
FLANNEL_VXLAN_PORT = 8472

# kind's well-known bootstrap token (pkg/cluster/internal/kubeadm/const.go):
# the cluster is disposable and the API server is only published on loopback.
BOOTSTRAP_TOKEN = "abcdef.0123456789abcdef"

# Paths inside a node.
ADMIN_CONF = "/etc/kubernetes/admin.conf"
KUBEADM_CONF = "/kind/kubeadm.conf"
# kubeadm init --patches: what kindlike changes in the objects kubeadm makes.
KUBEADM_PATCHES = "/kind/kubeadm-patches"
CONTAINERD_CONF = "/etc/containerd/config.toml"
NODE_VERSION_FILE = "/kind/version"
# The manifests a node image carries (kind's places), applied at create.
CNI_MANIFEST = "/kind/manifests/default-cni.yaml"
STORAGE_MANIFEST = "/kind/manifests/default-storage.yaml"
NODE_KUBECTL = "/usr/bin/kubectl"

# containerd's CLI on the namespace the kubelet uses.
CTR = ("ctr", "--namespace=k8s.io")

# Engines give every node a volume for /var named <node><VAR_VOLUME_SUFFIX>.
VAR_VOLUME_SUFFIX = "-var"
