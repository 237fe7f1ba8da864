"""When a cluster is usable, which is what `--wait` waits for.

A node is Ready as soon as its kubelet finds a CNI config, and Flannel's
config is in the image, so Ready comes before the pod network, DNS or the
default ServiceAccount. A CI job that applies a Deployment right after
create would then get pods without an address or a name service. kindlike
waits, in this order, for:

  1. every node Ready (with a heartbeat posted since `since` after a start);
  2. the pods of every DaemonSet in a kube-* namespace (Flannel,
     kube-proxy) ready on every node, with containers started since `since`;
  3. the `default` ServiceAccount, which pods of the default namespace need;
  4. a default StorageClass, when the image installs one;
  5. cluster DNS answering `kubernetes.default.svc.cluster.local` from the
     control plane's network namespace: the query goes through kube-proxy's
     rules to a CoreDNS pod, maybe on another node over the VXLAN.

One look a round reads everything the first four need: requests from
kindlike's process when it has an Api (cluster/apiclient.py), twice a
second, else one kubectl in the control plane, once a second.

After a boot (`since` given) the kubelet may start CoreDNS before the API
server serves; CoreDNS then retries it with client-go's doubling back-off
and answered 30-40 s late. A CoreDNS pod still not Ready `DNS_GRACE`
seconds after both its start and the API server's first answer is deleted
(its ReplicaSet makes a new one, which reaches the API server at once);
the ones on time are left alone.

Each kubelet's informers also retry on their own: when a kubelet lists its
pods before the Services, it refuses to start their containers ("services
have not yet been read at least once") and tries them again only after
10-20 s. The kubelet of a node with such a pod is restarted (`kick`), once;
restarted, its informers list at once and the pods start.
"""
from __future__ import annotations

import json
import shlex
import struct
import time
from datetime import datetime
from typing import Callable

from kindlike.cluster.apiclient import Api, ask, in_use
from kindlike.cluster.kubectl import kubectl
from kindlike.cluster.nodes import Node
from kindlike.errors import ClusterError

DNS_NAME = "kubernetes.default.svc.cluster.local"
# Each look is a `docker exec` of kubectl in the control plane: about 0.25
# CPU-seconds on this 2-core CI machine (0.12 of it the exec alone), taken
# from the control plane it waits for; once a second costs no time to
# usable in hack/benchmark.py and a fifth less CPU than four times.
_POLL = 1.0
# A look from kindlike's process is six list requests: every 0.25 s they
# slowed a joining control plane of a 3+1 cluster (its usable wait 10.2 s,
# 3.8 s at 0.5 s).
API_POLL = 0.5
# What a look lists, as kubectl's `get nodes,daemonsets,... -A` does.
_LISTS = (("/api/v1/nodes", "Node"), ("/apis/apps/v1/daemonsets", "DaemonSet"), ("/api/v1/pods", "Pod"),
          ("/api/v1/serviceaccounts", "ServiceAccount"), ("/apis/storage.k8s.io/v1/storageclasses", "StorageClass"),
          ("/api/v1/services", "Service"))
# After a boot the control plane is far less busy than during a create, and
# each look comes sooner after the one that found the cluster usable.
BOOT_POLL = 0.5
DNS_GRACE = 3.0


def wait_usable(cp: Node, expected: list[str] | None, timeout: float, *, since: float | None = None,
                storage: bool = True, say: Callable[[str], None] | None = None, kubectl_poll: float = _POLL,
                api: Api | None = None, kick: Callable[[set[str]], None] | None = None) -> None:
    """Return once the cluster is usable (above); else raise ClusterError
    naming what was still awaited. `expected`: the Node names to wait for (a
    joined kubelet registers a moment after its join), or None for every
    Node registered (a started cluster, a copy of a snapshot). `storage`:
    a default StorageClass is expected. Without kube-proxy (kubeProxyMode:
    none) DNS is asked at a CoreDNS pod's address instead of the Service's.
    `say` hears each new thing awaited. `kubectl_poll`: the time between
    looks made with kubectl. `kick(node names)`: restarts those nodes'
    kubelets (after a boot)."""
    deadline = time.monotonic() + timeout
    awaited, last, items = "", "", []
    api_answered: float | None = None
    kicked: set[str] = set()
    while True:
        listed = _look(cp, api)
        if listed is not None:
            items = listed
            api_answered = api_answered or time.time()
            if since is not None:
                _restart_stalled_dns(cp, items, api_answered)
                refusing = nodes_refusing_pods(items) - kicked
                if kick is not None and refusing:
                    kick(refusing)
                    kicked |= refusing
            names = expected if expected is not None else [n["metadata"]["name"] for n in _of(items, "Node")]
            awaited = _first_awaited(items, names, since, storage) if names else "nodes to register"
            if not awaited:
                awaited = _dns_awaited(cp, items)
                if not awaited:
                    return
        else:
            awaited = "the API server"
        if awaited != last and say:
            say(awaited)
        last = awaited
        if time.monotonic() > deadline:
            raise ClusterError(f"the cluster was not usable within {timeout:.0f}s: still waiting for {awaited}"
                               + "".join(f"\n  {w}" for w in _not_ready_reasons(items)),
                               fix="inspect with `kindlike export logs`, or raise --wait")
        time.sleep(API_POLL if in_use(api) else kubectl_poll)


def _look(cp: Node, api: Api | None) -> list[dict] | None:
    """Every object a round needs, each with its kind; None when the API
    server does not answer."""
    def by_kubectl() -> list[dict] | None:
        res = kubectl(cp, "get", "nodes,daemonsets,pods,serviceaccounts,storageclasses,services", "-A", "-o", "json",
                      check=False, timeout=30)
        return json.loads(res.stdout).get("items", []) if res.code == 0 else None
    return ask(api, lambda a: items_of([(kind, a.get(path)) for path, kind in _LISTS]), by_kubectl,
               answered=lambda items: items is not None, unanswered=None)


def items_of(lists: list[tuple[str, dict | None]]) -> list[dict] | None:
    """The items of API list answers, each given its kind (a list's items
    have none); None when one of them did not come."""
    if any(answer is None for _kind, answer in lists):
        return None
    return [{**item, "kind": kind} for kind, answer in lists for item in answer.get("items") or []]


def stalled_dns_pods(items: list[dict], api_answered: float, now: float, grace: float = DNS_GRACE) -> list[str]:
    """The CoreDNS pods running but not Ready `grace` seconds after both
    their start and the API server's first answer."""
    out = []
    for p in _of(items, "Pod"):
        if p["metadata"].get("labels", {}).get("k8s-app") != "kube-dns" or p["metadata"].get("deletionTimestamp"):
            continue
        status = p.get("status", {})
        ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
        starts = [c.get("state", {}).get("running", {}).get("startedAt") for c in status.get("containerStatuses", [])]
        if ready.get("status") == "True" or not starts or not all(starts):
            continue
        if now - max(api_answered, *(_time(t) for t in starts)) >= grace:
            out.append(p["metadata"]["name"])
    return out


_NO_SERVICES = "services have not yet been read"


def nodes_refusing_pods(items: list[dict]) -> set[str]:
    """The nodes whose kubelet refused a pod's container as it had not yet
    listed the Services."""
    out = set()
    for p in _of(items, "Pod"):
        status = p.get("status", {})
        for c in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
            waiting = c.get("state", {}).get("waiting", {})
            if waiting.get("reason") == "CreateContainerConfigError" and _NO_SERVICES in waiting.get("message", ""):
                out.add(p.get("spec", {}).get("nodeName", ""))
    return out - {""}


def _restart_stalled_dns(cp: Node, items: list[dict], api_answered: float) -> None:
    stalled = stalled_dns_pods(items, api_answered, time.time())
    if stalled:
        kubectl(cp, "-n", "kube-system", "delete", "pod", "--wait=false", *stalled, check=False, timeout=30)


def _not_ready_reasons(items: list[dict]) -> list[str]:
    """What each registered Node's Ready condition says, when not True."""
    out = []
    for n in _of(items, "Node"):
        cond = next((c for c in n.get("status", {}).get("conditions", []) if c["type"] == "Ready"), {})
        if cond.get("status") != "True":
            out.append(f"{n['metadata']['name']}: {(cond.get('message') or 'no Ready condition')[:300]}")
    return out


def _of(items: list[dict], kind: str) -> list[dict]:
    return [i for i in items if i.get("kind") == kind]


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _first_awaited(items: list[dict], expected: list[str], since: float | None, storage: bool) -> str:
    """What of 1-4 is not there yet ("" when all is)."""
    nodes = {n["metadata"]["name"]: n for n in _of(items, "Node")}
    not_ready = []
    for name in expected:
        cond = next((c for c in nodes.get(name, {}).get("status", {}).get("conditions", [])
                     if c["type"] == "Ready"), {})
        fresh = since is None or (cond.get("lastHeartbeatTime") and _time(cond["lastHeartbeatTime"]) >= since - 1)
        if cond.get("status") != "True" or not fresh:
            not_ready.append(name)
    if not_ready:
        return f"nodes Ready: {', '.join(sorted(not_ready))}"

    pods = _of(items, "Pod")
    for ds in _of(items, "DaemonSet"):
        ns, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
        if not ns.startswith("kube-"):
            continue
        owned = [p for p in pods if p["metadata"]["namespace"] == ns
                 and any(o.get("kind") == "DaemonSet" and o.get("name") == name
                         for o in p["metadata"].get("ownerReferences", []))]
        served = {p["spec"].get("nodeName") for p in owned if _pod_serving(p, since)}
        missing = sorted(set(expected) - served)
        if missing:
            return f"{name} on {', '.join(missing)}"

    if not any(sa["metadata"]["namespace"] == "default" and sa["metadata"]["name"] == "default"
               for sa in _of(items, "ServiceAccount")):
        return "the default ServiceAccount"
    if storage and not any(sc["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class")
                           == "true" for sc in _of(items, "StorageClass")):
        return "the default StorageClass"
    return ""


def _pod_serving(pod: dict, since: float | None) -> bool:
    """Ready, every container running (and started since `since`)."""
    status = pod.get("status", {})
    ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
    if ready.get("status") != "True" or pod["metadata"].get("deletionTimestamp"):
        return False
    containers = status.get("containerStatuses", [])
    if not containers:
        return False
    for c in containers:
        running = c.get("state", {}).get("running")
        if not running or (since is not None and _time(running.get("startedAt", "1970-01-01T00:00:00Z")) < since - 1):
            return False
    return True


def dns_query(name: str, qid: int = 0x4B4C) -> bytes:
    """A DNS query for name's A record, recursion desired."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)


def dns_answered(reply: bytes, qid: int = 0x4B4C) -> bool:
    """A reply to our query, no error, at least one answer."""
    if len(reply) < 12:
        return False
    rid, flags, _, ancount = struct.unpack("!HHHH", reply[:8])
    return rid == qid and bool(flags & 0x8000) and flags & 0xF == 0 and ancount > 0


def _dns_awaited(cp: Node, items: list[dict]) -> str:
    service_proxy = any(ds["metadata"]["name"] == "kube-proxy" for ds in _of(items, "DaemonSet"))
    if service_proxy:
        svc = next((s for s in _of(items, "Service")
                    if s["metadata"]["namespace"] == "kube-system" and s["metadata"]["name"] == "kube-dns"), None)
        ip = svc["spec"].get("clusterIP", "") if svc else ""
    else:
        pods = [p for p in _of(items, "Pod") if p["metadata"].get("labels", {}).get("k8s-app") == "kube-dns"
                and _pod_serving(p, None)]
        ip = pods[0]["status"].get("podIP", "") if pods else ""
    if not ip:
        return "the kube-dns Service" if service_proxy else "a CoreDNS pod"
    # The node image has bash but no DNS client: the query through bash's
    # /dev/udp, one read of the reply with dd, shown as hex by od. The query
    # goes out in one write from a file (bash's printf would split the
    # datagram at each newline byte); the file lives in the node's /tmp.
    query = "".join(f"\\x{b:02x}" for b in dns_query(DNS_NAME))
    script = (f"q=$(mktemp) && printf {shlex.quote(query)} > $q && exec 3<>/dev/udp/{ip}/53 && "
              f"dd if=$q bs=4096 count=1 >&3 2>/dev/null; rm -f $q; "
              f"timeout 1 dd bs=4096 count=1 <&3 2>/dev/null | od -An -v -tx1")
    res = cp.exec("bash", "-c", script, check=False, timeout=10)
    reply = bytes.fromhex("".join(res.stdout.split())) if res.code == 0 else b""
    return "" if dns_answered(reply) else f"cluster DNS ({ip}) to answer {DNS_NAME}"
