"""Node images: building them (offline from Debian, or online on top of
kindest/node) and reading what an image is from its labels.

    from kindlike.nodeimage import build_node_image, image_metadata
    build_node_image(engine, image="kindlike/node:latest", kubernetes="debian-source")
    image_metadata(engine, "kindlike/node:latest")["kubernetes_version"]  # "v1.20.2"
"""
from kindlike.nodeimage.build import build_node_image, cache_dir, data_root
from kindlike.nodeimage.metadata import image_metadata, metadata_from_labels
from kindlike.nodeimage.plan import BuildPlan, NodeImageError, make_plan

__all__ = [
    "build_node_image",
    "image_metadata",
    "metadata_from_labels",
    "make_plan",
    "BuildPlan",
    "NodeImageError",
    "cache_dir",
    "data_root",
]
