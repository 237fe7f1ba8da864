"""What `--wait` awaits (kindlike.cluster.usable), on API documents: the order of
the stages, fresh heartbeats and container starts after a start, DaemonSets
of kube-* namespaces only, and the DNS message it sends and accepts."""
from __future__ import annotations

import struct

from kindlike.cluster import usable

T0 = "2026-12-03T10:00:00Z"
T1 = "2026-12-03T10:05:00Z"
SINCE = usable._time("2026-12-03T10:04:00Z")


def node(name, ready="True", beat=T1, message=""):
    return {"kind": "Node", "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": beat,
                                       "message": message}]}}


def ds(name, ns="kube-flannel"):
    return {"kind": "DaemonSet", "metadata": {"name": name, "namespace": ns}}


def pod(ds_name, node_name, ns="kube-flannel", ready="True", started=T1, labels=None, ip="10.244.0.2"):
    return {"kind": "Pod", "metadata": {"name": f"{ds_name}-{node_name}", "namespace": ns, "labels": labels or {},
                                        "ownerReferences": [{"kind": "DaemonSet", "name": ds_name}]},
            "spec": {"nodeName": node_name},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}],
                       "containerStatuses": [{"state": {"running": {"startedAt": started}}}]}}


SA = {"kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "default"}}
SC = {"kind": "StorageClass", "metadata": {"name": "standard",
                                           "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}


def usable_items(nodes=("a", "b")):
    items = [node(n) for n in nodes] + [ds("kube-flannel-ds"), ds("kube-proxy", "kube-system"), SA, SC]
    items += [pod("kube-flannel-ds", n) for n in nodes] + [pod("kube-proxy", n, "kube-system") for n in nodes]
    return items


def awaited(items, expected=("a", "b"), since=None, storage=True):
    return usable._first_awaited(items, list(expected), since, storage)


def test_all_there_awaits_nothing():
    assert awaited(usable_items()) == ""


def test_stages_in_order():
    items = usable_items()
    items[1] = node("b", ready="False")
    assert awaited(items) == "nodes Ready: b"
    assert awaited(usable_items(("a",))) == "nodes Ready: b", "an expected Node not registered yet"
    items = [i for i in usable_items() if not (i["kind"] == "Pod" and i["spec"]["nodeName"] == "b"
                                               and i["metadata"]["namespace"] == "kube-flannel")]
    assert awaited(items) == "kube-flannel-ds on b"
    assert awaited([i for i in usable_items() if i is not SA]) == "the default ServiceAccount"
    assert awaited([i for i in usable_items() if i is not SC]) == "the default StorageClass"
    assert awaited([i for i in usable_items() if i is not SC], storage=False) == ""


def test_a_pod_not_ready_or_going_away_does_not_serve():
    items = usable_items()
    items[-1] = pod("kube-proxy", "b", "kube-system", ready="False")
    assert awaited(items) == "kube-proxy on b"
    gone = pod("kube-proxy", "b", "kube-system")
    gone["metadata"]["deletionTimestamp"] = T1
    items[-1] = gone
    assert awaited(items) == "kube-proxy on b"


def test_after_a_start_only_fresh_heartbeats_and_containers_count():
    assert awaited(usable_items(), since=SINCE) == ""
    items = usable_items()
    items[0] = node("a", beat=T0)  # Ready from before the stop
    assert awaited(items, since=SINCE) == "nodes Ready: a"
    items = usable_items()
    items[-1] = pod("kube-proxy", "b", "kube-system", started=T0)
    assert awaited(items, since=SINCE) == "kube-proxy on b"
    assert awaited(items) == "", "without a start, an old container is fine"


def test_daemonsets_outside_kube_namespaces_are_not_awaited():
    items = usable_items() + [ds("user-probe", "default")]
    assert awaited(items) == ""


def test_reasons_name_each_node_not_ready():
    items = [node("a"), node("b", ready="False", message="container runtime network not ready")]
    assert usable._not_ready_reasons(items) == ["b: container runtime network not ready"]


def test_dns_message_and_answers():
    q = usable.dns_query("kubernetes.default.svc.cluster.local", qid=7)
    assert q[:12] == struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0)
    assert q[12:] == b"\x0akubernetes\x07default\x03svc\x07cluster\x05local\x00" + b"\x00\x01\x00\x01"
    answer = struct.pack("!HHHHHH", 7, 0x8180, 1, 1, 0, 0) + q[12:]
    assert usable.dns_answered(answer, qid=7)
    assert not usable.dns_answered(answer, qid=8), "another query's reply"
    assert not usable.dns_answered(struct.pack("!HHHHHH", 7, 0x8183, 1, 0, 0, 0), qid=7), "NXDOMAIN"
    assert not usable.dns_answered(struct.pack("!HHHHHH", 7, 0x8180, 1, 0, 0, 0), qid=7), "no answer"
    assert not usable.dns_answered(b"", qid=7)


class Terminal:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_the_status_line_says_what_is_awaited_on_a_terminal():
    from kindlike.status import Status

    out = Terminal()
    with Status(stream=out).step("Waiting for a usable cluster") as note:
        note.awaiting("kube-flannel-ds on n1")
        note("usable")
    assert " • Waiting for a usable cluster (waiting for kube-flannel-ds on n1) ...\x1b[K\r" in out.text
    assert out.text.endswith("(usable) 0.0s\x1b[K\n")
    piped = Terminal()
    piped.isatty = lambda: False
    with Status(stream=piped).step("Waiting") as note:
        note.awaiting("DNS")
    assert "DNS" not in piped.text, "a log gets the final line only"
