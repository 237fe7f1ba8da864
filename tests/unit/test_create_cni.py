"""kindlike.create.cni on the default image's own manifests: templating the
pod subnet, pointing the DaemonSet at the API server, the CNI config that is
written on the nodes before their kubelets start."""
from __future__ import annotations

import json

import yaml

from kindlike.create import cni
from tests.conftest import REPO

MANIFESTS = REPO / "images" / "gomod" / "layout" / "kind" / "manifests"


def flannel_manifest() -> str:
    """As the image holds it: its Dockerfile puts the image name in."""
    from kindlike.nodeimage.components import flannel_image

    return (MANIFESTS / "default-cni.yaml").read_text().replace("@FLANNEL_IMAGE@", flannel_image())


def test_pod_subnet_is_templated_as_kind_does():
    out = cni.render_cni_manifest(flannel_manifest(), "10.123.0.0/16")
    net = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "ConfigMap")["data"]["net-conf.json"]
    assert json.loads(net) == {"Network": "10.123.0.0/16", "Backend": {"Type": "vxlan", "VNI": 1, "Port": 8472}}
    assert "{{" not in out


def test_an_untemplated_upstream_manifest_gets_its_network_replaced():
    upstream = 'net-conf.json: |\n  {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}\n'
    assert '"Network": "10.9.0.0/16"' in cni.render_cni_manifest(upstream, "10.9.0.0/16")


def test_daemonset_reaches_the_api_server_directly():
    out = cni.point_at_api_server(cni.render_cni_manifest(flannel_manifest(), "10.244.0.0/16"), "x-control-plane", 6443)
    docs = [d for d in yaml.safe_load_all(out) if d]
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    env = {e["name"]: e.get("value") for e in ds["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KUBERNETES_SERVICE_HOST"] == "x-control-plane" and env["KUBERNETES_SERVICE_PORT"] == "6443"
    assert "POD_NAME" in env  # the manifest's own variables are kept
    # everything else is unchanged, document for document
    assert [d["kind"] for d in docs] == [d["kind"] for d in yaml.safe_load_all(flannel_manifest()) if d]
    again = cni.point_at_api_server(out, "y", 1)
    env2 = [e["name"] for e in next(d for d in yaml.safe_load_all(again) if d and d["kind"] == "DaemonSet")
            ["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert env2.count("KUBERNETES_SERVICE_HOST") == 1


def test_preseeded_cni_config_is_the_daemonsets_own():
    conflist = cni.flannel_conflist(flannel_manifest())
    doc = json.loads(conflist)
    assert [p["type"] for p in doc["plugins"]] == ["flannel", "portmap"]
    # the init container copies exactly this file to exactly this place
    assert "/etc/cni/net.d/10-flannel.conflist" in flannel_manifest() and cni.FLANNEL_CONFLIST.endswith(
        "10-flannel.conflist")
    assert cni.flannel_conflist("kind: Namespace\nmetadata: {name: x}\n") is None


class FakeNode:
    def __init__(self, files):
        self.files = files

    def read_file(self, path):
        return self.files[path]

    def write_file(self, path, content):
        self.files[path] = content


def test_preseed_writes_every_node_or_none():
    a, b = FakeNode({cni.CNI_MANIFEST: flannel_manifest()}), FakeNode({})
    assert cni.preseed_cni_config([a, b]) is True
    assert a.files[cni.FLANNEL_CONFLIST] == b.files[cni.FLANNEL_CONFLIST] == cni.flannel_conflist(flannel_manifest())
    c = FakeNode({cni.CNI_MANIFEST: "kind: Namespace\nmetadata: {name: x}\n"})
    assert cni.preseed_cni_config([c]) is False and cni.FLANNEL_CONFLIST not in c.files


def test_nodes_with_the_config_get_flannel_without_its_copying_init_container():
    image_ds = next(d for d in yaml.safe_load_all(flannel_manifest()) if d and d["kind"] == "DaemonSet")
    assert [c["name"] for c in image_ds["spec"]["template"]["spec"]["initContainers"]] == ["install-cni"]
    out = cni.without_conflist_copy(flannel_manifest())
    docs = [d for d in yaml.safe_load_all(out) if d]
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    assert "initContainers" not in ds["spec"]["template"]["spec"]
    assert ds["spec"]["template"]["spec"]["containers"] == image_ds["spec"]["template"]["spec"]["containers"]
    assert [d["kind"] for d in docs] == [d["kind"] for d in yaml.safe_load_all(flannel_manifest()) if d]


def test_other_init_containers_are_kept():
    manifest = yaml.safe_dump({"kind": "DaemonSet", "spec": {"template": {"spec": {
        "initContainers": [{"name": "plugin", "command": ["cp", "-f", "/flannel", "/opt/cni/bin/flannel"]},
                           {"name": "conf", "command": ["cp", "-f", "/c.json", cni.FLANNEL_CONFLIST]}],
        "containers": [{"name": "x"}]}}}})
    ds = yaml.safe_load(cni.without_conflist_copy(manifest))
    assert [c["name"] for c in ds["spec"]["template"]["spec"]["initContainers"]] == ["plugin"]
