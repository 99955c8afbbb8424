"""``induction-ode standard``: clamps, per-head metrics, ablations and weight structure of a
standard transformer, side by side with the ODE's clamps.

No JAX at module level: the command line's ``--help`` must not wait for it.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import typer

from ..commands import (
    KeptParts,
    UsageError,
    interruptible,
    out_dir,
    progress_bar,
    run_command,
    select_device,
)
from ..memory import check_fits, standard_bytes
from ..tables import formatted, number, print_table
from ..validation import check_values

DEFAULT_CLAMPS = "none,previous_token,match,copy,match+copy"
EVAL_BATCH = 512
"""The held-out batch (:class:`~induction_ode.standard.TrainConfig`'s default)."""


def standard(
    n_pairs: int = typer.Option(
        None, "--n-pairs", help="N (T = 2N + 1 tokens); default 4, or 2 with --preset singh."
    ),
    heads: int = typer.Option(8, help="Heads per layer."),
    d_model: int = typer.Option(64, "--d-model", help="Residual width (a multiple of --heads)."),
    positions: str = typer.Option("rope", help="rope (Singh's default) or learned (needed for the P block)."),
    clamps: str = typer.Option(
        DEFAULT_CLAMPS,
        help="Comma-separated clamps; each joins with + previous_token, match, copy (heads with @, e.g. "
        "match@3; strength with =, e.g. match=0.8) and ablate=L2H3. 'none' is the unclamped reference.",
    ),
    clamp_from: int = typer.Option(0, "--clamp-from", help="Clamps act from this training step on."),
    steps: int = typer.Option(2000, help="Training steps per run."),
    lr: float = typer.Option(1e-3, help="Learning rate."),
    seed: int = typer.Option(0, help="Seed: initial weights and batches, the same for every clamp."),
    seeds: int = typer.Option(
        1,
        "--seeds",
        help="K runs per clamp, seeds --seed … --seed+K-1, trained together (vmapped); "
        "K >= 2 gives means with 95% t-intervals.",
    ),
    batch: int = typer.Option(32, help="Fresh sequences per step."),
    optimizer: str = typer.Option("adam", help="adam or sgd."),
    loss: str = typer.Option("ce", help="ce (cross-entropy) or mse (the ODE's ½‖ŷ − e_y‖²; no copy clamp)."),
    labels: int = typer.Option(None, help="Label vocabulary L >= N (default N; 5 with --preset singh)."),
    layer_norm: bool = typer.Option(
        True, "--layer-norm/--no-layer-norm", help="Pre-LayerNorm and final LayerNorm."
    ),
    eval_every: int = typer.Option(
        50, "--eval-every", help="Measure on the held-out batch every this many steps."
    ),
    preset: str = typer.Option("none", help="none or singh (N = 2, 5 labels, 50 classes of 512-d vectors)."),
    ode: bool = typer.Option(True, "--ode/--no-ode", help="Also run the ODE's clamps at the same N."),
    out: Path = typer.Option(Path("runs/standard"), help="Output directory."),
    resume: bool = typer.Option(
        False, help="Reuse the clamps (all seeds of each) and ODE parts an interrupted run finished in OUT."
    ),
    device: str = typer.Option("auto", help="auto or cpu."),
):
    """Standard transformers (Singh et al. 2024): clamps, per-head metrics, ablations, weight structure."""
    options = dict(
        n_pairs=n_pairs,
        heads=heads,
        d_model=d_model,
        positions=positions,
        clamps=clamps,
        clamp_from=clamp_from,
        steps=steps,
        lr=lr,
        seed=seed,
        seeds=seeds,
        batch=batch,
        optimizer=optimizer,
        loss=loss,
        labels=labels,
        layer_norm=layer_norm,
        eval_every=eval_every,
        preset=preset,
        ode=ode,
        out=out,
        resume=resume,
        device=device,
    )
    run_command(lambda: run_standard(**options), resumable=True)


def _settings(o: dict):
    """Check the options and build (task, model, train config, clamps); UsageError on bad input."""
    if o["preset"] not in ("none", "singh"):
        raise UsageError(f"--preset must be none or singh, got {o['preset']!r}")
    singh = o["preset"] == "singh"
    numbers = ("n_pairs", "heads", "d_model", "clamp_from", "steps", "lr", "seed", "seeds", "batch", "labels")
    check_values(flag=True, eval_every=o["eval_every"], **{k: o[k] for k in numbers})
    n_pairs = o["n_pairs"] if o["n_pairs"] is not None else (2 if singh else 4)
    sizes = (n_pairs, o["d_model"], o["heads"])
    check_fits(lambda b: standard_bytes(*sizes, b, o["seeds"], EVAL_BATCH), o["batch"], "--batch")
    labels = o["labels"] if o["labels"] is not None else (5 if singh else n_pairs)
    if labels < n_pairs:
        raise UsageError(f"--labels must be >= --n-pairs = {n_pairs}, got {labels}")
    if o["d_model"] % o["heads"]:
        raise UsageError(
            f"--d-model must be a positive multiple of --heads, got {o['d_model']} and {o['heads']}"
        )
    if o["positions"] not in ("rope", "learned"):
        raise UsageError(f"--positions must be rope or learned, got {o['positions']!r}")
    if o["optimizer"] not in ("adam", "sgd"):
        raise UsageError(f"--optimizer must be adam or sgd, got {o['optimizer']!r}")
    if o["loss"] not in ("ce", "mse"):
        raise UsageError(f"--loss must be ce or mse, got {o['loss']!r}")
    if o["clamp_from"] >= o["steps"]:
        raise UsageError(f"--clamp-from must be < --steps = {o['steps']}, got {o['clamp_from']}")
    from .clamps import StandardClamp

    specs = [StandardClamp.parse(c, o["clamp_from"]) for c in o["clamps"].split(",") if c.strip()]
    if not specs:
        raise UsageError("--clamps must name at least one clamp (or none)")
    for s in specs:
        s.arrays(o["heads"])  # head numbers in range
        if s.copy is not None and o["loss"] != "ce":
            raise UsageError(f"{s.label()}: the copy clamp writes log-probabilities as logits; use --loss ce")
    from .model import ModelConfig
    from .task import Task, singh_preset
    from .training import TrainConfig

    task = singh_preset(n_pairs=n_pairs, n_labels=labels) if singh else Task(n_pairs=n_pairs, n_labels=labels)
    model = ModelConfig(o["d_model"], o["heads"], o["positions"], o["layer_norm"])
    cfg = TrainConfig(
        o["steps"], o["lr"], o["batch"], o["optimizer"], o["seed"], o["eval_every"], loss=o["loss"]
    )
    return task, model, cfg, specs


def ode_expressible(spec) -> str | None:
    """The ODE clamp spec for a standard clamp, or ``None`` if the ODE cannot express it
    (ablations, head subsets, a match strength below 1: the ODE has one head per layer)."""
    from .clamps import ALL

    if spec.ablate or spec.empty or spec.match_strength != 1.0:
        return None
    if any(getattr(spec, n) not in (None, ALL) for n in ("previous_token", "match", "copy")):
        return None
    return "+".join(spec.patterns())


def ode_comparison(n_pairs: int, specs, t_on: float = 0.0, on_run=None) -> dict:
    """The ODE's clamp experiment at the same N, through the library's public API."""
    import induction_ode as io

    names = list(dict.fromkeys(n for n in (ode_expressible(s) for s in specs) if n))
    start = time.perf_counter()
    exp = io.clamp_experiment(n_pairs, names, t_on=t_on, on_run=on_run)
    return dict(
        n_pairs=n_pairs,
        t_on=t_on,
        call=f"induction_ode.clamp_experiment({n_pairs}, {names!r}, t_on={t_on:g})",
        table=exp.rows(),
        wall_time=time.perf_counter() - start,
    )


def comparison_rows(table: list[dict], specs, ode: dict | None) -> list[dict]:
    """Standard-transformer rows joined with the ODE's rows of the same clamp (``None`` if absent)."""
    # the ODE labels late clamps "match (t>=12.3)"; key by the clamp alone
    by_label = {r["clamp"].split(" (t>=")[0]: r for r in (ode or {}).get("table", [])}
    ode_name = {s.label(): ode_expressible(s) for s in specs}
    rows = []
    for r in table:
        name = "none" if r["clamp"] == "none" else ode_name.get(r["clamp"])
        o = by_label.get(name) if name else None
        rows.append(
            dict(
                clamp=r["clamp"],
                phase_step=r["phase_step"],
                ratio=r["ratio"],
                ode_clamp=name,
                ode_t_star=None if o is None else o["t_star"],
                ode_ratio=None if o is None else o["t_star_ratio"],
            )
        )
    return rows


def ode_progress(n_pairs: int, loss: str) -> dict:
    """The ODE's emergence at ``n_pairs`` under ``loss``: ``t*``, the half-times of α3, β2, γ3
    (half of their value at ``2 t*``) relative to ``t*``, and their order."""
    import induction_ode as io

    start = time.perf_counter()
    e = io.emergence_time(n_pairs, model=io.Model(loss=loss))
    return dict(
        call=f"induction_ode.emergence_time({n_pairs}, model=induction_ode.Model(loss={loss!r}))",
        t_star=e.t_star,
        half_times=e.half_times,
        relative={n: t / e.t_star for n, t in e.half_times.items()},
        order=" < ".join(e.order),
        wall_time=time.perf_counter() - start,
    )


def _ode_time_on(o: dict, task, study) -> float:
    """The ODE time of ``--clamp-from``: the same fraction of the first seed's unclamped phase change."""
    if o["clamp_from"] == 0:
        return 0.0
    import induction_ode as io

    ref_step = study.reference[0].phase_step()
    if not ref_step > 0:
        raise ValueError("--clamp-from > 0 needs an unclamped phase change to map steps onto ODE time")
    return o["clamp_from"] / ref_step * io.emergence_time(task.n_pairs).t_star


def run_standard(**o):
    select_device(o["device"])
    task, model, cfg, specs = _settings(o)
    out = out_dir(o["out"])
    from rich.console import Console

    from ..records import environment, write_json
    from .plots import standard_figures
    from .training import seed_list

    console = Console(stderr=True)
    seeds = seed_list(cfg, o["seeds"])
    config = dict(
        task=task.to_json(),
        model=model.to_json(),
        train=cfg.to_json(),
        seeds=list(seeds),
        interval="95% Student-t interval on the mean over seeds; ratios: mean of per-seed ratios",
        clamps=[s.label() for s in specs],
        clamp_from=o["clamp_from"],
        preset=o["preset"],
        ode=o["ode"],
        precision="float32",
    )
    parts = KeptParts(out / "standard.parts.json", "standard-parts", config, o["resume"])
    if parts.kept:
        console.print(f"resuming: {', '.join(parts.kept)} kept in {parts.path}")
    start = time.perf_counter()
    done = interruptible(lambda: _parts(o, task, model, cfg, specs, seeds, parts, console), parts.lock)
    study, runs, analysis, ode, ode_progress_part = done
    table = study.rows()
    if ode_progress_part is not None:
        analysis = dict(analysis, progress=dict(analysis["progress"], ode=ode_progress_part))
    record = dict(
        kind="standard",
        config=config,
        environment=environment(),
        loss0=study.loss0,
        runs=runs,
        table=table,
        **analysis,
        ode=ode,
        comparison=comparison_rows(table, specs, ode),
        wall_time=time.perf_counter() - start,
    )
    write_json(out / "standard.json", record)
    parts.done()
    paths = standard_figures(record, out)
    _print(record, console)
    console.print(f"wrote {out / 'standard.json'}, " + ", ".join(p.name for p in paths))


def _parts(o: dict, task, model, cfg, specs, seeds, parts: KeptParts, console):
    """Train unclamped, then under each clamp, then run the ODE's clamps and progress measures,
    keeping each part in ``parts`` as it finishes (or reusing the kept one).

    A part is one clamp with all its seeds (they train together, one vmapped program), and
    the unclamped part holds the ablations, weight structure and progress measures of its
    models too (they need the trained weights, which no part keeps). Returns the
    :class:`~.training.ClampStudy` (runs without weights), the record's ``runs``, the unclamped
    models' analysis (:func:`~.seeds.seed_analysis`), the ODE's clamp comparison and its
    progress measures (``None`` where not run).
    """
    from .clamps import StandardClamp
    from .seeds import seed_analysis
    from .training import ClampStudy, train_seeds

    order = ["none", *(s.label() for s in specs if not s.empty)]  # as clamp_study trains them
    todo = dict(zip(order, [StandardClamp(), *(s for s in specs if not s.empty)]))
    with progress_bar(console) as progress:
        first = [label for label in todo if label not in parts][:1]
        bars = {
            label: progress.add_task(
                f"{label} (compiling first)" if label in first else label, total=cfg.n_evals
            )
            for label in todo
            if label not in parts
        }

        def trained(label, spec):
            runs = train_seeds(
                task, model, cfg, spec, seeds=seeds, on_chunk=lambda s: progress.advance(bars[label])
            )
            part = dict(runs=[r.to_json() for r in runs])
            if label == "none":
                analysing = progress.add_task(
                    "ablations and weight structure of the unclamped models", total=1
                )
                part["analysis"] = seed_analysis(task, model, cfg, ClampStudy(seeds, runs, []))
                progress.advance(analysing)
            return part

        done = {
            label: parts.get(label, functools.partial(trained, label, spec)) for label, spec in todo.items()
        }
    study = ClampStudy(seeds, _runs(done["none"]), [_runs(done[label]) for label in order[1:]])
    ode = progress_part = None
    expressible = {ode_expressible(s) for s in specs} - {None}
    if o["ode"] and expressible:

        def comparison():
            t_on = _ode_time_on(o, task, study)
            with progress_bar(console) as progress:
                bar = progress.add_task("ODE: unclamped, then each clamp", total=1 + len(expressible))
                return ode_comparison(task.n_pairs, specs, t_on, on_run=lambda r: progress.advance(bar))

        ode = parts.get("ode", comparison)
    if o["ode"]:

        def measures():
            with console.status(f"the ODE's progress measures ({cfg.loss})"):
                return ode_progress(task.n_pairs, cfg.loss)

        progress_part = parts.get("ode progress", measures)
    return (
        study,
        [r for label in order for r in done[label]["runs"]],
        done["none"]["analysis"],
        ode,
        progress_part,
    )


def _runs(part: dict) -> list:
    """A kept training part's runs as :class:`~.training.TrainRun` (their recorded curves; the
    weights and progress measures, which parts do not keep, are ``None``)."""
    import numpy as np

    from .training import TrainRun

    curves = ("steps", "loss", "accuracy", "train_loss", "induction", "previous_token")
    return [
        TrainRun(
            r["label"],
            *(np.asarray(r[k], float) for k in curves),  # None (a NaN in JSON) back to NaN
            progress=None,
            params=None,
            params0=None,
            wall_time=r["wall_time"],
            seed=r["seed"],
        )
        for r in part["runs"]
    ]


def interval_text(iv: dict, spec: str) -> str:
    """``"mean [low, high]"`` of a :func:`~induction_ode.intervals.mean_interval`, or the mean
    alone where there is no interval (one seed)."""
    if iv["low"] is None or iv["low"] != iv["low"]:  # NaN, or None as read back from JSON
        return formatted(iv["mean"], spec)
    return f"{formatted(iv['mean'], spec)} [{formatted(iv['low'], spec)}, {formatted(iv['high'], spec)}]"


def _finite(values) -> bool:
    """Whether a recorded curve is all finite (JSON keeps NaN and infinities as ``null``)."""
    return all(v is not None and math.isfinite(v) for v in values)


def _print(record, console):
    """Print the clamp table beside the ODE's, the unclamped models' head scores and their
    weight-structure scores (means with 95% intervals over seeds)."""
    n = record["config"]["task"]["n_pairs"]
    acc = {r["clamp"]: r["final_accuracy"] for r in record["table"]}
    rows = [
        (
            r["clamp"],
            number(r["phase_step"]["mean"]),
            interval_text(r["ratio"], ".3f"),
            interval_text(acc[r["clamp"]], ".3f"),
            number(r["ode_t_star"]),
            formatted(r["ode_ratio"], ".3f"),
        )
        for r in record["comparison"]
    ]
    columns = (("clamp",), ("step*", "step*/ref", "final acc"), ("ODE t*", "ODE t*/ref"))
    k = len(record["config"]["seeds"])
    seeds = f", mean [95% CI] of {k} seeds" if k > 1 else ""
    title = f"Phase change under clamps, N = {n}: standard transformer (steps{seeds}) and ODE (t*)"
    print_table(title, columns, rows)
    diverged = sorted({r["label"] for r in record["runs"] if not _finite(r["loss"])})
    if diverged:
        console.print(
            f"[bold red]warning:[/] the held-out loss became NaN or infinite under {', '.join(diverged)}: "
            f"training diverged at --lr {record['config']['train']['lr']:g}; lower it"
        )
    heads = record["heads"]["summary"]
    for name, layer in (("induction", "induction strength (L2)"), ("previous_token", "previous-token (L1)")):
        console.print(
            f"unclamped, {layer}, best head first: "
            + "; ".join(interval_text(iv, ".2f") for iv in heads[name]["ranked"])
        )
    parts = [
        f"{name} {interval_text(block['trained'], '.3f')} (initial {interval_text(block['initial'], '.3f')})"
        for name, block in record["structure"]["summary"].items()
        if block is not None
    ]
    console.print("structure scores: " + "; ".join(parts))
    half = record["progress"]["summary"]["0.5"]
    console.print(
        "progress measures (best pair), step at half of x(2 step*) / step*: "
        + "; ".join(f"{n} {interval_text(iv, '.2f')}" for n, iv in half["relative"].items())
        + "; order: "
        + ", ".join(f"{order} ({count}×)" for order, count in half["orders"].items())
    )
    ode = record["progress"].get("ode")
    if ode is not None:
        relative = ", ".join(f"{n} {t:.2f}" for n, t in ode["relative"].items())
        console.print(f"ODE half-times / t*: {relative}; order: {ode['order']}")
