"""What the command line's commands share: one-line errors, Ctrl-C, the JAX device, the output
directory and the progress bar.

Every model family's command module (:mod:`induction_ode.cli`, :mod:`induction_ode.ngram.command`,
:mod:`induction_ode.standard.command`) imports these; nothing here imports a command, and
nothing here imports JAX at module level (``--help`` answers at once).
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
from pathlib import Path

import typer
from typer._click import exceptions as click_errors  # typer >= 0.29 carries its own click
from typer._click.globals import get_current_context
from typer.core import TyperGroup

INTERRUPTED = 130
"""The exit code of a command stopped by Ctrl-C (SIGINT), as shells report it (128 + 2)."""


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


class Abandoned(KeyboardInterrupt):
    """Ctrl-C while a worker thread of :func:`interruptible` runs compiled code."""


class OneLineErrors(TyperGroup):
    """The command group, with click's parse errors (an unknown option, ``--steps abc``) in
    one line, ``Error: …`` and exit code 2, like every other bad value."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click_errors.NoArgsIsHelpError as err:  # the help, already printed
            sys.exit(err.exit_code)
        except click_errors.ClickException as err:
            typer.echo(f"Error: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def run_command(body, resumable: bool = False):
    """Run a command body and return what it returns.

    A library ``ValueError`` or a :class:`UsageError` becomes one line on stderr and exit code
    2; a ``RuntimeError`` (a solver that failed, XLA) its first line and exit code 1. Ctrl-C
    becomes one line with the command that continues the run (``--resume`` where the command
    keeps finished work, ``resumable``) and exit code :data:`INTERRUPTED`.
    """
    try:
        return body()
    except (UsageError, ValueError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None
    except typer.Exit:  # a RuntimeError too, but already said
        raise
    except RuntimeError as err:  # a run that failed (the solver, XLA): its first line, exit code 1
        first = (str(err).strip() or type(err).__name__).splitlines()[0]
        typer.echo(f"Error: {first}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as err:
        again = command_line(get_current_context(), "--resume" if resumable else None)
        kept = "finished work is kept; continue with" if resumable else "nothing was kept; run again with"
        typer.echo(f"Interrupted: {kept}: {again}", err=True)
        if isinstance(err, Abandoned):  # the interpreter's exit would abort inside the worker's XLA call
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(INTERRUPTED)
        raise typer.Exit(INTERRUPTED) from None


def interruptible(work, lock: threading.Lock):
    """``work()``, run in a worker thread so that Ctrl-C stops the command at once, even in
    the middle of a compiled computation (which holds the main thread until it returns).

    ``lock`` guards every write of finished work. On Ctrl-C it is taken (a write under way
    ends first) and kept, so nothing is written after, and :class:`Abandoned` goes on to
    :func:`run_command`, which ends the process with the worker in it.
    """
    outcome = {}

    def target():
        try:
            outcome["value"] = work()
        except BaseException as err:  # handed to the main thread
            outcome["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        lock.acquire()
        raise Abandoned from None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def same_config(path: Path, old: dict, new: dict) -> None:
    """For ``--resume``: :class:`UsageError`, in one line naming every option that differs, if
    the run kept in ``path`` had configuration ``old`` and this one has ``new``."""
    changed = [k for k in sorted(set(new) | set(old)) if old.get(k) != new.get(k)]
    if changed:
        diffs = "; ".join(f"{k}={old.get(k)!r} there, {new.get(k)!r} here" for k in changed)
        raise UsageError(f"--resume: {path} was written with another configuration ({diffs})")


class KeptParts:
    """The finished parts of a run, kept on disk so that Ctrl-C loses none of them and
    ``--resume`` computes only the others.

    They live in one JSON file, ``path``: a record of kind ``kind`` with the run's ``config``
    and ``parts`` (name → the part, a JSON-ready dict), rewritten atomically
    (:func:`~induction_ode.records.write_json`: no ``.tmp`` is left) as each part finishes,
    under :attr:`lock`, the lock :func:`interruptible` takes on Ctrl-C. Without ``resume`` an
    old file is discarded; with it, its parts are reused, and a file of another configuration
    is refused in one line (:func:`same_config`). The command removes the file (:meth:`done`)
    once its record is written.

    Attributes:
        kept: the names of the parts read back from disk (empty for a fresh run).
    """

    def __init__(self, path: Path, kind: str, config: dict, resume: bool):
        from .records import as_json, read_record

        self.path, self.lock = path, threading.Lock()
        self.record = dict(kind=kind, config=as_json(config), parts={})
        if resume and path.exists():
            fix = "delete it, or pass another --out, to start the run over"
            old = read_record(path, (kind,), fix)
            if not isinstance(old.get("config"), dict) or not isinstance(old.get("parts"), dict):
                raise UsageError(f"{path} is damaged (its config or parts are not a {kind} record's); {fix}")
            same_config(path, old["config"], self.record["config"])
            self.record["parts"] = old["parts"]
        else:
            path.unlink(missing_ok=True)
        self.kept = list(self.record["parts"])

    def __contains__(self, name: str) -> bool:
        return name in self.record["parts"]

    def get(self, name: str, compute) -> dict:
        """The part ``name``: the kept one, or else ``compute()``'s, written at once.

        Either way it is returned as it reads back from JSON
        (:func:`~induction_ode.records.as_json`), so a resumed run and a fresh one assemble
        the same record."""
        from .records import as_json, write_json

        parts = self.record["parts"]
        if name not in parts:
            value = as_json(compute())
            with self.lock:
                parts[name] = value
                write_json(self.path, self.record)
        return parts[name]

    def done(self) -> None:
        """Remove the file of parts (the run's record holds them now)."""
        self.path.unlink(missing_ok=True)


def command_line(ctx: typer.Context, extra: str | None = None) -> str:
    """The ``induction-ode`` command line of the running command with the options it was
    given (those that differ from their defaults), and the flag ``extra`` if not already on."""
    return shlex.join(["induction-ode", *command_words(ctx, extra)])


def command_words(ctx: typer.Context, extra: str | None = None) -> list[str]:
    """:func:`command_line`'s words after ``induction-ode``: the command's name and options."""
    words = [ctx.info_name]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if param.param_type_name == "argument":
            words.append(str(value))
        elif getattr(param, "is_flag", False) and value != param.default:
            words.append(param.opts[0] if value or not param.secondary_opts else param.secondary_opts[0])
        elif value != param.default and value is not None:
            words += [param.opts[0], str(value)]
    if extra is not None and extra not in words:
        words.append(extra)
    return words


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
