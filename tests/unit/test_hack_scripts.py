"""hack/: the host set-up scripts (bash -n, shellcheck) and the TOML editor
they use on the engines' config files."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

HACK = Path(__file__).resolve().parents[2] / "hack"
SCRIPTS = sorted([*HACK.glob("*.sh"), *HACK.glob("setup/*.sh"), HACK / "runc-dropcaps"])

spec = importlib.util.spec_from_file_location("toml_set", HACK / "setup" / "toml_set.py")
toml_set = importlib.util.module_from_spec(spec)
spec.loader.exec_module(toml_set)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(HACK)))
def test_bash_parses(script):
    res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed")
def test_shellcheck():
    res = subprocess.run(["shellcheck", "-x", *map(str, SCRIPTS)], capture_output=True, text=True, cwd=HACK.parent)
    assert res.returncode == 0, res.stdout + res.stderr


CONF = """\
# the user's comment stays
[containers]
default_ulimits = [
  "nofile=1:1",
]

[engine]
runtime = "crun"  # replaced
"""


def test_toml_set_keeps_the_rest_of_the_file():
    out = toml_set.set_keys(CONF, [("containers", "default_ulimits", '["nofile=20000:20000"]'),
                                   ("engine", "runtime", '"runc"'), ("engine", "events_logger", '"file"'),
                                   ("storage", "driver", '"overlay"')])
    assert out.startswith("# the user's comment stays\n[containers]\ndefault_ulimits = [\"nofile=20000:20000\"]\n")
    doc = tomllib.loads(out)
    assert doc["engine"] == {"runtime": "runc", "events_logger": "file"}
    assert doc["storage"] == {"driver": "overlay"}
    assert toml_set.set_keys(out, [("engine", "runtime", '"runc"')]) == out


def test_toml_set_refuses_what_would_not_parse():
    with pytest.raises(Exception):
        toml_set.set_keys("", [("engine", "runtime", "not toml")])


def test_toml_set_command(tmp_path, capsys):
    path = tmp_path / "sub" / "containers.conf"
    assert toml_set.main([str(path), "", "engine", "runtime", '"runc"']) == 0
    assert capsys.readouterr().out == "changed\n"
    assert path.read_text() == '[engine]\nruntime = "runc"\n'
    toml_set.main([str(path), "", "engine", "runtime", '"runc"'])
    assert capsys.readouterr().out == "unchanged\n"
