"""A built node image's preloaded images unpacked into containerd's
overlayfs snapshotter, in the image itself (the image's
/usr/local/bin/kindlike-unpack-images says why and how).

The image build cannot do it: unpacking mounts, which a build step may not.
So the built image runs once more, privileged, with a volume over /var (and
a tmpfs over /tmp, where the script's containerd keeps its state), and that
container is committed in the image's place.
"""
from __future__ import annotations

import json
import uuid
from typing import Callable

SCRIPT = "/usr/local/bin/kindlike-unpack-images"
_WHITEOUTS = 3
_NOT_IN_IMAGE = (126, 127)  # an image without the script (the engine cannot run it)


def unpack_images(cli, image: str, say: Callable[[str], None]) -> bool:
    """Replace `image` (a tag) with the image unpacked; False (and a line
    said) when the image stays as it was: a node then unpacks each image
    when a container first needs it, as before."""
    name = f"kindlike-unpack-{uuid.uuid4().hex[:12]}"
    volume = f"{name}-var"
    res = cli.run(["image", "inspect", "--format", "{{json .Config.Entrypoint}}\t{{json .Config.Cmd}}", image],
                  timeout=60)
    if res.returncode != 0:
        say(f"images left packed: cannot inspect {image}: {res.stderr.strip()}")
        return False
    entrypoint, cmd = (json.loads(part) or [] for part in res.stdout.strip().split("\t"))
    try:
        res = cli.run(["run", "--name", name, "--privileged", "--network", "none", "--tmpfs", "/tmp",
                       "-v", f"{volume}:/var",
                       "--entrypoint", SCRIPT, image], timeout=1800)
        if res.returncode != 0:
            tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
            why = {_WHITEOUTS: "a layer holds overlay whiteouts"}.get(res.returncode, " / ".join(tail))
            if res.returncode not in _NOT_IN_IMAGE:
                say(f"images left packed (each node unpacks them): {why}")
            return False
        res = cli.run(["commit", "--change", f"ENTRYPOINT {json.dumps(entrypoint)}",
                       "--change", f"CMD {json.dumps(cmd)}", name, image], timeout=1800)
        if res.returncode != 0:
            say(f"images left packed: committing the unpacked image failed: {res.stderr.strip()}")
            return False
        say("preloaded images unpacked into the image")
        return True
    finally:
        cli.run(["rm", "-f", name], timeout=300)
        cli.run(["volume", "rm", "-f", volume], timeout=300)
