"""The build's unpack step (kindlike/nodeimage/unpacked.py): what it asks
the engine CLI, and that the image stays as built whenever the step cannot
finish. Run for real by every node image build; the e2e journey checks a
node of the built image (check_images_unpacked)."""
from __future__ import annotations

import subprocess

from kindlike.nodeimage.unpacked import SCRIPT, unpack_images


class _Cli:
    def __init__(self, run_code=0, commit_code=0):
        self.calls, self.run_code, self.commit_code = [], run_code, commit_code

    def run(self, args, timeout=None):
        self.calls.append(args)
        code, out = 0, ""
        if args[:2] == ["image", "inspect"]:
            out = '["/usr/local/bin/entrypoint","/sbin/init"]\tnull\n'
        elif args[0] == "run":
            code = self.run_code
        elif args[0] == "commit":
            code = self.commit_code
        return subprocess.CompletedProcess(args, code, out, "boom\n" if code else "")


def test_unpacked_image_is_committed_in_place_with_its_entrypoint():
    cli, said = _Cli(), []
    assert unpack_images(cli, "kindlike/node-build:x", said.append)
    run = next(c for c in cli.calls if c[0] == "run")
    assert "--privileged" in run and run[run.index("--entrypoint") + 1] == SCRIPT and run[-1] == "kindlike/node-build:x"
    assert any(a.endswith("-var:/var") for a in run)
    commit = next(c for c in cli.calls if c[0] == "commit")
    assert 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' in commit and "CMD []" in commit
    assert commit[-1] == "kindlike/node-build:x"
    # The container and its /var volume go, whatever happened.
    assert cli.calls[-2][:2] == ["rm", "-f"] and cli.calls[-1][:3] == ["volume", "rm", "-f"]


def test_image_stays_as_built_when_the_step_cannot_finish():
    for code, said_part in ((3, "whiteouts"), (1, "boom"), (127, None)):
        cli, said = _Cli(run_code=code), []
        assert not unpack_images(cli, "img", said.append)
        assert not any(c[0] == "commit" for c in cli.calls)
        assert (said_part in said[0]) if said_part else said == []  # an image without the script: nothing to say
        assert cli.calls[-1][:3] == ["volume", "rm", "-f"]
    cli, said = _Cli(commit_code=1), []
    assert not unpack_images(cli, "img", said.append) and "commit" in said[0]
