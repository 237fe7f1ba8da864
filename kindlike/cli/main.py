"""Entry point: global options, error reporting and the verb groups."""
from __future__ import annotations

import importlib
import signal
import sys
import traceback

import click

from kindlike.cli.state import State
from kindlike.errors import KindlikeError

# Each verb's module is imported only when the verb runs: `kindlike --help`
# (and shell completion) then loads click alone, not the API, YAML and the
# create machinery. name -> (module, function, the help line `--help` lists;
# tests/unit/test_cli.py checks it is the command's own).
COMMANDS = {
    "build": ("kindlike.cli.build", "build", 'Build images.'),
    "completion": ("kindlike.cli.completion", "completion",
        'Output shell completion code: `source <(kindlike completion bash)`.'),
    "create": ("kindlike.cli.create", "create", 'Create a cluster.'),
    "delete": ("kindlike.cli.delete", "delete", 'Delete one cluster or several, or a worker node.'),
    "doctor": ("kindlike.cli.doctor", "doctor", 'Check this host against the prerequisites for (rootless) clusters.'),
    "export": ("kindlike.cli.export", "export", "Export a cluster's kubeconfig or logs."),
    "expose": ("kindlike.cli.expose", "expose",
        "Publish host ports to a running cluster's nodes, without restarting anything."),
    "get": ("kindlike.cli.get", "get", 'Get clusters, nodes or a kubeconfig.'),
    "registry": ("kindlike.cli.registry", "registry", 'Local image registries: push from the host, pull in every node.'),
    "load": ("kindlike.cli.load", "load", "Load images into a cluster's nodes."),
    "loadbalancer": ("kindlike.cli.loadbalancer", "loadbalancer",
        "Publish every LoadBalancer Service's ports on the host and write the address into its status, following changes, until Ctrl-C."),
    "snapshot": ("kindlike.cli.snapshot", "snapshot",
        'Save a cluster, and start new clusters from it in seconds (create cluster --from-snapshot).'),
    "start": ("kindlike.cli.lifecycle", "start", 'Start a stopped cluster.'),
    "stop": ("kindlike.cli.lifecycle", "stop", 'Stop a cluster (its containers; nothing is deleted).'),
    "version": ("kindlike.cli.version", "version",
        "Print kindlike's version (and, with --engine, the engine's facts)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "verbose", count=True, help="More output; tracebacks on errors (repeat for more).")
@click.option("--verbosity", type=int, default=0, metavar="N", help="Log verbosity level, as kind's -v N.")
@click.option("-q", "--quiet", is_flag=True, help="Silence everything but errors and requested output.")
# KINDLIKE_PROVIDER is read when an engine is needed (engines.detect), so a bad
# value is reported under its own name and does not stop `kindlike version`.
@click.option("--provider", type=click.Choice(["docker", "podman"]), default=None,
              help="Container engine (default: $KINDLIKE_PROVIDER, else auto-detect).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, verbosity: int, quiet: bool, provider: str | None) -> None:
    """kindlike creates and manages local Kubernetes clusters whose nodes are
    containers, under rootless (or rootful) Docker or Podman."""
    ctx.obj = State(verbosity=max(verbose, verbosity), quiet=quiet, provider=provider)
    ctx.call_on_close(ctx.obj.close)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that what it was creating is
    cleaned up on the way out as for Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    verbose = _wants_traceback(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cli.main(args=argv, prog_name="kindlike", standalone_mode=False)
    except click.exceptions.Abort as e:
        # click turns KeyboardInterrupt (and so Terminated) into Abort.
        if isinstance(e.__context__, Terminated):
            click.echo("Terminated.", err=True)
            sys.exit(143)
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KindlikeError as e:
        if verbose:
            _print_traceback()
        for line in e.lines():
            click.echo(line, err=True)
        sys.exit(1)
    except Terminated:
        click.echo("Terminated.", err=True)
        sys.exit(143)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as e:  # a bug or an unexpected engine failure
        if verbose:
            _print_traceback()
        click.echo(f"ERROR: {type(e).__name__}: {e}", err=True)
        click.echo("  (run with -v for the traceback)", err=True)
        sys.exit(1)


def _print_traceback() -> None:
    traceback.print_exc()


def _wants_traceback(argv: list[str]) -> bool:
    # Parsed by hand: the error may happen before click has parsed anything.
    for a in argv:
        if a == "--":
            break
        if a.startswith("-v") and set(a[1:]) == {"v"}:
            return True
        if a.startswith("--verbosity"):
            return True
    return False


if __name__ == "__main__":
    main()
