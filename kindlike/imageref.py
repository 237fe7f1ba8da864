"""Image references as containerd, Docker and Podman spell them: the one
place that knows Podman names a local image localhost/NAME."""
from __future__ import annotations


def normalize_ref(ref: str) -> str:
    """The fully qualified name containerd (and the kubelet) use for a
    reference: `busybox` -> `docker.io/library/busybox:latest`,
    `kindlike/x:1` -> `docker.io/kindlike/x:1`, `localhost/x` ->
    `localhost/x:latest`. A digest reference keeps its digest."""
    name, digest = (ref.split("@", 1) + [""])[:2]
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}"
    elif first == "index.docker.io":
        name = f"docker.io/{rest}"
    if digest:
        return f"{name}@{digest}"
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def podman_local_name(ref: str) -> str | None:
    """Podman's name for a locally built image a user calls `ref` (a Docker
    Hub name): localhost/NAME; None for a reference with another registry."""
    full = normalize_ref(ref)
    if not full.startswith("docker.io/"):
        return None
    return "localhost/" + full[len("docker.io/"):].removeprefix("library/")


def docker_hub_alias(name: str) -> str | None:
    """Podman saves local images as localhost/NAME; a pod spec saying NAME
    means docker.io/NAME to the kubelet. Tag the image under that name too so
    the same manifest works whichever engine the image came from."""
    if name.startswith("localhost/"):
        rest = name[len("localhost/"):]
        return f"docker.io/{rest}" if "/" in rest else f"docker.io/library/{rest}"
    return None
