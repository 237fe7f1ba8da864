"""The dry-run plan, as text and as data."""
from __future__ import annotations

import json
import textwrap

from kindlike.config import PlanSection, load_config, load_config_text, plan_dict, render_plan

HEADER = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"


def cfg(body: str = ""):
    return load_config_text(HEADER + textwrap.dedent(body), "t")


def test_default_plan_text():
    loaded = load_config(None)
    assert render_plan("kindlike", loaded.cluster, loaded.warnings) == textwrap.dedent(
        """\
        Plan for cluster "kindlike" (dry run: nothing is created)

        Nodes (1):
          kindlike-control-plane (control-plane)
            image:  kindlike/node:latest (default)
            ports:  127.0.0.1:<random free port> -> 6443/TCP (API server)

        Networking:
          ipFamily:       ipv4 (default)
          API server:     127.0.0.1:<random free port> (default)
          podSubnet:      10.244.0.0/16 (default)
          serviceSubnet:  10.96.0.0/16 (default)
          kubeProxyMode:  iptables (default)
          default CNI:    installed
          dnsSearch:      inherited from the host

        Feature gates:    none
        Runtime config:   none
        Patches:          kubeadm 0 merge, 0 JSON 6902 (cluster-wide); containerd 0 TOML merge, 0 JSON 6902
        """
    )


FULL = """\
nodes:
- role: control-plane
  image: kindest/node:v1.31.0
  labels: {tier: frontend, zone: a}
  extraPortMappings:
  - containerPort: 80
    hostPort: 80
    listenAddress: 127.0.0.1
  - containerPort: 53
    hostPort: -1
    protocol: UDP
  extraMounts:
  - hostPath: /data
    containerPath: /data
    readOnly: true
    selinuxRelabel: true
    propagation: HostToContainer
  kubeadmConfigPatches:
  - |
    kind: InitConfiguration
- role: worker
networking:
  apiServerPort: 6443
  podSubnet: 10.1.0.0/16
  disableDefaultCNI: true
  kubeProxyMode: ipvs
  dnsSearch: [example.com]
featureGates: {Alpha: true, Beta: false}
runtimeConfig: {api/alpha: "false"}
kubeadmConfigPatchesJSON6902:
- kind: ClusterConfiguration
  patch: '[]'
containerdConfigPatches:
- 'x = 1'
"""


def test_full_plan_text():
    loaded = cfg(FULL)
    text = render_plan("demo", loaded.cluster, ["something to know"])
    assert text == textwrap.dedent(
        """\
        Plan for cluster "demo" (dry run: nothing is created)

        Nodes (2):
          demo-control-plane (control-plane)
            image:  kindest/node:v1.31.0
            labels: tier=frontend, zone=a
            ports:  127.0.0.1:6443 -> 6443/TCP (API server)
                    127.0.0.1:80 -> 80/TCP
                    0.0.0.0:<engine-picked port> -> 53/UDP
            mounts: /data -> /data (read-only, SELinux relabel, propagation HostToContainer)
            kubeadm patches: 1 merge, 0 JSON 6902
          demo-worker (worker)
            image:  kindlike/node:latest (default)

        Networking:
          ipFamily:       ipv4 (default)
          API server:     127.0.0.1:6443
          podSubnet:      10.1.0.0/16
          serviceSubnet:  10.96.0.0/16 (default)
          kubeProxyMode:  ipvs
          default CNI:    disabled (disableDefaultCNI)
          dnsSearch:      example.com

        Feature gates:    Alpha=true, Beta=false
        Runtime config:   api/alpha=false
        Patches:          kubeadm 0 merge, 1 JSON 6902 (cluster-wide); containerd 1 TOML merge, 0 JSON 6902

        Warnings:
          - something to know
        """
    )


def test_ipv6_addresses_are_bracketed():
    text = render_plan("v6", cfg("networking:\n  ipFamily: ipv6\n").cluster)
    assert "ports:  [::1]:<random free port> -> 6443/TCP (API server)" in text
    assert "API server:     [::1]:<random free port> (default)" in text


def test_empty_dns_search_means_none():
    assert "dnsSearch:      none" in render_plan("x", cfg("networking:\n  dnsSearch: []\n").cluster)


def test_relative_mounts_are_shown_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    c = cfg("nodes:\n- extraMounts:\n  - hostPath: ./foo\n    containerPath: /bar\n").cluster
    assert f"mounts: {tmp_path / 'foo'} -> /bar (read-write, propagation None)" in render_plan("x", c)
    mount = plan_dict("x", c)["nodes"][0]["mounts"][0]
    assert (mount["hostPath"], mount["hostPathAsWritten"]) == (str(tmp_path / "foo"), "./foo")


def test_several_control_planes_show_the_load_balancer():
    c = cfg("networking:\n  apiServerPort: 7443\nnodes:\n- role: control-plane\n- role: control-plane\n").cluster
    d = plan_dict("ha", c)
    assert [n["name"] for n in d["nodes"]] == ["ha-control-plane", "ha-control-plane2"]
    # Each control plane gets a random loopback port; the balancer gets the configured one.
    assert d["nodes"][0]["ports"][0] == {
        "listenAddress": "127.0.0.1", "hostPort": 0, "containerPort": 6443, "protocol": "TCP", "purpose": "API server",
    }
    assert d["loadBalancer"] == {
        "name": "ha-external-load-balancer",
        "ports": [{"listenAddress": "127.0.0.1", "hostPort": 7443, "containerPort": 6443, "protocol": "TCP",
                   "purpose": "API server"}],
    }
    text = render_plan("ha", c)
    assert "  ha-external-load-balancer (load balancer for the control planes)\n" in text
    assert "    ports:  127.0.0.1:7443 -> 6443/TCP (API server)\n" in text


def test_workers_do_not_publish_the_api_server():
    d = plan_dict("x", cfg("nodes:\n- role: control-plane\n- role: worker\n").cluster)
    assert d["nodes"][1]["ports"] == []
    assert d["loadBalancer"] is None


def test_plan_dict_is_json_serialisable_and_complete():
    loaded = cfg(FULL)
    d = plan_dict("demo", loaded.cluster, ["w"])
    json.dumps(d)
    assert d["cluster"] == "demo"
    assert set(d) == {"cluster", "nodes", "loadBalancer", "networking", "featureGates", "runtimeConfig",
                      "patches", "warnings", "sections"}
    cp = d["nodes"][0]
    assert cp["image"] == "kindest/node:v1.31.0" and cp["imageDefaulted"] is False
    assert d["nodes"][1]["imageDefaulted"] is True
    assert cp["labels"] == {"tier": "frontend", "zone": "a"}
    assert [p["hostPort"] for p in cp["ports"]] == [6443, 80, -1]
    assert cp["kubeadmConfigPatches"] == 1
    assert d["networking"]["kubeProxyMode"] == "ipvs"
    assert d["networking"]["dnsSearch"] == ["example.com"]
    assert d["networking"]["defaulted"] == ["apiServerAddress", "ipFamily", "serviceSubnet"]
    assert d["featureGates"] == {"Alpha": True, "Beta": False}
    assert d["patches"] == {"kubeadmConfigPatches": 0, "kubeadmConfigPatchesJSON6902": 1,
                            "containerdConfigPatches": 1, "containerdConfigPatchesJSON6902": 0}
    assert d["warnings"] == ["w"]


def test_extra_sections_extend_text_and_data():
    c = cfg().cluster
    cluster_section = PlanSection("kubeadm config", ("apiVersion: kubeadm.k8s.io/v1beta3",), data={"docs": 4}, key="kubeadm")
    node_section = PlanSection("containerd", ("snapshotter: overlayfs",), data="overlayfs")
    text = render_plan("x", c, extra_sections=[cluster_section], node_sections={"x-control-plane": [node_section]})
    assert "    containerd:\n      snapshotter: overlayfs\n" in text
    assert "\nkubeadm config:\n  apiVersion: kubeadm.k8s.io/v1beta3\n" in text
    d = plan_dict("x", c, extra_sections=[cluster_section], node_sections={"x-control-plane": [node_section]})
    assert d["sections"] == {"kubeadm": {"docs": 4}}
    assert d["nodes"][0]["sections"] == {"containerd": "overlayfs"}
