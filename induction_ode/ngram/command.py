"""``induction-ode ngram``: one run of the n-gram model, its record and its figures.

No JAX at import time (``induction-ode --help`` stays fast); the library is loaded inside.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ..commands import UsageError, out_dir, progress_bar, run_command, select_device
from ..tables import formatted, number, print_table


def ngram(
    preset: str = typer.Option(
        "standard",
        help="standard (shared windows, cross-entropy) or reference-code (the authors' run: shifted "
        "windows, ŷ taken as logits).",
    ),
    steps: int = typer.Option(1000, help="Gradient-descent steps (with --flow: run to t = steps × lr)."),
    lr: float = typer.Option(1.0, help="Learning rate; time t = step × lr."),
    flow: bool = typer.Option(False, "--flow", help="Integrate the gradient flow (diffrax) instead."),
    window: str = typer.Option(None, help="shared or shifted (default: the preset's)."),
    loss: str = typer.Option(None, help="ce or reference-code (default: the preset's)."),
    seed: int = typer.Option(0, help="Seed of the fixed training sample."),
    vocab_size: int = typer.Option(3, "--vocab-size", "-S", help="Vocabulary size S."),
    order: int = typer.Option(3, "--order", "-n", help="n of the n-gram (n − 1 parents)."),
    length: int = typer.Option(100, "--length", "-L", help="Input tokens per sequence L."),
    alpha: float = typer.Option(0.1, help="Dirichlet concentration α."),
    heads: int = typer.Option(3, "--heads", "-H", help="Layer-1 heads H."),
    degree: int = typer.Option(2, "--degree", "-D", help="Largest subset of heads the FFN keeps, 1 ≤ D ≤ H."),
    n_train: int = typer.Option(9000, help="Sequences in the fixed training sample."),
    draws: int = typer.Option(2000, help="Monte Carlo draws of π for the χ²-MI criterion."),
    full_steps: int = typer.Option(0, help="Also train the full model for this many steps (0: skip)."),
    full_lr: float = typer.Option(0.01, help="The full model's learning rate."),
    out: Path = typer.Option("runs/ngram", help="Output directory."),
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
    run_command(lambda: _ngram(preset, options, out, device))


def _ngram(preset_name, options, out, device):
    select_device(device)
    from ..records import environment, write_json
    from .experiment import preset, run

    settings = preset(preset_name, **options)  # validates every setting (ValueError → one line)
    if settings.flow and settings.full_steps:
        raise UsageError("--flow trains the reduced model only; drop --full-steps")
    out = out_dir(out)
    from rich.console import Console

    from .plots import ngram_figures

    console = Console(stderr=True)
    start = time.perf_counter()
    with progress_bar(console) as progress:
        tasks = {}

        def advance(stage, done, total):
            if stage not in tasks:
                tasks[stage] = progress.add_task(f"{stage} model", total=total)
            progress.update(tasks[stage], completed=done)

        if settings.flow:
            with console.status(f"integrating the gradient flow to t = {settings.t_end:g}"):
                result = run(settings)
        else:
            result = run(settings, on_progress=advance)
    record = dict(result.record(), environment=environment())
    record["wall_time"]["total"] = time.perf_counter() - start
    write_json(out / "ngram.json", record)
    paths = ngram_figures(record, out)
    _summary(record)
    console.print(f"wrote {out / 'ngram.json'}, " + ", ".join(p.name for p in paths))


def _summary(record: dict) -> None:
    """Print the phases of the reduced (and full) model and the criterion's prediction."""
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
    models = [record, record["full"]] if "full" in record else [record]
    columns = (("quantity",), ("reduced model", "full model")[: len(models)])
    title = "n-gram model: the three phases (gradient-flow time t = step × lr)"
    print_table(title, columns, [(name, *(get(m) for m in models)) for name, get in rows])
    Console().print(
        f"criterion: S* predicted = offsets {crit['best']} (Ĩ margin over the runner-up "
        f"{crit['margin']:.4g} ± {crit['margin_err']:.2g}, {crit['draws']} draws of π)"
    )
