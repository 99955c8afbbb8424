"""``induction-ode ngram``: one run of the n-gram model, its record and its figures.

No JAX at import time (``induction-ode --help`` stays fast); the library is loaded inside.
"""

from __future__ import annotations

import contextlib
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
from ..memory import check_fits, ngram_bytes
from ..tables import formatted, number, print_table
from ..validation import check_values


def ngram(
    preset: str = typer.Option(
        "standard",
        help="standard (shared windows, cross-entropy), reference-code (the authors' run: shifted "
        "windows, ŷ taken as logits) or appendix-b (the authors' full-model run of the paper's "
        "Appendix B, full model only). Options given beside it override its values.",
    ),
    steps: int = typer.Option(
        None, help="Reduced-model GD steps (with --flow: run to t = steps × lr; 0: full model only). [1000]"
    ),
    lr: float = typer.Option(None, help="Learning rate; time t = step × lr. [1]"),
    flow: bool = typer.Option(False, "--flow", help="Integrate the gradient flow (diffrax) instead."),
    window: str = typer.Option(None, help="shared or shifted. [the preset's]"),
    loss: str = typer.Option(None, help="ce or reference-code. [the preset's]"),
    seed: int = typer.Option(None, help="Seed of the fixed training sample. [0]"),
    vocab_size: int = typer.Option(None, "--vocab-size", "-S", help="Vocabulary size S. [3]"),
    order: int = typer.Option(None, "--order", "-n", help="n of the n-gram (n − 1 parents). [3]"),
    length: int = typer.Option(None, "--length", "-L", help="Input tokens per sequence L. [100]"),
    alpha: float = typer.Option(None, help="Dirichlet concentration α. [0.1]"),
    heads: int = typer.Option(None, "--heads", "-H", help="Layer-1 heads H. [3]"),
    degree: int = typer.Option(
        None, "--degree", "-D", help="Largest subset of heads the FFN keeps, 1 ≤ D ≤ H. [2]"
    ),
    n_train: int = typer.Option(None, help="Sequences in the fixed training sample. [9000]"),
    draws: int = typer.Option(None, help="Monte Carlo draws of π for the χ²-MI criterion. [2000]"),
    full_steps: int = typer.Option(None, help="Also train the full model for this many steps (0: skip). [0]"),
    full_lr: float = typer.Option(None, help="The full model's learning rate. [0.01]"),
    out: Path = typer.Option("runs/ngram", help="Output directory."),
    resume: bool = typer.Option(
        False,
        help="Reuse the parts (reduced model, criterion, full model) an interrupted run finished in OUT.",
    ),
    device: str = typer.Option("auto", help="auto or cpu."),
):
    """The n-gram model of Chen et al. 2024: three phases of training; ngram.json and figures."""
    options = dict(
        steps=steps,
        lr=lr,
        flow=flow,
        window=window,
        loss=loss,
        seed=seed,
        vocab_size=vocab_size,
        order=order,
        length=length,
        alpha=alpha,
        heads=heads,
        degree=degree,
        n_train=n_train,
        draws=draws,
        full_steps=full_steps,
        full_lr=full_lr,
    )
    run_command(lambda: _ngram(preset, options, out, resume, device), resumable=True)


def _ngram(preset_name, options, out, resume, device):
    select_device(device)
    numbers = {k: v for k, v in options.items() if k not in ("flow", "window", "loss")}
    check_values(family="ngram", flag=True, **numbers)
    from ..records import environment, write_json
    from .experiment import preset, run_record
    from .model import n_patterns

    settings = preset(preset_name, **options)  # validates every setting (ValueError → one line)
    task, arch = settings.task, settings.arch
    n_patterns(arch, own=bool(settings.full_steps))  # the layer-1 pattern table fits
    sizes = (task.vocab_size, task.order, task.length, arch.heads)
    check_fits(lambda k: ngram_bytes(*sizes, k, settings.draws), settings.n_train, "--n-train")
    if settings.flow and settings.full_steps:
        raise UsageError("--flow trains the reduced model only; drop --full-steps")
    out = out_dir(out)
    from rich.console import Console

    from .plots import ngram_figures

    console = Console(stderr=True)
    parts = KeptParts(out / "ngram.parts.json", "ngram-parts", settings.to_json(), resume)
    if parts.kept:
        console.print(f"resuming: {', '.join(parts.kept)} kept in {parts.path}")
    start = time.perf_counter()
    with progress_bar(console) as progress:
        tasks = {}

        def advance(stage, done, total):
            if stage not in tasks:
                tasks[stage] = progress.add_task(f"{stage} model", total=total)
            progress.update(tasks[stage], completed=done)

        work = lambda: run_record(settings, on_progress=advance, keep=parts.get)  # noqa: E731
        flowing = f"integrating the gradient flow to t = {settings.t_end:g}"
        with console.status(flowing) if settings.flow else contextlib.nullcontext():
            result = interruptible(work, parts.lock)
    record = dict(result, environment=environment())
    record["wall_time"]["total"] = time.perf_counter() - start
    write_json(out / "ngram.json", record)
    parts.done()
    paths = ngram_figures(record, out)
    _summary(record)
    console.print(f"wrote {out / 'ngram.json'}, " + ", ".join(p.name for p in paths))


def _summary(record: dict) -> None:
    """Print the phases of the models the record holds and the criterion's prediction."""
    from rich.console import Console

    crit = record["criterion"]
    rows = [
        ("initial loss", lambda r: formatted(r["trajectory"]["losses"][0], ".4g")),
        ("final loss", lambda r: formatted(r["trajectory"]["losses"][-1], ".4g")),
        ("S* selected (heads)", lambda r: r["phases"]["selected_label"]),
        ("S* selected (offsets)", lambda r: str(r["phases"]["selected_offsets"])),
        ("t1: max c_S ≥ 0.99", lambda r: number(r["phases"]["selection_time"])),
        ("t2: concentration half-time", lambda r: number(r["phases"]["t_concentration"])),
        ("a at the end", lambda r: formatted(r["trajectory"]["a"][-1], ".4g")),
        (
            "a(t) = k ln t + b: k",
            lambda r: (
                "—"
                if r["phases"]["a_fit"] is None
                else f"{r['phases']['a_fit']['k']:.4g} ± {r['phases']['a_fit']['k_err']:.2g}"
            ),
        ),
    ]
    models = {"reduced model": record if "trajectory" in record else None, "full model": record.get("full")}
    models = {name: m for name, m in models.items() if m is not None}
    columns = (("quantity",), tuple(models))
    title = "n-gram model: the three phases (gradient-flow time t = step × lr)"
    print_table(title, columns, [(name, *(get(m) for m in models.values())) for name, get in rows])
    Console().print(
        f"criterion: S* predicted = offsets {crit['best']} (Ĩ margin over the runner-up "
        f"{crit['margin']:.4g} ± {crit['margin_err']:.2g}, {crit['draws']} draws of π)"
    )
