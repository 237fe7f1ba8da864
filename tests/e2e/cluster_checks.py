"""What a cluster made from the default image must do besides networking
pods: Flannel for real, cluster DNS, default storage, the built versions,
crictl, the seed's kubelet settings and the volume types the seed's caveat
names. Each check takes `k` (kubectl with the cluster's kubeconfig, returning
stdout) and the cluster's nodes."""
from __future__ import annotations

import json
import textwrap
import time

from kindlike.nodeimage.components import DEFAULT_KUBERNETES

BUSYBOX = "kindlike/e2e-busybox:1"
# networking.dnsSearch of the e2e cluster: nodes and pods search it too.
DNS_SEARCH = "kindlike.test"


def wait_for(fn, what: str, timeout: float = 180, delay: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - retried until the deadline, then shown
            last = e
        time.sleep(delay)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def check_flannel(k, nodes) -> None:
    """A Running flanneld on every node (create --wait waited for it), and
    its flannel.1 on VNI 1 / UDP 8472."""
    pods = json.loads(k("-n", "kube-flannel", "get", "pods", "-o", "json"))["items"]
    assert {p["spec"]["nodeName"] for p in pods if p["status"].get("phase") == "Running"} >= {n.name for n in nodes}
    for n in nodes:
        link = n.exec("ip", "-d", "link", "show", "flannel.1").stdout
        assert "vxlan id 1 " in link and "dstport 8472" in link, f"{n.name}: {link}"


def check_versions_and_crictl(k, nodes) -> None:
    assert f"Server Version: {DEFAULT_KUBERNETES}" in k("version")
    ps = nodes[0].exec("crictl", "ps").stdout
    assert "kube-apiserver" in ps and "etcd" in ps, ps


def check_userns_kubelet(nodes, rootless: bool) -> None:
    """The seed's kubelet gate under a rootless engine, never rootful."""
    for n in nodes:
        cfg = n.exec("cat", "/var/lib/kubelet/config.yaml").stdout
        has_gate = "KubeletInUserNamespace: true" in cfg
        assert has_gate is rootless, f"{n.name}: KubeletInUserNamespace {'missing' if rootless else 'set'}"
        assert "cgroupDriver: cgroupfs" in cfg


def check_dns(k) -> None:
    """From another namespace: the API's Service name, and a Service of the
    default namespace by name; the search list carries networking.dnsSearch."""
    k("create", "namespace", "e2e-dns")
    k("-n", "e2e-dns", "run", "dns", f"--image={BUSYBOX}", "--image-pull-policy=Never", "--restart=Never",
      "--", "sleep", "3600")
    k("-n", "e2e-dns", "wait", "--for=condition=Ready", "pod/dns", "--timeout=180s")
    resolv = k("-n", "e2e-dns", "exec", "dns", "--", "cat", "/etc/resolv.conf")
    search = next(l.split()[1:] for l in resolv.splitlines() if l.startswith("search"))
    assert search[0] == "e2e-dns.svc.cluster.local" and search[-1] == DNS_SEARCH, resolv
    # busybox nslookup does not walk the search list: full names (the list
    # itself is checked above). Asked once: create --wait waited for DNS.
    for name in ("kubernetes.default.svc.cluster.local", "web.default.svc.cluster.local"):
        assert _nslookup(k, name), f"no DNS answer for {name}"


def _nslookup(k, name: str) -> str:
    out = k("-n", "e2e-dns", "exec", "dns", "--", "nslookup", name, check=False)
    return out if "Name:" in out and "Address" in out.split("Name:", 1)[1] else ""


PVC = textwrap.dedent("""\
    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 64Mi}}
    """)


def _pvc_pod(command: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Pod
        metadata: {{name: pvc-user}}
        spec:
          restartPolicy: Never
          containers:
          - name: c
            image: {BUSYBOX}
            imagePullPolicy: Never
            command: ["sh", "-c", "{command}"]
            volumeMounts: [{{name: data, mountPath: /data}}]
          volumes: [{{name: data, persistentVolumeClaim: {{claimName: data}}}}]
        """)


def check_storage(k) -> None:
    """A claim with no class binds through the default class on first use,
    and its data outlives the pod."""
    classes = json.loads(k("get", "storageclass", "-o", "json"))["items"]
    default = [c["metadata"]["name"] for c in classes
               if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert default == ["standard"], default
    k("apply", "-f", "-", stdin=PVC)
    k("apply", "-f", "-", stdin=_pvc_pod("echo kept > /data/file && sleep 1"))
    wait_for(lambda: k("get", "pod", "pvc-user", "-o", "jsonpath={.status.phase}") == "Succeeded",
             "the writing pod to finish")
    assert k("get", "pvc", "data", "-o", "jsonpath={.status.phase}") == "Bound"
    assert k("get", "pvc", "data", "-o", "jsonpath={.spec.storageClassName}") == "standard"
    k("delete", "pod", "pvc-user", "--wait=true")
    k("apply", "-f", "-", stdin=_pvc_pod("cat /data/file"))
    wait_for(lambda: k("get", "pod", "pvc-user", "-o", "jsonpath={.status.phase}") == "Succeeded",
             "the reading pod to finish")
    assert k("logs", "pvc-user").strip() == "kept"
    # Started before kube-proxy's rules, the provisioner lost its first API
    # call to client-go's 30 s dial timeout and restarted: a first claim
    # then waited half a minute (long past by now, this module runs well
    # after create).
    pods = json.loads(k("-n", "local-path-storage", "get", "pods", "-o", "json"))["items"]
    assert [c["restartCount"] for p in pods for c in p["status"]["containerStatuses"]] == [0], pods


VOLUMES_POD = textwrap.dedent(f"""\
    apiVersion: v1
    kind: ConfigMap
    metadata: {{name: vol-cm}}
    data: {{key: from-configmap}}
    ---
    apiVersion: v1
    kind: Secret
    metadata: {{name: vol-secret}}
    stringData: {{key: from-secret}}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {{name: volumes, labels: {{who: volumes}}}}
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: {BUSYBOX}
        imagePullPolicy: Never
        command: ["sh", "-c", "echo from-emptydir > /empty/f && cat /empty/f /cm/key /secret/key /info/labels && echo && echo from-hostpath > /host/f && cat /host/f"]
        volumeMounts:
        - {{name: empty, mountPath: /empty}}
        - {{name: cm, mountPath: /cm}}
        - {{name: secret, mountPath: /secret}}
        - {{name: info, mountPath: /info}}
        - {{name: host, mountPath: /host}}
      volumes:
      - {{name: empty, emptyDir: {{}}}}
      - {{name: cm, configMap: {{name: vol-cm}}}}
      - {{name: secret, secret: {{secretName: vol-secret}}}}
      - {{name: info, downwardAPI: {{items: [{{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}]}}}}
      - {{name: host, hostPath: {{path: /var/tmp/e2e-hostpath, type: DirectoryOrCreate}}}}
    """)


def check_volume_types(k) -> None:
    """The seed's caveat: emptyDir, hostPath, configMap, secret and
    downwardAPI volumes work (in a user namespace too)."""
    k("apply", "-f", "-", stdin=VOLUMES_POD)
    wait_for(lambda: k("get", "pod", "volumes", "-o", "jsonpath={.status.phase}") in ("Succeeded", "Failed"),
             "the volumes pod to finish")
    out = k("logs", "volumes")
    for want in ("from-emptydir", "from-configmap", "from-secret", 'who="volumes"', "from-hostpath"):
        assert want in out, out
    assert k("get", "pod", "volumes", "-o", "jsonpath={.status.phase}") == "Succeeded", out


def check_images_unpacked(nodes) -> None:
    """The node image's preloaded images come unpacked for containerd's
    overlayfs snapshotter (kindlike-unpack-images at build), their layers
    and the content store in the image rather than in each node's /var."""
    for n in nodes:
        assert n.exec("readlink", "/var/lib/containerd/io.containerd.content.v1.content").stdout.strip() \
            == "/kindlike/containerd-content", n.name
        snapshotter = n.exec("sh", "-c", "grep -h -o 'snapshotter *= *\"[a-z-]*\"' /etc/containerd/config.toml "
                                         "| head -n 1").stdout
        if '"overlayfs"' not in snapshotter:
            continue  # fuse-overlayfs or native: unpacked at first use from the content store, as before
        log = n.exec("journalctl", "--no-pager", "-u", "containerd").stdout
        assert "is not unpacked" not in log, f"{n.name}: {[l for l in log.splitlines() if 'is not unpacked' in l][:2]}"
        links = n.exec("find", "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots",
                       "-maxdepth", "1", "-type", "l", "-lname", "/kindlike/containerd-snapshots/*").stdout.split()
        assert len(links) >= 9, f"{n.name}: {links}"
