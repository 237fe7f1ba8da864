"""kindlike.create.kubeadm: the kubeadm config written into each node."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from kindlike.cluster.versions import VersionError, kubeadm_api_version
from kindlike.config.patches import PatchError
from kindlike.config.types import PatchJSON6902
from kindlike.create import kubeadm
from kindlike.create.kubeadm import KubeadmConfigError, KubeadmInput, describe, render


def make(version: str = "v1.20.2", **kw) -> KubeadmInput:
    base = dict(
        cluster_name="demo",
        kubernetes_version=version,
        node_name="demo-control-plane",
        node_ip="10.89.0.2",
        control_plane_endpoint="demo-control-plane:6443",
        api_server_cert_sans=["127.0.0.1", "demo-control-plane"],
    )
    base.update(kw)
    return KubeadmInput(**base)


def worker(version: str = "v1.20.2", **kw) -> KubeadmInput:
    kw.setdefault("node_name", "demo-worker")
    kw.setdefault("node_ip", "10.89.0.3")
    return make(version, node_role="worker", join=True, **kw)


def docs_of(text: str) -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one document per kind"
    return by_kind


def args(section) -> dict[str, str]:
    """extraArgs / kubeletExtraArgs as a dict, whatever the API version's form."""
    if section is None:
        return {}
    if isinstance(section, list):
        return {a["name"]: a["value"] for a in section}
    return dict(section)


# --------------------------------------------------------------------------- versions


@pytest.mark.parametrize(
    "version, expected",
    [
        ("v1.20.2", "kubeadm.k8s.io/v1beta2"),
        ("1.22.17", "kubeadm.k8s.io/v1beta2"),
        ("v1.23.0", "kubeadm.k8s.io/v1beta3"),
        ("v1.25.3", "kubeadm.k8s.io/v1beta3"),
        ("v1.30.9", "kubeadm.k8s.io/v1beta3"),
        ("v1.31.0", "kubeadm.k8s.io/v1beta4"),
        ("v1.35.2-rc.1+abc", "kubeadm.k8s.io/v1beta4"),
        ("v2.0.0", "kubeadm.k8s.io/v1beta4"),
    ],
)
def test_api_version_bands(version, expected):
    assert kubeadm_api_version(version) == expected


def test_unparsable_version_is_an_error():
    with pytest.raises(VersionError):
        kubeadm_api_version("latest")


def test_every_kubeadm_document_uses_the_band_api_version():
    for version, av in (("v1.20.2", "v1beta2"), ("v1.25.0", "v1beta3"), ("v1.31.1", "v1beta4")):
        d = docs_of(render(make(version)))
        assert d["InitConfiguration"]["apiVersion"] == f"kubeadm.k8s.io/{av}"
        assert d["ClusterConfiguration"]["apiVersion"] == f"kubeadm.k8s.io/{av}"
        assert d["KubeletConfiguration"]["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
        assert d["KubeProxyConfiguration"]["apiVersion"] == "kubeproxy.config.k8s.io/v1alpha1"
        j = docs_of(render(worker(version)))
        assert j["JoinConfiguration"]["apiVersion"] == f"kubeadm.k8s.io/{av}"


# --------------------------------------------------------------------------- init vs join


def test_init_documents():
    d = docs_of(render(make()))
    assert set(d) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"}
    init = d["InitConfiguration"]
    assert init["bootstrapTokens"] == [{"token": "abcdef.0123456789abcdef"}]
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.89.0.2", "bindPort": 6443}
    reg = init["nodeRegistration"]
    assert reg["criSocket"] == "unix:///run/containerd/containerd.sock"
    assert reg["name"] == "demo-control-plane"
    assert args(reg["kubeletExtraArgs"])["node-ip"] == "10.89.0.2"
    # With workers (the default input) kubeadm's control-plane taint stays.
    assert "taints" not in reg


def test_control_planes_without_workers_register_untainted():
    """kind untaints them after init; kindlike registers them so, and the
    first pods are scheduled while init still runs."""
    init = docs_of(render(make("v1.37.2", control_plane_taint=False)))["InitConfiguration"]
    assert init["nodeRegistration"]["taints"] == []
    assert "taints: []" in render(make("v1.37.2", control_plane_taint=False))
    joining = docs_of(render(make("v1.37.2", control_plane_taint=False, join=True,
                                  control_plane_endpoint="demo-lb:6443")))["JoinConfiguration"]
    assert joining["nodeRegistration"]["taints"] == []
    # A worker never carries the field, whatever the cluster.
    assert "taints" not in docs_of(render(worker(control_plane_taint=False)))["JoinConfiguration"]["nodeRegistration"]
    # v1beta2 (1.20) takes the same empty list.
    old = docs_of(render(make("v1.20.2", control_plane_taint=False)))["InitConfiguration"]
    assert old["nodeRegistration"]["taints"] == []


def test_join_worker_documents():
    d = docs_of(render(worker()))
    assert set(d) == {"JoinConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"}
    join = d["JoinConfiguration"]
    assert join["discovery"]["bootstrapToken"] == {
        "apiServerEndpoint": "demo-control-plane:6443",
        "token": "abcdef.0123456789abcdef",
        "unsafeSkipCAVerification": True,
    }
    assert "controlPlane" not in join
    assert args(join["nodeRegistration"]["kubeletExtraArgs"])["node-ip"] == "10.89.0.3"
    assert join["nodeRegistration"]["name"] == "demo-worker"


def test_join_control_plane_advertises_its_own_address():
    inp = make(node_name="demo-control-plane2", node_ip="10.89.0.4", join=True)
    join = docs_of(render(inp))["JoinConfiguration"]
    assert join["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "10.89.0.4", "bindPort": 6443}}


def test_invalid_inputs_are_reported():
    with pytest.raises(KubeadmConfigError, match="node_ip"):
        render(make(node_ip=""))
    with pytest.raises(KubeadmConfigError, match="control_plane_endpoint"):
        render(worker(control_plane_endpoint=""))
    with pytest.raises(KubeadmConfigError, match="kubeadm init"):
        render(make(node_role="worker", join=False))
    with pytest.raises(KubeadmConfigError, match="kube_proxy_mode"):
        render(make(kube_proxy_mode="userspace"))
    with pytest.raises(KubeadmConfigError, match="cgroup_driver"):
        render(make(cgroup_driver="cgroupv2"))


# --------------------------------------------------------------------------- ClusterConfiguration


def test_cluster_configuration_basics():
    c = docs_of(render(make("1.20.2")))["ClusterConfiguration"]
    assert c["kubernetesVersion"] == "v1.20.2"
    assert c["clusterName"] == "demo"
    assert c["controlPlaneEndpoint"] == "demo-control-plane:6443"
    assert c["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/16"}
    assert args(c["controllerManager"]["extraArgs"])["enable-hostpath-provisioner"] == "true"
    assert "featureGates" not in c  # kubeadm's own gates: none for single stack


def test_cert_sans_include_loopback_and_given_names_once():
    c = docs_of(render(make(api_server_cert_sans=["192.168.1.10", "127.0.0.1", "demo-control-plane"])))
    sans = c["ClusterConfiguration"]["apiServer"]["certSANs"]
    assert sans == ["localhost", "127.0.0.1", "192.168.1.10", "demo-control-plane"]


@pytest.mark.parametrize("version", ["v1.20.2", "v1.25.0", "v1.31.0"])
def test_feature_gates_and_runtime_config_reach_every_component(version):
    inp = make(version, feature_gates={"SomeGate": True, "AnotherGate": False},
               runtime_config={"api/alpha": "false", "batch/v2alpha1": "true"})
    d = docs_of(render(inp))
    c = d["ClusterConfiguration"]
    gates = "AnotherGate=false,SomeGate=true"
    api = args(c["apiServer"]["extraArgs"])
    assert api["feature-gates"] == gates
    assert api["runtime-config"] == "api/alpha=false,batch/v2alpha1=true"
    assert args(c["controllerManager"]["extraArgs"])["feature-gates"] == gates
    assert args(c["scheduler"]["extraArgs"])["feature-gates"] == gates
    assert d["KubeletConfiguration"]["featureGates"] == {"AnotherGate": False, "SomeGate": True}
    assert d["KubeProxyConfiguration"]["featureGates"] == {"AnotherGate": False, "SomeGate": True}


def test_unknown_feature_gates_pass_through_unvalidated():
    d = docs_of(render(make("v1.20.2", feature_gates={"NotARealGate": True})))
    assert d["KubeletConfiguration"]["featureGates"] == {"NotARealGate": True}


def test_no_gates_no_runtime_config_means_no_flags():
    c = docs_of(render(make()))["ClusterConfiguration"]
    assert "feature-gates" not in args(c["apiServer"].get("extraArgs"))
    assert "runtime-config" not in args(c["apiServer"].get("extraArgs"))
    assert "feature-gates" not in args(c["controllerManager"]["extraArgs"])
    assert "featureGates" not in docs_of(render(make()))["KubeletConfiguration"]


def test_v1beta4_uses_name_value_lists():
    inp = make("v1.31.2", feature_gates={"G": True}, runtime_config={"api/all": "true"},
               node_labels={"tier": "db"})
    d = docs_of(render(inp))
    c = d["ClusterConfiguration"]
    assert c["apiServer"]["extraArgs"] == [
        {"name": "runtime-config", "value": "api/all=true"},
        {"name": "feature-gates", "value": "G=true"},
    ]
    assert isinstance(c["controllerManager"]["extraArgs"], list)
    assert isinstance(c["scheduler"]["extraArgs"], list)
    kea = d["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"]
    assert isinstance(kea, list)
    assert {"name": "node-labels", "value": "tier=db"} in kea
    j = docs_of(render(worker("v1.31.2")))["JoinConfiguration"]
    assert isinstance(j["nodeRegistration"]["kubeletExtraArgs"], list)


def test_v1beta3_and_v1beta2_use_maps():
    for version in ("v1.20.2", "v1.25.0"):
        c = docs_of(render(make(version, feature_gates={"G": True})))["ClusterConfiguration"]
        assert isinstance(c["apiServer"]["extraArgs"], dict)
        assert isinstance(c["controllerManager"]["extraArgs"], dict)


def test_ipv6_bind_addresses():
    inp = make("v1.25.0", ip_family="ipv6", node_ip="fd00:10::2",
               pod_subnet="fd00:10:244::/56", service_subnet="fd00:10:96::/112")
    d = docs_of(render(inp))
    c = d["ClusterConfiguration"]
    assert args(c["controllerManager"]["extraArgs"])["bind-address"] == "::"
    assert args(c["scheduler"]["extraArgs"])["bind-address"] == "::1"
    assert d["KubeletConfiguration"]["address"] == "::"
    assert d["KubeletConfiguration"]["healthzBindAddress"] == "::"
    assert d["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == "fd00:10::2"


def test_dual_stack_advertises_first_address_and_120_kubeadm_gate():
    inp = make("v1.20.2", ip_family="dual", node_ip="10.89.0.2,fd00:10::2",
               pod_subnet="10.244.0.0/16,fd00:10:244::/56")
    d = docs_of(render(inp))
    assert d["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == "10.89.0.2"
    assert args(d["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"])["node-ip"] == "10.89.0.2,fd00:10::2"
    assert d["ClusterConfiguration"]["featureGates"] == {"IPv6DualStack": True}
    later = docs_of(render(dataclasses.replace(inp, kubernetes_version="v1.25.0")))
    assert "featureGates" not in later["ClusterConfiguration"]


def test_image_repository_only_when_set():
    assert "imageRepository" not in docs_of(render(make()))["ClusterConfiguration"]
    c = docs_of(render(make(image_repository="registry.local/k8s")))["ClusterConfiguration"]
    assert c["imageRepository"] == "registry.local/k8s"


# --------------------------------------------------------------------------- labels


def test_node_labels_sorted_in_kubelet_extra_args():
    inp = make(node_labels={"zone": "b", "app": "x"})
    kea = args(docs_of(render(inp))["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"])
    assert kea["node-labels"] == "app=x,zone=b"


def test_no_labels_no_flag():
    kea = args(docs_of(render(make()))["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"])
    assert "node-labels" not in kea


def test_worker_labels():
    kea = args(docs_of(render(worker(node_labels={"role": "gpu"})))["JoinConfiguration"]["nodeRegistration"]["kubeletExtraArgs"])
    assert kea["node-labels"] == "role=gpu"


def test_no_provider_id():
    kea = args(docs_of(render(make()))["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"])
    assert "provider-id" not in kea


# --------------------------------------------------------------------------- kubelet


def test_kubelet_defaults():
    k = docs_of(render(make()))["KubeletConfiguration"]
    assert k["cgroupDriver"] == "cgroupfs"
    assert "cgroupRoot" not in k  # the node's root cgroup is the container's own
    assert k["failSwapOn"] is False
    assert k["imageGCHighThresholdPercent"] == 100
    assert k["evictionHard"] == {"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"}
    assert k["authentication"]["anonymous"]["enabled"] is False
    assert k["authentication"]["webhook"]["enabled"] is True
    assert k["authentication"]["x509"]["clientCAFile"] == "/etc/kubernetes/pki/ca.crt"
    assert k["authorization"]["mode"] == "Webhook"
    assert "localStorageCapacityIsolation" not in k


def test_kubelet_systemd_driver_when_asked():
    assert docs_of(render(make(cgroup_driver="systemd")))["KubeletConfiguration"]["cgroupDriver"] == "systemd"


def test_120_in_user_namespace_gets_no_userns_gate():
    d = docs_of(render(make("v1.20.2", user_namespace=True)))
    k = d["KubeletConfiguration"]
    assert "featureGates" not in k
    assert "localStorageCapacityIsolation" not in k
    # kube-proxy still avoids the sysctls it cannot write
    assert d["KubeProxyConfiguration"]["conntrack"]["tcpEstablishedTimeout"] == "0s"


def test_120_user_namespace_keeps_user_gates_only():
    k = docs_of(render(make("v1.20.2", user_namespace=True, feature_gates={"X": True})))["KubeletConfiguration"]
    assert k["featureGates"] == {"X": True}


def test_122_to_124_user_namespace_gates():
    k = docs_of(render(make("v1.22.17", user_namespace=True)))["KubeletConfiguration"]
    assert k["featureGates"] == {"KubeletInUserNamespace": True, "LocalStorageCapacityIsolation": False}
    assert "localStorageCapacityIsolation" not in k


def test_125_user_namespace_gate_and_field():
    d = docs_of(render(make("v1.25.3", user_namespace=True, feature_gates={"Other": True})))
    k = d["KubeletConfiguration"]
    assert k["featureGates"] == {"KubeletInUserNamespace": True, "Other": True}
    assert k["localStorageCapacityIsolation"] is False
    # only the kubelet gets the user-namespace gate
    assert "KubeletInUserNamespace" not in args(d["ClusterConfiguration"]["apiServer"]["extraArgs"])["feature-gates"]
    assert d["KubeProxyConfiguration"]["featureGates"] == {"Other": True}


def test_userns_gate_overrides_user_value():
    k = docs_of(render(make("v1.25.3", user_namespace=True, feature_gates={"KubeletInUserNamespace": False})))
    assert k["KubeletConfiguration"]["featureGates"]["KubeletInUserNamespace"] is True


def test_rootful_125_has_no_userns_gate():
    k = docs_of(render(make("v1.25.3", user_namespace=False)))["KubeletConfiguration"]
    assert "featureGates" not in k


def test_worker_kubelet_in_user_namespace():
    k = docs_of(render(worker("v1.31.0", user_namespace=True)))["KubeletConfiguration"]
    assert k["featureGates"]["KubeletInUserNamespace"] is True


# --------------------------------------------------------------------------- kube-proxy


@pytest.mark.parametrize("mode", ["iptables", "ipvs", "nftables"])
def test_kube_proxy_modes(mode):
    p = docs_of(render(make(kube_proxy_mode=mode)))["KubeProxyConfiguration"]
    assert p["mode"] == mode


def test_kube_proxy_rootful_conntrack():
    p = docs_of(render(make()))["KubeProxyConfiguration"]
    assert p["conntrack"] == {"maxPerCore": 0}
    assert p["iptables"]["minSyncPeriod"] == "1s"


def test_kube_proxy_user_namespace_conntrack():
    p = docs_of(render(make("v1.25.0", user_namespace=True)))["KubeProxyConfiguration"]
    assert p["conntrack"] == {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"}


def test_kube_proxy_none_drops_document_and_skips_phase():
    inp = make(kube_proxy_mode="none")
    assert "KubeProxyConfiguration" not in docs_of(render(inp))
    assert "KubeProxyConfiguration" not in docs_of(render(worker(kube_proxy_mode="none")))
    info = describe(inp)
    assert info["kube_proxy"] is None
    assert info["init_skip_phases"] == ["addon/kube-proxy"]
    # From 1.37 kindlike does kubelet-finalize itself, without its kubelet restart.
    assert describe(make("v1.37.2", kube_proxy_mode="none"))["init_skip_phases"] == [
        "kubelet-finalize", "addon/kube-proxy"]
    assert describe(make("v1.36.0"))["init_skip_phases"] == []


# --------------------------------------------------------------------------- patches


def test_cluster_then_node_merge_patches_node_wins():
    cluster = ["kind: KubeletConfiguration\nmaxPods: 50\nserializeImagePulls: false\n"]
    node = ["kind: KubeletConfiguration\nmaxPods: 80\n"]
    k = docs_of(render(make(), cluster_patches=cluster, node_patches=node))["KubeletConfiguration"]
    assert k["maxPods"] == 80
    assert k["serializeImagePulls"] is False
    assert k["cgroupDriver"] == "cgroupfs"  # untouched keys survive


def test_merge_patch_matches_by_kind_and_api_version():
    patches = [
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nclusterName: wrong-version\n",
        "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\nnetworking:\n  dnsDomain: example.local\n",
    ]
    c = docs_of(render(make("v1.20.2"), cluster_patches=patches))["ClusterConfiguration"]
    assert c["clusterName"] == "demo"
    assert c["networking"]["dnsDomain"] == "example.local"
    assert c["networking"]["podSubnet"] == "10.244.0.0/16"


def test_kind_style_node_labels_patch():
    # The classic kind example: labels through InitConfiguration kubeletExtraArgs.
    patch = 'kind: InitConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n    node-labels: "ingress-ready=true"\n'
    kea = args(docs_of(render(make(), node_patches=[patch]))["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"])
    assert kea["node-labels"] == "ingress-ready=true"
    assert kea["node-ip"] == "10.89.0.2"


def test_map_style_patch_on_v1beta4_merges_by_name():
    patch = "kind: ClusterConfiguration\napiServer:\n  extraArgs:\n    enable-admission-plugins: NodeRestriction\n"
    c = docs_of(render(make("v1.31.0", runtime_config={"api/all": "true"}), cluster_patches=[patch]))["ClusterConfiguration"]
    assert c["apiServer"]["extraArgs"] == [
        {"name": "runtime-config", "value": "api/all=true"},
        {"name": "enable-admission-plugins", "value": "NodeRestriction"},
    ]


def test_cert_sans_patch_is_unioned():
    patch = "kind: ClusterConfiguration\napiServer:\n  certSANs: [my.host.example]\n"
    c = docs_of(render(make(), cluster_patches=[patch]))["ClusterConfiguration"]
    assert c["apiServer"]["certSANs"][-1] == "my.host.example"
    assert "localhost" in c["apiServer"]["certSANs"]


def test_json6902_patches_cluster_then_node():
    cluster = [PatchJSON6902(group="kubeproxy.config.k8s.io", version="v1alpha1", kind="KubeProxyConfiguration",
                             patch="- op: replace\n  path: /mode\n  value: ipvs\n")]
    node = [PatchJSON6902(group="kubeproxy.config.k8s.io", version="v1alpha1", kind="KubeProxyConfiguration",
                          patch='[{"op": "test", "path": "/mode", "value": "ipvs"},'
                                ' {"op": "replace", "path": "/mode", "value": "nftables"}]')]
    p = docs_of(render(make(), cluster_json6902=cluster, node_json6902=node))["KubeProxyConfiguration"]
    assert p["mode"] == "nftables"


def test_json6902_runs_after_merge_within_a_level():
    merge = ["kind: KubeletConfiguration\nmaxPods: 10\n"]
    j = [PatchJSON6902(group="kubelet.config.k8s.io", version="v1beta1", kind="KubeletConfiguration",
                       patch="- op: replace\n  path: /maxPods\n  value: 20\n")]
    k = docs_of(render(make(), cluster_patches=merge, cluster_json6902=j))["KubeletConfiguration"]
    assert k["maxPods"] == 20


def test_node_merge_patch_beats_cluster_json6902():
    j = [PatchJSON6902(group="kubelet.config.k8s.io", version="v1beta1", kind="KubeletConfiguration",
                       patch="- op: add\n  path: /maxPods\n  value: 20\n")]
    node = ["kind: KubeletConfiguration\nmaxPods: 30\n"]
    k = docs_of(render(make(), cluster_json6902=j, node_patches=node))["KubeletConfiguration"]
    assert k["maxPods"] == 30


def test_json6902_on_v1beta4_extra_args_list():
    j = [PatchJSON6902(group="kubeadm.k8s.io", version="v1beta4", kind="ClusterConfiguration",
                       patch="- op: add\n  path: /apiServer/extraArgs/-\n  value: {name: v, value: '4'}\n")]
    c = docs_of(render(make("v1.32.0"), cluster_json6902=j))["ClusterConfiguration"]
    assert {"name": "v", "value": "4"} in c["apiServer"]["extraArgs"]


def test_patch_for_absent_document_is_ignored():
    # A worker has no InitConfiguration; kind ignores patches that match nothing.
    patch = "kind: InitConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n    node-labels: x=y\n"
    d = docs_of(render(worker(), cluster_patches=[patch]))
    assert "InitConfiguration" not in d


def test_failing_json6902_is_an_error():
    j = [PatchJSON6902(group="kubelet.config.k8s.io", version="v1beta1", kind="KubeletConfiguration",
                       patch="- op: remove\n  path: /doesNotExist\n")]
    with pytest.raises(PatchError):
        render(make(), cluster_json6902=j)


# --------------------------------------------------------------------------- describe / output


def test_describe_summary():
    info = describe(make("v1.25.0", user_namespace=True, feature_gates={"A": True}))
    assert info["api_version"] == "kubeadm.k8s.io/v1beta3"
    assert info["kubeadm"] == "init"
    assert info["cgroup_driver"] == "cgroupfs"
    assert info["documents"] == ["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"]
    assert info["feature_gates"] == {"A": True}
    assert info["kubelet_feature_gates"] == {"A": True, "KubeletInUserNamespace": True}
    assert info["kubelet_feature_gates_added"] == {"KubeletInUserNamespace": True}
    assert info["kube_proxy"] == {
        "mode": "iptables",
        "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }
    assert info["init_skip_phases"] == []


def test_describe_120_rootless():
    info = describe(make("v1.20.2", user_namespace=True))
    assert info["api_version"] == "kubeadm.k8s.io/v1beta2"
    assert info["kubelet_feature_gates_added"] == {}


def test_render_is_yaml_with_header_and_no_metadata():
    text = render(make())
    assert text.startswith("#")
    for d in yaml.safe_load_all(text):
        assert "metadata" not in d


def test_version_without_v_is_normalized():
    c = docs_of(render(make("1.25.0")))["ClusterConfiguration"]
    assert c["kubernetesVersion"] == "v1.25.0"


def test_render_does_not_mutate_input():
    inp = make(feature_gates={"A": True}, user_namespace=True, kubernetes_version="v1.25.0")
    render(inp, node_patches=["kind: KubeletConfiguration\nfeatureGates:\n  B: true\n"])
    assert inp.feature_gates == {"A": True}


def test_module_constants_match_kind():
    assert kubeadm.BOOTSTRAP_TOKEN == "abcdef.0123456789abcdef"
    assert kubeadm.CRI_SOCKET == "unix:///run/containerd/containerd.sock"


def test_a_lone_etcd_member_elects_itself_quickly_but_members_of_several_keep_the_defaults():
    one = docs_of(render(make("v1.37.2")))["ClusterConfiguration"]
    assert one["etcd"]["local"]["extraArgs"] == [{"name": "heartbeat-interval", "value": "20"},
                                                 {"name": "election-timeout", "value": "200"}]
    old = docs_of(render(make("v1.26.0")))["ClusterConfiguration"]
    assert old["etcd"]["local"]["extraArgs"] == {"heartbeat-interval": "20", "election-timeout": "200"}
    several = docs_of(render(make("v1.37.2", control_planes=3, certificate_key="a" * 64)))["ClusterConfiguration"]
    assert "etcd" not in several


def _args_of(component: dict) -> dict[str, str]:
    args = component["extraArgs"]
    return {a["name"]: a["value"] for a in args} if isinstance(args, list) else dict(args)


def test_a_lone_control_plane_runs_its_controllers_without_leader_election():
    one = docs_of(render(make("v1.37.2")))["ClusterConfiguration"]
    assert _args_of(one["controllerManager"])["leader-elect"] == "false"
    assert _args_of(one["scheduler"])["leader-elect"] == "false"
    several = docs_of(render(make("v1.37.2", control_planes=3, certificate_key="a" * 64)))["ClusterConfiguration"]
    assert "leader-elect" not in _args_of(several["controllerManager"])
    assert "leader-elect" not in _args_of(several["scheduler"])


def test_the_controller_manager_client_is_not_throttled_at_start_on_any_version():
    for version in ("v1.20.2", "v1.26.0", "v1.37.2"):
        cm = _args_of(docs_of(render(make(version)))["ClusterConfiguration"]["controllerManager"])
        assert int(cm["kube-api-qps"]) >= 100 and int(cm["kube-api-burst"]) >= 200, version


def test_coredns_readiness_is_asked_every_second_where_kubeadm_can_patch_it():
    inp = make("v1.37.2")
    init = next(d for d in yaml.safe_load_all(render(inp)) if d and d["kind"] == "InitConfiguration")
    assert init["patches"] == {"directory": "/kind/kubeadm-patches"}
    (name, text), = kubeadm.init_patches(inp).items()
    assert name == "corednsdeployment+strategic.yaml"
    container = yaml.safe_load(text)["spec"]["template"]["spec"]["containers"][0]
    assert container == {"name": "coredns", "readinessProbe": {"periodSeconds": 1},
                         "env": [{"name": "KUBERNETES_SERVICE_HOST", "value": "demo-control-plane"},
                                 {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"}]}
    assert "replicas" not in yaml.safe_load(text)["spec"]  # kubeadm's two, with workers to spread them on
    for single, inp in ((True, dataclasses.replace(inp, control_plane_taint=False)),
                        (False, dataclasses.replace(inp, control_plane_taint=False, control_planes=3))):
        spec = yaml.safe_load(kubeadm.init_patches(inp)[name])["spec"]
        assert spec.get("replicas") == (1 if single else None)
    old = make("v1.30.9")
    assert kubeadm.init_patches(old) == {}
    init_old = next(d for d in yaml.safe_load_all(render(old)) if d and d["kind"] == "InitConfiguration")
    assert "patches" not in init_old
