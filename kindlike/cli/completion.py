"""`kindlike completion bash|zsh|fish`: print a shell completion script."""
from __future__ import annotations

import click
from click.shell_completion import get_completion_class


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Output shell completion code: `source <(kindlike completion bash)`."""
    root = ctx.find_root().command
    cls = get_completion_class(shell)
    click.echo(cls(root, {}, "kindlike", "_KINDLIKE_COMPLETE").source())
