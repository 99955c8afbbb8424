"""What the command line's commands share: one-line errors, the JAX device, the output
directory and the progress bar.

Every model family's command module (:mod:`induction_ode.cli`, :mod:`induction_ode.ngram.command`,
:mod:`induction_ode.standard.command`) imports these; nothing here imports a command, and
nothing here imports JAX at module level (``--help`` answers at once).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


def run_command(body):
    """Run a command body and return what it returns; a library ``ValueError`` or a
    :class:`UsageError` becomes one line on stderr and exit code 2."""
    try:
        return body()
    except (UsageError, ValueError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None


def select_device(device: str) -> None:
    """Pick the JAX platform and turn on JAX's persistent compilation cache.

    Compiling a solver takes tens of seconds on a CPU; the cache
    (``$INDUCTION_ODE_CACHE``, default ``~/.cache/induction_ode/jax``; empty to turn it off)
    lets a later command with the same model and sizes load the program instead.
    """
    if device not in ("auto", "cpu"):
        raise UsageError(f"--device must be 'auto' or 'cpu', got {device!r}")
    if device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
    cache = os.environ.get("INDUCTION_ODE_CACHE", str(Path.home() / ".cache" / "induction_ode" / "jax"))
    if cache:
        import jax

        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def out_dir(out: Path) -> Path:
    """``out``, created if missing and checked to be writable; :class:`UsageError` if not."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"cannot write to --out {out}: {err.strerror or err}") from None
    return out


def progress_bar(console):
    """A transient rich progress bar on ``console`` (description, bar, done/total, elapsed)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
