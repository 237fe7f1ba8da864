"""The helper image: haproxy and socat from Debian on kindlike's base image
(images/lb), for what runs beside the nodes: the external load balancer
(kindlike.cluster.loadbalancer) and the port forwarders (kindlike.ports). Built in
the engine on first use and tagged by the hash of its build files, so a
change to them makes a new tag and an unchanged one is never rebuilt. The
registry image (images/registry, kindlike.registry) is made the same way.
"""
from __future__ import annotations

import hashlib

from kindlike.errors import KindlikeError
from kindlike.nodeimage.files import data_root

IMAGE_REPO = "kindlike/helper"
BASE_IMAGE = "kindlike/base:bookworm"


def _image_dir(name: str = "lb"):
    return data_root() / "images" / name


def image_tag(name: str = "lb", repo: str = IMAGE_REPO) -> str:
    h = hashlib.sha256()
    for p in sorted(_image_dir(name).iterdir()):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return f"{repo}:{h.hexdigest()[:12]}"


def ensure_image(engine, note=None, name: str = "lb", repo: str = IMAGE_REPO,
                 packages: str = "haproxy and socat") -> str:
    """The helper image (or another one of images/, `name`) in this
    engine, built when missing."""
    tag = image_tag(name, repo)
    if engine.image_exists(tag):
        return tag
    if not engine.image_exists(BASE_IMAGE):
        raise KindlikeError(f"the helper image {tag} is built from {BASE_IMAGE}, which this engine lacks",
                            fix=f"make it with: images/base/build.sh {engine.name} (hack/setup-host.sh does)")
    if note:
        note(f"building {tag} ({packages} from Debian)")
    try:
        engine.build_image(_image_dir(name), tag, buildargs={"BASE_IMAGE": BASE_IMAGE})
    except Exception as e:  # the SDKs' BuildError / APIError carry the log
        raise KindlikeError(f"cannot build the image {tag}: {str(e).splitlines()[0][:300]}",
                            fix=f"check that the engine reaches Debian's mirror (it installs {packages})") from e
    return tag
