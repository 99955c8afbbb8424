"""The ``induction-ode`` command line: a thin layer over the library.

JAX is imported lazily, inside the commands, so that ``--help`` answers at once. Every
command writes a JSON record (configuration, versions, device, wall time) and its figures,
and turns bad input into a one-line error with exit code 2.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import typer

from .commands import (
    OneLineErrors,
    UsageError,
    command_words,
    interruptible,
    out_dir,
    progress_bar,
    run_command,
    same_config,
    select_device,
)
from .ladder.command import ladder
from .memory import check_fits, crosscheck_bytes
from .ngram.command import ngram
from .standard.command import standard
from .tables import formatted, number, print_table
from .validation import check, check_values

app = typer.Typer(
    cls=OneLineErrors,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Watch an induction head form: the 19-parameter gradient-flow ODE of a two-layer attention-only "
    "transformer. Times are gradient-flow times; T = 2N + 1 tokens.",
)

SHORT = {"alpha3": "α3", "beta2": "β2", "gamma3": "γ3"}


def _lengths(n_pairs: str | None, n_min: int, n_max: int, num: int) -> list[int]:
    check_values(flag=True, n_min=n_min, n_max=n_max, num=num)
    if n_pairs is not None:
        try:
            values = [int(v) for v in n_pairs.split(",") if v.strip()]
        except ValueError:
            raise UsageError(f"--n-pairs must be comma-separated integers >= 1, got {n_pairs!r}") from None
        for v in values:
            check("n_pairs", v, flag=True)
    else:
        if n_max < n_min:
            raise UsageError(f"--n-max must be >= --n-min = {n_min}, got {n_max}")
        import numpy as np

        values = sorted({int(round(v)) for v in np.geomspace(float(n_min), float(n_max), num)})
    if not values or min(values) < 1:
        raise UsageError(f"--n-pairs must be comma-separated integers >= 1, got {n_pairs!r}")
    return values


def _metric(text: str):
    if text == "identity":
        return "identity"
    if text.startswith("weights:") and text[8:].isdigit():
        return ("weights", int(text[8:]))
    raise UsageError(f"unknown metric {text!r}; allowed: identity or weights:D (D an integer)")


LAYER1_MASK_HELP = "strict (layer 1 attends to earlier positions; the default) or inclusive (s <= t)."
POSITIONS_HELP = "paired (the paper's code: a label carries its item's code turned by M) or sinusoidal."
QUERY_HELP = "uniform (the query asks for a uniform pair; the default) or last (pair N-1 only, Theorem 2)."
SOLVER_HELP = "auto (picks by N), bdf (implicit, Jacobian reuse), tsit5 (explicit) or kvaerno5."


def _model(n_max: int, *, metric="identity", loss="mse", free=None, **network):
    """The library's :class:`~induction_ode.Model`, checked against the largest N; ``network``:
    ``layer1_mask``, ``positions``, ``query``."""
    from .model import Model

    return Model(**network, loss=loss, metric=_metric(metric), free=_names(free)).check(n_max)


@app.command()
def sweep(
    n_pairs: str = typer.Option(
        None, "--n-pairs", help="Comma-separated N, e.g. 4,8,16 (overrides the range)."
    ),
    n_min: int = typer.Option(2, help="Smallest N of a geometric range."),
    n_max: int = typer.Option(512, help="Largest N of a geometric range."),
    num: int = typer.Option(9, help="Number of lengths in the geometric range."),
    metric: str = typer.Option("identity", help="identity or weights:D (full-weight GD at width D)."),
    loss: str = typer.Option("mse", help="mse or ce."),
    rtol: float = typer.Option(1e-8, help="Relative tolerance of the adaptive solver (atol = rtol/100)."),
    t_max: float = typer.Option(None, help="Time limit per length (default 20 T²)."),
    precision: str = typer.Option("float64", help="float64 or float32."),
    fit_last: int = typer.Option(3, help="Fit t* = c T^p over this many largest lengths."),
    free: str = typer.Option(
        None, help="Comma-separated pseudo-parameters that move, e.g. alpha3,beta2,gamma3 (default all)."
    ),
    solver: str = typer.Option("auto", help=SOLVER_HELP),
    layer1_mask: str = typer.Option("strict", help=LAYER1_MASK_HELP),
    positions: str = typer.Option("paired", help=POSITIONS_HELP),
    query: str = typer.Option("uniform", help=QUERY_HELP),
    batching: str = typer.Option(
        "padded",
        help="padded (one compiled program for all lengths, each padded to the largest) or bucketed "
        "(one per power of two: less arithmetic per step, worth it for sweeps that reach N >= 128).",
    ),
    out: Path = typer.Option(Path("runs/sweep"), help="Output directory."),
    resume: bool = typer.Option(False, help="Keep finished lengths in OUT and run only the missing ones."),
    device: str = typer.Option("auto", help="auto (GPU when JAX sees one) or cpu."),
    distributed: bool = typer.Option(
        False, help="Run on jax.distributed, the cluster detected from SLURM, Open MPI or a TPU pod slice."
    ),
    coordinator: str = typer.Option(None, help="HOST:PORT of process 0 (jax.distributed without detection)."),
    num_processes: int = typer.Option(None, help="Processes in the run (with --coordinator)."),
    process_id: int = typer.Option(None, help="This process's rank, 0 … P-1 (with --coordinator)."),
    peer_timeout: int = typer.Option(
        60, help="Seconds to wait for the peers to join, and for a silent peer before the run ends."
    ),
):
    """Emergence time t* and the half-times of α3, β2, γ3 across context lengths."""
    options = dict(
        network=dict(layer1_mask=layer1_mask, positions=positions, query=query),
        metric=metric,
        loss=loss,
        rtol=rtol,
        t_max=t_max,
        precision=precision,
        free=free,
        solver=solver,
        batching=batching,
    )
    parallel = dict(
        distributed=distributed,
        coordinator=coordinator,
        num_processes=num_processes,
        process_id=process_id,
        peer_timeout=peer_timeout,
    )
    body = lambda: _sweep(n_pairs, n_min, n_max, num, options, fit_last, out, resume, device, parallel)  # noqa: E731
    run_command(body, resumable=True)


def _distributed(distributed, coordinator, num_processes, process_id, peer_timeout):
    """The :class:`~induction_ode.distributed.Distributed` the options ask for, or ``None``
    for a run in one process."""
    check_values(flag=True, num_processes=num_processes, process_id=process_id, peer_timeout=peer_timeout)
    named = (coordinator, num_processes, process_id)
    if not distributed and all(v is None for v in named):
        return None
    if distributed and any(v is not None for v in named):
        raise UsageError(
            "--distributed detects the cluster; --coordinator, --num-processes and --process-id name it: "
            "give one or the other"
        )
    from .distributed import Distributed

    return Distributed(coordinator, num_processes, process_id, peer_timeout)


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


def _sweep(n_pairs, n_min, n_max, num, options, fit_last, out, resume, device, parallel):
    select_device(device)
    dist = _distributed(**parallel)
    t_max, rtol = options["t_max"], options["rtol"]
    check_values(flag=True, rtol=rtol, t_max=t_max, fit_last=fit_last)
    lengths = _lengths(n_pairs, n_min, n_max, num)
    # The library's own checks (mask, loss, metric width, free names, solver), before any work.
    model = _model(
        max(lengths),
        metric=options["metric"],
        loss=options["loss"],
        free=options["free"],
        **options["network"],
    )
    from .ode import check_memory, check_precision, resolve_solver
    from .sweeps import BATCHINGS

    resolve_solver(options["solver"], max(lengths))
    check_precision(options["precision"])
    if options["batching"] not in BATCHINGS:
        raise UsageError(f"unknown batching {options['batching']!r}; allowed: {', '.join(BATCHINGS)}")
    if dist is not None:
        _join(dist)
    check_memory(model, max(lengths), options["solver"], None, options["precision"])
    import jax

    writer = jax.process_index() == 0  # the one process that writes, under jax.distributed
    out = out_dir(out) if writer else out
    config = dict(
        model.to_json(),
        rtol=rtol,
        atol=rtol * 1e-2,
        t_max=t_max,
        precision=options["precision"],
        solver=options["solver"],
    )
    from rich.console import Console

    from .records import environment

    path = out / "results.json"
    done = _kept_lengths(path, lengths, config, resume, writer, dist)
    console = Console(stderr=True, quiet=not writer)
    todo = [n for n in lengths if n not in done]
    if done:
        console.print(f"resuming: {len(done)} length(s) on disk, {len(todo)} to run")
    record = dict(kind="sweep", config=config, environment=environment(), lengths=list(done.values()))
    if dist is not None:
        record["processes"] = jax.process_count()
    start = time.perf_counter()
    writing = threading.Lock()  # Ctrl-C takes it: the record on disk stays whole

    def save():
        from .records import write_json

        with writing:
            record["lengths"] = sorted(done.values(), key=lambda r: r["n_pairs"])
            record["wall_time"] = time.perf_counter() - start
            write_json(path, record)

    if todo:
        _run_lengths(todo, model, options, dist, done, save if writer else None, console, writing)
    if writer:
        _finish_sweep(record, done, fit_last, out, console, save)


def _join(dist):
    """Join the run ``dist`` describes: in the process the user started, hand the command to a
    supervised child (:func:`~induction_ode.distributed.supervise`) and end with its exit
    code; in that child, start ``jax.distributed`` before anything touches a device."""
    import os

    from typer._click.globals import get_current_context

    from .distributed import SUPERVISED, start, supervise

    if SUPERVISED not in os.environ:
        raise typer.Exit(supervise(command_words(get_current_context()), dist.peer_timeout))
    start(dist)


def _kept_lengths(path, lengths, config, resume, writer, dist) -> dict[int, dict]:
    """The finished lengths of the record at ``path`` (``--resume``) by ``N``; without
    ``--resume`` an old record is removed. Process 0 reads and writes the record; under
    jax.distributed the others learn from it which lengths are done (their values: ``None``)."""
    from .records import with_legacy

    done, error = {}, None
    if writer:
        try:
            if resume and path.exists():
                old, done = _finished_lengths(path)
                same_config(path, with_legacy(old.get("config", {})), config)
            else:
                path.unlink(missing_ok=True)
        except (UsageError, ValueError) as err:
            error = err
    if dist is not None:
        import numpy as np

        from .distributed import agree

        kept = agree(np.array([-1 if error else n in done for n in lengths], np.int32))
        if not writer and np.any(kept < 0):
            raise UsageError(f"process 0 could not resume from {path} (see its error)")
        done = done if writer else {n: None for n, k in zip(lengths, kept) if k}
    if error is not None:
        raise error
    return done


def _run_lengths(todo, model, options, dist, done, save, console, writing):
    """Run the sweep of the lengths ``todo``; each finished length goes into ``done`` and,
    where ``save`` is given (process 0), onto disk at once. ``writing``: the lock of the
    writes, which Ctrl-C takes (:func:`~induction_ode.commands.interruptible`)."""
    from .records import emergence_record
    from .sweeps import sweep as run_sweep

    with progress_bar(console) as progress:
        task = progress.add_task("compiling, then one length at a time", total=len(todo))
        last = [time.perf_counter()]

        def finished(e):
            now = time.perf_counter()
            done[e.n_pairs] = emergence_record(e, now - last[0])
            last[0] = now
            if save is not None:
                save()
            progress.advance(task)

        work = lambda: run_sweep(  # noqa: E731
            todo,
            options["t_max"],
            model=model,
            rtol=options["rtol"],
            atol=options["rtol"] * 1e-2,
            precision=options["precision"],
            solver=options["solver"],
            batching=options["batching"],
            group_size=1,
            on_result=finished,
            distributed=dist,
        )
        interruptible(work, writing)


def _finished_lengths(path: Path) -> tuple[dict, dict[int, dict]]:
    """The sweep record at ``path`` and its finished lengths by ``N``, for ``--resume``; a
    damaged record is a one-line error that names the file and the way out."""
    from .records import read_record

    fix = "delete it, or pass another --out, to start the sweep over"
    old = read_record(path, ("sweep",), fix)
    lengths = old.get("lengths")
    ok = isinstance(old.get("config", {}), dict) and isinstance(lengths, list)
    if not ok or not all(isinstance(r, dict) and isinstance(r.get("n_pairs"), int) for r in lengths):
        raise UsageError(f"{path} is damaged (its config or lengths are not a sweep's); {fix}")
    return old, {r["n_pairs"]: r for r in lengths}


def _finish_sweep(record, done, fit_last, out, console, save):
    from .plots import ode_figures
    from .records import write_sweep_csv
    from .scaling import fit_power_law

    rows = [done[n] for n in sorted(done)]
    seq = [r["seq_len"] for r in rows]
    t_star = [float("nan") if r["t_star"] is None else r["t_star"] for r in rows]
    try:
        fit = fit_power_law(seq, t_star, last=fit_last)
        record["fit"] = fit._asdict()
    except ValueError:
        record["fit"] = None
    save()
    write_sweep_csv(out / "results.csv", rows)
    ode_figures(record, out)
    _print_emergence(rows)
    fit = record["fit"]
    if fit is not None:
        err = "" if fit["p_err"] is None or fit["p_err"] != fit["p_err"] else f" ± {fit['p_err']:.3f}"
        console.print(f"t* ~ {fit['c']:.3g}·T^{fit['p']:.3f}{err} over T = {[seq[i] for i in fit['used']]}")
    console.print(f"wrote {out / 'results.json'}, results.csv, scaling.png, order.png")


EMERGENCE_COLUMNS = (  # t½: half of the value at 2t*; T: first |x| >= 0.5 (the paper's)
    ("N",),
    ("T", "t*"),
    tuple(f"t½ {s}" for s in SHORT.values()),
    ("order",),
    ("solver",),
    tuple(f"T {s}" for s in SHORT.values()),
    ("steps", "∇L", "∇²L"),
    ("wall s",),
)
"""The emergence table's column groups, most important first (the table splits between groups)."""


def _print_emergence(rows: list[dict]) -> None:
    """Print the emergence table of lengths' records (:func:`~induction_ode.records.emergence_record`)."""

    def cells(r):
        count = lambda key: "—" if r.get(key) is None else str(r[key])  # noqa: E731
        return [
            str(r["n_pairs"]),
            str(r["seq_len"]),
            number(r["t_star"]) if r.get("solved", True) else "max_steps",
            *(number(r["half_times"][name]) for name in SHORT),
            "<".join(SHORT[n] for n in r["order"]) if r["emerged"] else "—",
            r.get("solver", "—"),
            *(number(r.get("paper_times", {}).get(name)) for name in SHORT),
            count("steps"),
            count("gradient_evals"),
            count("jacobian_evals"),
            f"{r['wall_time']:.1f}",
        ]

    title = "Emergence of the induction head (gradient-flow time)"
    print_table(title, EMERGENCE_COLUMNS, [cells(r) for r in rows])


@app.command()
def simulate(
    n_pairs: int = typer.Option(8, "--n-pairs", help="N (T = 2N + 1 tokens)."),
    metric: str = typer.Option("identity", help="identity or weights:D."),
    loss: str = typer.Option("mse", help="mse or ce."),
    rtol: float = typer.Option(1e-8, help="Relative tolerance (atol = rtol/100)."),
    t_max: float = typer.Option(None, help="End time (default 2 t*)."),
    layer1_mask: str = typer.Option("strict", help=LAYER1_MASK_HELP),
    positions: str = typer.Option("paired", help=POSITIONS_HELP),
    query: str = typer.Option("uniform", help=QUERY_HELP),
    out: Path = typer.Option(Path("runs/simulate"), help="Output directory."),
    device: str = typer.Option("auto", help="auto or cpu."),
    animate: bool = typer.Option(False, help="Also write attention.gif: the attention through training."),
    frames: int = typer.Option(None, help="Frames of attention.gif, evenly spaced in time (default 40)."),
):
    """One trajectory: trajectory.json, loss.png, parameters.png, attention.png (and attention.gif)."""
    network = dict(layer1_mask=layer1_mask, positions=positions, query=query)
    run_command(lambda: _simulate(n_pairs, metric, loss, rtol, t_max, network, out, device, animate, frames))


def _one_length(n_pairs: int, device: str, solver: str = "auto", **model):
    """Shared checks of the single-length commands (the model, its memory); returns the model."""
    select_device(device)
    check("n_pairs", n_pairs, flag=True)
    checked = _model(n_pairs, **model)
    from .ode import check_memory

    check_memory(checked, n_pairs, solver, None, "float64")
    return checked


def _simulate(n_pairs, metric, loss, rtol, t_max, network, out, device, animate, frames):
    check_values(flag=True, rtol=rtol, t_max=t_max, frames=frames)
    model = _one_length(n_pairs, device, metric=metric, loss=loss, **network)
    out = out_dir(out)
    import jax
    import numpy as np
    from rich.console import Console

    from . import attention_patterns, emergence_time
    from . import simulate as run_simulate
    from .plots import ANIMATION_FRAMES, attention_animation, ode_figures
    from .records import emergence_record, environment, write_json

    console = Console(stderr=True)
    start = time.perf_counter()
    kw = dict(model=model, rtol=rtol, atol=rtol * 1e-2)
    with console.status("locating t* (compiling first)"):
        e = emergence_time(n_pairs, **kw)
    located = time.perf_counter() - start
    end = t_max if t_max is not None else (2 * e.t_star if e.emerged else None)
    if end is None:
        raise UsageError("no emergence before the default time limit; pass --t-max")
    with progress_bar(console) as progress:
        task = progress.add_task("integrating", total=20)
        traj = run_simulate(n_pairs, end, chunks=20, on_chunk=lambda t, T: progress.advance(task), **kw)
    k = n_pairs // 2
    patterns = jax.jit(lambda theta: attention_patterns(theta, n_pairs, k, model=model))  # compiled once
    moments = []
    for frac in (0.25, 0.75, 1.0, 2.0):
        t = min(frac * (e.t_star if e.emerged else end), end)
        layer1, layer2 = patterns(traj.thetas[int(np.argmin(np.abs(traj.ts - t)))])
        moments.append(dict(t=float(t), k=k, layer1=np.asarray(layer1), layer2=np.asarray(layer2)))
    record = dict(
        kind="simulate",
        config=dict(n_pairs=n_pairs, **model.to_json(), rtol=rtol, t_max=end),
        environment=environment(),
        ts=traj.ts,
        thetas=traj.thetas,
        losses=traj.losses,
        t_star=e.t_star,
        half_times=e.half_times,
        order=list(e.order),
        attention=moments,
        wall_time=time.perf_counter() - start,
    )
    write_json(out / "trajectory.json", record)
    paths = ode_figures(record, out)
    if animate:
        gif = out / "attention.gif"
        paths.append(attention_animation(record, patterns, k, gif, frames or ANIMATION_FRAMES))
    _print_emergence([emergence_record(e, located)])
    console.print(f"wrote {out / 'trajectory.json'}, " + ", ".join(p.name for p in paths))


@app.command()
def crosscheck(
    n_pairs: int = typer.Option(3, "--n-pairs", help="N."),
    d: int = typer.Option(8, help="Width d >= 2N."),
    batch: int = typer.Option(32768, help="Fresh sequences per step."),
    steps: int = typer.Option(900, help="Gradient-descent steps."),
    lr: float = typer.Option(1.0, help="Learning rate (ODE time = step × lr)."),
    seed: int = typer.Option(0, help="Random seed."),
    layer1_mask: str = typer.Option("strict", help=LAYER1_MASK_HELP),
    positions: str = typer.Option("paired", help=POSITIONS_HELP),
    query: str = typer.Option("uniform", help=QUERY_HELP),
    out: Path = typer.Option(Path("runs/crosscheck"), help="Output directory."),
    device: str = typer.Option("auto", help="auto or cpu."),
):
    """Train the full-weight network and compare it with the ODE: crosscheck.json, crosscheck.png."""
    network = dict(layer1_mask=layer1_mask, positions=positions, query=query)
    run_command(lambda: _crosscheck(n_pairs, d, batch, steps, lr, seed, network, out, device))


CROSSCHECK_EVAL_BATCH = 4096
"""The held-out batch of :func:`~induction_ode.crosscheck` (its default)."""


def _crosscheck(n_pairs, d, batch, steps, lr, seed, network, out, device):
    select_device(device)
    check_values(flag=True, n_pairs=n_pairs, d=d, batch=batch, steps=steps, lr=lr, seed=seed)
    if d < 2 * n_pairs:
        raise UsageError(f"need --n-pairs >= 1 and --d >= 2N = {2 * n_pairs}, got N={n_pairs}, d={d}")
    check_fits(lambda b: crosscheck_bytes(n_pairs, d, b, CROSSCHECK_EVAL_BATCH), batch, "--batch")
    _model(n_pairs, **network)
    out = out_dir(out)
    from rich.console import Console

    from .crosschecks import crosscheck as run_crosscheck
    from .plots import ode_figures
    from .records import environment, write_json

    console = Console(stderr=True)
    with console.status(f"training the full network ({steps} steps of {batch}) and integrating the ODE"):
        check = run_crosscheck(n_pairs, d, batch=batch, steps=steps, lr=lr, seed=seed, **network)
    record = dict(kind="crosscheck", config=check.settings, environment=environment(), **check.to_json())
    write_json(out / "crosscheck.json", record)
    ode_figures(record, out)
    rows = [
        ("t* of the ODE", number(record["t_star_ode"])),
        ("t* of the full weights", number(record["t_star_full"])),
        ("t* full / ODE", formatted(record["t_star_ratio"], ".4f")),
        ("max off-subspace fraction", formatted(record["max_off_subspace_fraction"], ".3g")),
        ("max trajectory error (relative)", formatted(record["max_trajectory_rel_error"], ".3g")),
        ("wall time, full weights (s)", formatted(record["wall_full"], ".1f")),
        ("wall time, ODE (s)", formatted(record["wall_ode"], ".1f")),
    ]
    print_table(f"Full weights against the ODE, N = {n_pairs}, d = {d}", (("quantity",), ("value",)), rows)
    console.print(f"wrote {out / 'crosscheck.json'}, crosscheck.png")


@app.command()
def clamp(
    n_pairs: int = typer.Option(8, "--n-pairs", help="N (T = 2N + 1 tokens)."),
    clamps: str = typer.Option(
        ",".join(
            ("previous_token", "match", "copy", "previous_token+match", "previous_token+copy", "match+copy")
        ),
        help="Comma-separated clamps; each joins with + pattern names (previous_token, match, copy) "
        "and name=value holds (e.g. alpha3=0).",
    ),
    t_on: float = typer.Option(0.0, help="Clamps act from this gradient-flow time on."),
    metric: str = typer.Option("identity", help="identity or weights:D."),
    rtol: float = typer.Option(1e-8, help="Relative tolerance (atol = rtol/100)."),
    solver: str = typer.Option("auto", help=SOLVER_HELP),
    layer1_mask: str = typer.Option("strict", help=LAYER1_MASK_HELP),
    positions: str = typer.Option("paired", help=POSITIONS_HELP),
    query: str = typer.Option("uniform", help=QUERY_HELP),
    out: Path = typer.Option(Path("runs/clamp"), help="Output directory."),
    device: str = typer.Option("auto", help="auto or cpu."),
):
    """Clamp subcircuits during training: t* and plateau-loss shifts; clamp.json, clamp.png."""
    network = dict(layer1_mask=layer1_mask, positions=positions, query=query)
    run_command(lambda: _clamp(n_pairs, clamps, t_on, metric, rtol, solver, network, out, device))


def _clamp(n_pairs, clamps, t_on, metric, rtol, solver, network, out, device):
    check_values(flag=True, t_on=t_on, rtol=rtol)
    model = _one_length(n_pairs, device, solver, metric=metric, **network)
    from .clamp import Clamp
    from .ode import resolve_solver

    solver = resolve_solver(solver, n_pairs)

    specs = [Clamp.parse(c, t_on) for c in clamps.split(",") if c.strip()]  # validates names and t_on
    if not specs:
        raise UsageError("--clamps must name at least one clamp")
    out = out_dir(out)
    from rich.console import Console

    from .mechanism import clamp_experiment
    from .plots import ode_figures
    from .records import environment, write_json

    console = Console(stderr=True)
    start = time.perf_counter()
    with progress_bar(console) as progress:
        task = progress.add_task("unclamped, then each clamp", total=len(specs) + 1)
        exp = clamp_experiment(
            n_pairs,
            specs,
            t_on=t_on,
            model=model,
            rtol=rtol,
            atol=rtol * 1e-2,
            solver=solver,
            on_run=lambda r: progress.advance(task),
        )
    config = dict(
        n_pairs=n_pairs,
        clamps=[c.label() for c in specs],
        t_on=t_on,
        **model.to_json(),
        rtol=rtol,
        solver=solver,
    )
    record = dict(
        kind="clamp",
        config=config,
        environment=environment(),
        **exp.to_json(),
        wall_time=time.perf_counter() - start,
    )
    write_json(out / "clamp.json", record)
    ode_figures(record, out)
    rows = [
        (
            r["clamp"],
            number(r["t_star"]) if r["emerged"] else "not reached",
            f"{r['t_star_ratio']:.3f}" if r["emerged"] else "—",
            f"{r['plateau_loss']:.4f}",
            f"{r['plateau_shift']:+.4f}",
        )
        for r in exp.rows()
    ]
    title = f"Clamps at N = {n_pairs}: t* and the loss at t_plateau = {number(exp.t_plateau)}"
    print_table(title, (("clamp",), ("t*", "t*/t*ref"), ("L(t_plateau)", "shift")), rows)
    console.print(f"wrote {out / 'clamp.json'}, clamp.png")


@app.command()
def plot(
    record: Path = typer.Argument(
        ...,
        help="A results.json, trajectory.json, crosscheck.json, clamp.json, standard.json, ngram.json "
        "or ladder.json.",
    ),
):
    """Redraw the figures of a JSON record, next to it."""

    def body():
        if record.is_dir():
            example = record / "results.json"
            raise UsageError(f"{record} is a directory; give the record file in it, e.g. {example}")
        if not record.is_file():
            raise UsageError(f"no such file: {record}")
        from .records import read_record

        fix = "run the command that writes it again"
        data = read_record(record, RECORD_KINDS, fix)
        try:
            paths = _figures(data, record.parent)
        except (KeyError, IndexError, TypeError) as err:  # a field missing or of the wrong type
            raise UsageError(f"{record} is damaged ({type(err).__name__}: {err}); {fix}") from None
        for p in paths:
            typer.echo(f"wrote {p}")

    run_command(body)


RECORD_KINDS = ("sweep", "simulate", "crosscheck", "clamp", "standard", "ngram", "ladder")


def _figures(record: dict, out: Path) -> list[Path]:
    """Draw a record's figures into ``out`` with its family's figure module; returns the files written."""
    kind = record["kind"]
    if kind == "standard":
        from .standard.plots import standard_figures as draw
    elif kind == "ngram":
        from .ngram.plots import ngram_figures as draw
    elif kind == "ladder":
        from .ladder.plots import ladder_figures as draw
    else:
        from .plots import ode_figures as draw
    return draw(record, out)


# The other model families' commands (their bodies import JAX lazily).
app.command(name="standard")(standard)
app.command(name="ngram")(ngram)
app.command(name="ladder")(ladder)
