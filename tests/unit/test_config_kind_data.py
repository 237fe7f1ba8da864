"""kind's own test configs and documentation examples: the ones kind accepts
load unchanged, the ones it rejects fail (with the expected first problem)."""
from __future__ import annotations

from pathlib import Path

import pytest

from kindlike.config import load_config
from kindlike.errors import ConfigError

DATA = Path(__file__).parent / "data" / "kind"
VALID = sorted((DATA / "valid").glob("*.yaml"))
INVALID = sorted((DATA / "invalid").glob("*.yaml"))


def test_data_is_present():
    # Guards against the parametrized tests silently running zero cases.
    assert len(VALID) >= 30
    assert len(INVALID) >= 5


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_kind_configs_load(path):
    first_line = path.read_text().splitlines()[0]
    assert first_line.startswith("# Source: kubernetes-sigs/kind "), "record where the config came from"
    loaded = load_config(path)
    assert loaded.cluster.nodes, "defaulting always yields at least one node"
    assert loaded.source == str(path)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_kind_configs_fail(path):
    assert path.read_text().startswith("# Source: kubernetes-sigs/kind ")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems


# The reason each rejected file fails, so a file cannot fail for the wrong reason.
EXPECTED_FIRST_PROBLEM = {
    "testdata-invalid-kind.yaml": 'kind: "not-valid" is not supported (use Cluster)',
    "testdata-invalid-bogus-field.yaml": "nodes[1].extraPortMappings[0].nOtAReaLFielD: unknown field",
    "testdata-invalid-bad-indent.yaml": 'nodes[1].extraPortMappings[1].role: unknown field ("role" belongs in nodes[]; check the indentation)',
    "testdata-v1alpha3-valid-minimal.yaml": 'apiVersion: "kind.sigs.k8s.io/v1alpha3" is not supported',
    "testdata-v1alpha3-valid-many-fields.yaml": 'apiVersion: "kind.sigs.k8s.io/v1alpha3" is not supported',
    "docs-kind-example-config-v1alpha3.yaml": 'apiVersion: "kind.sigs.k8s.io/v1alpha3" is not supported',
    "docs-configuration-patches-fragment.yaml": "apiVersion: missing",
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FIRST_PROBLEM))
def test_invalid_kind_configs_fail_for_the_right_reason(name):
    with pytest.raises(ConfigError) as err:
        load_config(DATA / "invalid" / name)
    assert err.value.problems[0].startswith(EXPECTED_FIRST_PROBLEM[name])


def test_every_invalid_file_has_an_expected_reason():
    assert {p.name for p in INVALID} == set(EXPECTED_FIRST_PROBLEM)


def test_v1alpha3_spelling_gets_a_migration_hint():
    with pytest.raises(ConfigError) as err:
        load_config(DATA / "invalid" / "docs-kind-example-config-v1alpha3.yaml")
    assert (
        'kubeadmConfigPatchesJson6902: unknown field (did you mean "kubeadmConfigPatchesJSON6902"?)'
        in err.value.problems
    )


def test_many_fields_testdata_is_read_field_by_field():
    c = load_config(DATA / "valid" / "testdata-valid-many-fields.yaml").cluster
    assert c.name == "not-default"
    assert c.feature_gates == {"AllBeta": False}
    assert c.networking.ip_family == "ipv6"
    worker = c.nodes[1]
    assert worker.role == "worker"
    m = worker.extra_mounts[0]
    assert (m.container_path, m.host_path, m.read_only, m.selinux_relabel, m.propagation) == (
        "/foo", "/bar", True, False, "Bidirectional"
    )
    pm = worker.extra_port_mappings[0]
    # ipv6 cluster: the provider's default listen address is "::".
    assert (pm.container_port, pm.host_port, pm.protocol, pm.listen_address) == (8080, 8080, "UDP", "::")


def test_patches_testdata_keeps_patch_text_verbatim():
    c = load_config(DATA / "valid" / "testdata-valid-kind-patches.yaml").cluster
    assert c.kubeadm_config_patches[0].startswith("apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n")
    p = c.kubeadm_config_patches_json6902[0]
    assert (p.group, p.version, p.kind) == ("kubeadm.k8s.io", "v1beta2", "ClusterConfiguration")
    assert "path: /apiServer/certSANs/-" in p.patch
    assert c.containerd_config_patches == ('[plugins."io.containerd.grpc.v1.cri".registry.mirrors."registry:5000"]',)
    assert [n.role for n in c.nodes] == ["control-plane", "worker", "worker", "worker"]
