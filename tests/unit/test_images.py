from kindlike.images import docker_hub_alias, imported_names


def test_imported_names_from_ctr_output():
    out = ("unpacking localhost/kindlike/e2e-busybox:1 (sha256:e2ed4b)...done\n"
           "unpacking docker.io/library/nginx:1.25 (sha256:abcdef)...done\n")
    assert imported_names(out) == ["localhost/kindlike/e2e-busybox:1", "docker.io/library/nginx:1.25"]
    assert imported_names("") == []


def test_podman_localhost_names_get_the_name_a_pod_spec_means():
    assert docker_hub_alias("localhost/kindlike/e2e-busybox:1") == "docker.io/kindlike/e2e-busybox:1"
    assert docker_hub_alias("localhost/busybox:1") == "docker.io/library/busybox:1"
    assert docker_hub_alias("docker.io/kindlike/e2e-busybox:1") is None
    assert docker_hub_alias("registry.example/x:1") is None
