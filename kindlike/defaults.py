"""Project-wide defaults shared by the config, the node image and the CLI."""

DEFAULT_CLUSTER_NAME = "kindlike"
# Name `create cluster` uses when neither --image nor the config names one; if
# it is missing, kindlike builds it (online or offline flavour) and tags it so.
DEFAULT_NODE_IMAGE = "kindlike/node:latest"
LABEL_CLUSTER = "io.kindlike.cluster"
LABEL_ROLE = "io.kindlike.role"
API_SERVER_CONTAINER_PORT = 6443
KUBECONFIG_CONTEXT_PREFIX = "kindlike-"
