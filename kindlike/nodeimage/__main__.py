"""python -m kindlike.nodeimage: build a node image from the command line.

  python -m kindlike.nodeimage                           # offline, v1.20.2 from Debian source
  python -m kindlike.nodeimage --kubernetes ./bin        # offline, your binaries
  python -m kindlike.nodeimage --kubernetes 1.31.4       # online, on kindest/node:v1.31.4
  python -m kindlike.nodeimage --metadata kindlike/node:latest
"""
from __future__ import annotations

import argparse
import json
import sys

from kindlike import defaults
from kindlike.errors import KindlikeError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kindlike.nodeimage", description="Build a kindlike node image.")
    ap.add_argument("--provider", choices=("docker", "podman"), help="container engine (default: auto-detect)")
    ap.add_argument("--image", default=defaults.DEFAULT_NODE_IMAGE, help="image name (default %(default)s)")
    ap.add_argument("--flavour", "--flavor", default="auto", choices=("auto", "online", "offline"))
    ap.add_argument("--kubernetes", default="1.20.2",
                    help="version (1.20.2 = Debian source), 'debian-source', or a directory of binaries")
    ap.add_argument("--base-image", help="override the base image")
    ap.add_argument("--cache-dir", help="cache directory (default $KINDLIKE_CACHE_DIR or ~/.cache/kindlike)")
    ap.add_argument("--no-cache", action="store_true", help="build the image without the engine's layer cache")
    ap.add_argument("--rebuild-kubernetes", action="store_true", help="recompile Kubernetes even if cached")
    ap.add_argument("-v", "--verbose", action="store_true", help="show the engine's build output")
    ap.add_argument("--metadata", metavar="IMAGE", help="only print IMAGE's kindlike metadata (JSON) and exit")
    args = ap.parse_args(argv)

    from kindlike.engines.detect import get_engine
    from kindlike.nodeimage import build_node_image, image_metadata

    def say(msg: str) -> None:
        print(f" • {msg}", file=sys.stderr, flush=True)

    def out(line: str) -> None:
        print(f"   {line}", file=sys.stderr, flush=True)

    try:
        with get_engine(args.provider) as engine:
            if args.metadata:
                print(json.dumps(image_metadata(engine, args.metadata), indent=2))
                return 0
            meta = build_node_image(
                engine,
                image=args.image,
                flavour=args.flavour,
                kubernetes=args.kubernetes,
                base_image=args.base_image,
                progress=say,
                output=out if args.verbose else None,
                cache=args.cache_dir,
                no_cache=args.no_cache,
                rebuild_kubernetes=args.rebuild_kubernetes,
            )
            print(json.dumps(meta, indent=2))
            return 0
    except KindlikeError as e:
        for line in e.lines():
            print(line, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
