"""The CLI as a user meets it: real processes, no engine needed."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from kindlike.cli.create import parse_duration

HEADER = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
VERBS = ["build", "completion", "create", "delete", "doctor", "export", "get", "load", "version"]


def run(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("KINDLIKE_")}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "kindlike.cli.main", *args], input=stdin, capture_output=True,
                          text=True, env=e, timeout=60)


def test_help_lists_every_command():
    res = run("--help")
    assert res.returncode == 0
    for verb in VERBS:
        assert f"  {verb} " in res.stdout
    for group, subs in {"create": ["cluster"], "delete": ["cluster", "clusters"],
                        "get": ["clusters", "nodes", "kubeconfig"], "export": ["kubeconfig", "logs"],
                        "load": ["docker-image", "image-archive"], "build": ["node-image"]}.items():
        out = run(group, "--help").stdout
        for s in subs:
            assert f"  {s} " in out, (group, s)


def test_dry_run_default_config():
    res = run("create", "cluster", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "kindlike-control-plane (control-plane)" in res.stdout
    assert "6443" in res.stdout


def test_dry_run_reads_stdin_and_names_nodes():
    cfg = textwrap.dedent("""\
        kind: Cluster
        apiVersion: kind.x-k8s.io/v1alpha4
        name: fromconfig
        nodes:
        - role: control-plane
        - role: worker
        - role: worker
        """)
    res = run("create", "cluster", "--config", "-", "--dry-run", stdin=cfg)
    assert res.returncode == 0, res.stderr
    for n in ("fromconfig-control-plane", "fromconfig-worker", "fromconfig-worker2"):
        assert n in res.stdout
    # --name beats the environment, which beats the config.
    res = run("create", "cluster", "--config", "-", "--dry-run", stdin=cfg, env={"KINDLIKE_CLUSTER_NAME": "fromenv"})
    assert "fromenv-worker2" in res.stdout
    res = run("create", "cluster", "-n", "fromflag", "--config", "-", "--dry-run", stdin=cfg,
              env={"KINDLIKE_CLUSTER_NAME": "fromenv"})
    assert "fromflag-worker2" in res.stdout


def test_invalid_config_one_line_per_problem_no_traceback():
    cfg = textwrap.dedent("""\
        kind: Cluster
        apiVersion: kind.x-k8s.io/v1alpha4
        nodes:
        - role: control-plane
        - role: worker
          extraPortMappings:
          - containerPort: 80
            hostPort: 70000
        - rle: worker
        """)
    res = run("create", "cluster", "--config", "-", "--dry-run", stdin=cfg)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert "nodes[1].extraPortMappings[0].hostPort: 70000 is not a valid port (0-65535, or -1)" in res.stderr
    assert 'nodes[2].rle: unknown field (did you mean "role"?)' in res.stderr
    assert res.stdout == ""


def test_traceback_only_with_v(tmp_path):
    missing = tmp_path / "nope.yaml"
    quiet = run("create", "cluster", "--config", str(missing), "--dry-run")
    assert quiet.returncode != 0 and "Traceback" not in quiet.stderr
    assert str(missing) in quiet.stderr
    loud = run("-v", "create", "cluster", "--config", str(missing), "--dry-run")
    assert loud.returncode != 0 and "Traceback" in loud.stderr


def test_invalid_name_is_rejected():
    res = run("create", "cluster", "--name", "Bad_Name", "--dry-run")
    assert res.returncode != 0
    assert "--name" in res.stderr and "Bad_Name" in res.stderr
    assert "Traceback" not in res.stderr


def test_no_engine_is_a_clear_error(tmp_path):
    res = run("get", "clusters", env={"KINDLIKE_PROVIDER": "docker", "DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert res.returncode == 1
    assert "cannot reach a Docker daemon" in res.stderr and "fix:" in res.stderr
    assert "Traceback" not in res.stderr


def test_version_and_completion():
    res = run("version")
    assert res.returncode == 0 and res.stdout.startswith("kindlike v")
    res = run("completion", "bash")
    assert res.returncode == 0 and "_KINDLIKE_COMPLETE" in res.stdout


@pytest.mark.parametrize("text,seconds", [("0", 0), ("30s", 30), ("5m", 300), ("1m30s", 90), ("1h", 3600),
                                          ("2.5", 2.5), ("300ms", 0.3), ("1.5h", 5400), (".5s", 0.5),
                                          ("1h2m3.5s", 3723.5), ("1500us", 0.0015)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m", "-1s", "1e400", "1m 30s", "3000000000h"])
def test_parse_duration_rejects(text):
    import click

    with pytest.raises(click.BadParameter):
        parse_duration(text)


def test_bad_wait_is_a_usage_error():
    res = run("create", "cluster", "--wait", "soon", "--dry-run")
    assert res.returncode == 2 and "is not a duration" in res.stderr


def test_wait_takes_go_durations():
    res = run("create", "cluster", "--wait", "300ms", "--dry-run")
    assert res.returncode == 0, res.stderr


def test_a_bad_kindlike_provider_is_named_and_does_not_block_version():
    res = run("version", env={"KINDLIKE_PROVIDER": "foo"})
    assert res.returncode == 0 and res.stdout.startswith("kindlike v"), res.stderr
    res = run("get", "clusters", env={"KINDLIKE_PROVIDER": "foo"})
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.splitlines() == ["ERROR: KINDLIKE_PROVIDER='foo' is not a provider",
                                       "  fix: set KINDLIKE_PROVIDER to docker or podman, or unset it"]


def test_dry_run_refuses_what_create_would_refuse_late(tmp_path):
    res = run("create", "cluster", "--dry-run", "--kubeconfig", str(tmp_path))
    assert res.returncode == 1
    assert res.stderr.splitlines()[0] == f"ERROR: kubeconfig {tmp_path} is a directory"
    cfg = f"{HEADER}nodes:\n- extraMounts:\n  - {{hostPath: {tmp_path}/nope, containerPath: /x}}\n"
    res = run("create", "cluster", "--dry-run", "--config", "-", "--kubeconfig", str(tmp_path / "k"), stdin=cfg)
    assert res.returncode == 1 and "hostPath" in res.stderr and "does not exist" in res.stderr


def test_a_name_too_long_for_the_hostnames_is_refused():
    cfg = f"{HEADER}nodes:\n- role: control-plane\n- role: worker\n- role: worker\n"
    res = run("create", "cluster", "--dry-run", "--config", "-", "--name", "a" * 50, stdin=cfg)
    assert res.returncode == 1
    assert f'--name: "{"a" * 50}" is too long: node "{"a" * 50}-control-plane"' in res.stderr


def test_the_help_lines_listed_without_importing_a_verb_are_the_verbs_own():
    import importlib

    from kindlike.cli.main import COMMANDS

    for name, (module, attr, line) in COMMANDS.items():
        cmd = getattr(importlib.import_module(module), attr)
        assert cmd.name == name and cmd.get_short_help_str(limit=300) == line, name


def test_help_imports_no_verb(tmp_path):
    import subprocess
    import sys

    code = ("import sys\nfrom kindlike.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('kindlike.') and m.count('.') > 1 or m in "
            "('kindlike.api', 'yaml')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "['kindlike.cli.main', 'kindlike.cli.state', 'kindlike.engines.base', 'kindlike.engines.detect']"
