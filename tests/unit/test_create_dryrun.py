"""The dry-run plan, as text and as data."""
from __future__ import annotations

import json
import textwrap

import pytest

from kindlike.config import load_config, load_config_text
from kindlike.create.dryrun import plan_dict, render_plan

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
                      "patches", "kindlike", "warnings"}
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


def test_dry_run_lists_the_steps_create_would_run():
    from kindlike.create.dryrun import dry_run
    from kindlike.create.pipeline import CreateOptions
    from kindlike.create.steps import STEPS

    c = cfg("nodes:\n- role: control-plane\n").cluster
    text = dry_run(CreateOptions("x", c), ["w"])
    assert text.startswith(render_plan("x", c, ["w"]))
    steps = text.split("\nSteps:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split(":")[0].strip() for line in steps] == [s.title for s in STEPS]
    assert "  Joining worker nodes 🚜: skipped" in steps
    assert "  Waiting for a usable cluster ⏳: skipped" in steps
    assert "  Installing CNI 🔌" in steps

    c = cfg("networking:\n  disableDefaultCNI: true\nnodes:\n- role: control-plane\n- role: worker\n").cluster
    steps = dry_run(CreateOptions("x", c, wait=90)).split("\nSteps:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "  Joining worker nodes 🚜" in steps
    assert "  Installing CNI 🔌: skipped (CNI not installed (networking.disableDefaultCNI: true))" in steps
    assert "  Waiting ≤ 1m30s for a usable cluster ⏳" in steps


def test_dry_run_refuses_what_create_refuses(tmp_path):
    from kindlike.create.dryrun import dry_run
    from kindlike.create.pipeline import CreateOptions, create_cluster
    from kindlike.errors import KindlikeError

    missing = tmp_path / "absent"
    c = cfg(f"nodes:\n- role: control-plane\n  extraMounts:\n  - hostPath: {missing}\n    containerPath: /x\n").cluster
    with pytest.raises(KindlikeError) as planned:
        dry_run(CreateOptions("m", c))
    with pytest.raises(KindlikeError) as created:
        create_cluster(None, CreateOptions("m", c))  # refused before the engine is used
    assert planned.value.lines() == created.value.lines()
    assert any(f'hostPath: "{missing}" does not exist' in line for line in planned.value.lines())


def test_dry_run_of_several_control_planes_joins_them_through_the_load_balancer():
    import yaml

    from kindlike.create.dryrun import dry_run
    from kindlike.create.pipeline import CreateOptions

    c = cfg("nodes:\n- role: control-plane\n- role: control-plane\n- role: control-plane\n- role: worker\n").cluster
    out = dry_run(CreateOptions("ha", c), output="yaml")
    plan = yaml.safe_load(out)
    assert plan["loadBalancer"]["name"] == "ha-external-load-balancer"
    text = dry_run(CreateOptions("ha", c))
    steps = text.split("\nSteps:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert steps.index("  Starting control-plane 🕹️") < steps.index("  Joining more control-plane nodes 🎮") \
        < steps.index("  Joining worker nodes 🚜")
    single = dry_run(CreateOptions("one", cfg("nodes:\n- role: control-plane\n").cluster))
    assert "  Joining more control-plane nodes 🎮: skipped" in single.splitlines()
