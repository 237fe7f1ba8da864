"""Entry point: global options, error reporting and the verb groups."""
from __future__ import annotations

import sys

import click

from kindlike.cli import (build, completion, create, delete, doctor, export, expose, get, lifecycle, load,
                          loadbalancer, snapshot, version)
from kindlike.cli.registry import registry
from kindlike.cli.common import State
from kindlike.errors import KindlikeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


for group in (create.create, delete.delete, get.get, export.export, load.load, build.build, lifecycle.stop,
              lifecycle.start, expose.expose, snapshot.snapshot):
    cli.add_command(group)
cli.add_command(doctor.doctor)
cli.add_command(loadbalancer.loadbalancer)
cli.add_command(version.version)
cli.add_command(registry)
cli.add_command(completion.completion)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that what it was creating is
    cleaned up on the way out as for Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    import signal

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
    import traceback  # only with -v: it costs every command a few milliseconds

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
