"""`kindlike snapshot save|list|delete|export|load`: clusters saved as
images (kindlike.snapshot), and the archives a CI cache carries them in."""
from __future__ import annotations

import time

import click

from kindlike import snapshot as snap
from kindlike.cli.common import State, cluster_name, name_option, pass_state, provider_option


@click.group()
def snapshot() -> None:
    """Save a cluster, and start new clusters from it in seconds (create cluster --from-snapshot)."""


@snapshot.command("save")
@name_option
@click.option("-o", "--output", "output", default=None, metavar="FILE",
              help="Also write the snapshot to this archive file (see `snapshot load`).")
@click.option("--leave-stopped", is_flag=True, help="Do not start the cluster again after the copy.")
@click.argument("snapshot_name", metavar="SNAPSHOT")
@provider_option
@pass_state
def save(state: State, name: str | None, output: str | None, leave_stopped: bool, snapshot_name: str) -> None:
    """Save cluster --name as SNAPSHOT. A running cluster is stopped for the copy and started again."""
    cluster = cluster_name(name)
    t0 = time.monotonic()
    s = snap.save(state.engine, cluster, snapshot_name, note=lambda line: state.status.line(f" • {line}"),
                  restart=not leave_stopped)
    state.status.line(f"Saved cluster {cluster!r} as snapshot {s.name!r} "
                      f"({len(s.nodes)} node{'s' if len(s.nodes) != 1 else ''}, "
                      f"{_size(s.size)}) in {time.monotonic() - t0:.1f}s.")
    if output:
        t1 = time.monotonic()
        snap.export_archive(state.engine, s.name, output)
        state.status.line(f"Wrote {output} in {time.monotonic() - t1:.1f}s.")
    state.status.line(f"Start a copy with: kindlike create cluster --from-snapshot {s.name} --name NAME")


@snapshot.command("list")
@provider_option
@pass_state
def list_(state: State) -> None:
    """List the snapshots in the engine."""
    found = snap.list_snapshots(state.engine)
    if not found:
        state.status.line("No kindlike snapshots found.")
        return
    rows = [(s.name, str(s.node_count) + ("" if s.complete else " (incomplete)"), s.kubernetes or "?",
             s.source, s.created, _size(s.size)) for s in found]
    head = ("NAME", "NODES", "KUBERNETES", "FROM", "CREATED", "SIZE")
    widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(head)]
    for r in [head, *rows]:
        click.echo("".join(f"{v:<{w}}" for v, w in zip(r, widths)).rstrip())


@snapshot.command("delete")
@click.argument("names", nargs=-1, required=True, metavar="SNAPSHOT...")
@provider_option
@pass_state
def delete(state: State, names: tuple[str, ...]) -> None:
    """Remove snapshots (their images); clusters started from them are not touched."""
    for n in names:
        snap.delete(state.engine, n)
        state.status.line(f"Deleted snapshot {n!r}.")


@snapshot.command("export")
@click.argument("snapshot_name", metavar="SNAPSHOT")
@click.argument("path", metavar="FILE")
@provider_option
@pass_state
def export(state: State, snapshot_name: str, path: str) -> None:
    """Write SNAPSHOT to an archive FILE (for a CI cache, or another machine)."""
    t0 = time.monotonic()
    snap.export_archive(state.engine, snapshot_name, path)
    state.status.line(f"Wrote snapshot {snapshot_name!r} to {path} in {time.monotonic() - t0:.1f}s.")


@snapshot.command("load")
@click.argument("path", metavar="FILE")
@provider_option
@pass_state
def load(state: State, path: str) -> None:
    """Load the snapshots in an archive FILE into the engine."""
    t0 = time.monotonic()
    names = snap.load_archive(state.engine, path)
    state.status.line(f"Loaded snapshot{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))} "
                      f"in {time.monotonic() - t0:.1f}s.")


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"
