"""``induction-ode ladder``: the ladder of issue 34, its record and its figures.

No JAX at import time (``induction-ode --help`` stays fast); the library is loaded inside.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import typer

from ..commands import UsageError, interruptible, out_dir, progress_bar, run_command, select_device
from ..standard.command import interval_text
from ..tables import number, print_table
from ..validation import check, check_values
from .rungs import QUICK, RUNGS, select_rungs

QUICK_SETTINGS = dict(n_pairs="2,3", seeds=2, rungs=",".join(QUICK), lr=1.0, batch=1024, budget=2.5)
QUICK_SETTINGS["records"] = 20
"""What ``--quick`` sets (each option given beside it wins): N = 2, 3, two seeds, R0 and R1."""
ALL = ",".join(r.name for r in RUNGS)
DEFAULTS = dict(n_pairs="2,4,8", seeds=5, rungs=ALL, lr=4.0, batch=128, budget=3.0, records=40)


def ladder(
    n_pairs: str = typer.Option(None, "--n-pairs", help="Comma-separated N, the same for all rungs. [2,4,8]"),
    seeds: int = typer.Option(None, help="Seeds K per rung and N (trained together, vmapped). [5]"),
    rungs: str = typer.Option(None, help=f"Comma-separated rungs, of {ALL}. (default: all)"),
    width: int = typer.Option(None, help="Token width d of the network rungs and of R0's metric. [2 max N]"),
    lr: float = typer.Option(
        None, help="Plain GD's rate (R1–R3), the same at all N; t = step × lr. [4; 1 --quick]"
    ),
    batch: int = typer.Option(None, help="Fresh sequences per step, network rungs. [128; 1024 with --quick]"),
    standard_batch: int = typer.Option(32, "--standard-batch", help="Sequences per step, standard rungs."),
    standard_budget: int = typer.Option(
        300, "--standard-budget", help="Most steps of a standard rung per token of T."
    ),
    budget: float = typer.Option(None, help="Most steps per N: BUDGET × t*_R0(N) / lr. [3; 2.5 --quick]"),
    records: int = typer.Option(None, help="Evaluations per t*_R0(N) / lr steps. [40; 20 with --quick]"),
    precision: str = typer.Option("float64", help="The network rungs' dtype: float64 or float32."),
    quick: bool = typer.Option(False, "--quick", help="N = 2,3, K = 2, rungs R0,R1 (minutes)."),
    out: Path = typer.Option(Path("runs/ladder"), help="Output directory."),
    device: str = typer.Option("auto", help="auto or cpu."),
):
    """From the ODE to a standard transformer: emergence step against T, and the order, per rung."""
    given = dict(n_pairs=n_pairs, seeds=seeds, rungs=rungs, lr=lr, batch=batch, budget=budget)
    given["records"] = records
    base = QUICK_SETTINGS if quick else DEFAULTS
    options = {k: (base[k] if v is None else v) for k, v in given.items()}
    options.update(width=width, standard_batch=standard_batch, standard_budget=standard_budget)
    options.update(precision=precision)
    run_command(lambda: _ladder(options, out, device))


def _lengths(text: str) -> list[int]:
    """``--n-pairs`` as integers (each checked), or :class:`UsageError` in one line."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--n-pairs must be comma-separated integers >= 1, got {text!r}") from None
    if not values:
        raise UsageError(f"--n-pairs must be comma-separated integers >= 1, got {text!r}")
    for v in values:
        check("n_pairs", v, flag=True)
    return values


def _settings(o: dict) -> dict:
    """The library's arguments from the options, every value checked (one-line errors)."""
    numbers = ("seeds", "lr", "batch", "standard_batch", "standard_budget", "budget", "records", "width")
    check_values(flag=True, **{k: o[k] for k in numbers})
    lengths = _lengths(o["n_pairs"])
    if o["width"] is not None and o["width"] < 2 * max(lengths):
        raise UsageError(f"--width must be >= 2 max N = {2 * max(lengths)}, got {o['width']}")
    try:
        chosen = select_rungs(o["rungs"])
    except ValueError as err:
        raise UsageError(f"--rungs: {err}") from None
    if o["precision"] not in ("float64", "float32"):
        raise UsageError(f"--precision must be float64 or float32, got {o['precision']!r}")
    return dict(o, n_pairs=lengths, rungs=chosen)


def _ladder(options: dict, out: Path, device: str) -> None:
    select_device(device)
    settings = _settings(options)
    out = out_dir(out)
    from rich.console import Console

    from ..records import environment, write_json
    from .plots import ladder_figures
    from .run import ladder as run_ladder

    console = Console(stderr=True)
    start = time.perf_counter()
    with progress_bar(console) as progress:
        ode_bar = progress.add_task("R0: the ODE at every N (compiling first)", total=None)
        bars = {}

        def on_rung(name, n, most):
            progress.update(ode_bar, visible=False)
            for bar in bars.values():
                progress.update(bar, visible=False)
            bars[name, n] = progress.add_task(f"{name}, N = {n} (compiling first; stops at 2 s*)", total=most)
            return lambda step: progress.update(bars[name, n], completed=step)

        work = lambda: run_ladder(  # noqa: E731
            settings["n_pairs"], settings["seeds"], settings["rungs"], width=settings["width"],
            lr=settings["lr"], batch=settings["batch"], standard_batch=settings["standard_batch"],
            standard_budget=settings["standard_budget"], budget=settings["budget"],
            records=settings["records"], precision=settings["precision"], on_rung=on_rung,
        )  # fmt: skip
        record = interruptible(work, threading.Lock())
    record = dict(record, environment=environment(), wall_time=time.perf_counter() - start)
    write_json(out / "ladder.json", record)
    paths = ladder_figures(record, out)
    _print(record)
    console.print(f"wrote {out / 'ladder.json'}, " + ", ".join(p.name for p in paths))


def _print(record: dict) -> None:
    """The step table (rung × N) and the rung table (exponent, order, against the rung before)."""
    lengths = record["config"]["n_pairs"]
    rows = [
        [r["name"], *(interval_text(p["step"], ".4g") for p in r["points"])] for r in record["rungs"]
    ]
    columns = (("rung",), tuple(f"N={n}" for n in lengths))
    print_table("Emergence step (R0: gradient-flow time t*), mean [95% CI] over seeds", columns, rows)
    before = {c["rung"]: c for c in record["comparisons"]}
    rows = []
    for r in record["rungs"]:
        c = before.get(r["name"])
        rows.append(
            [
                r["name"],
                interval_text(r["exponent"]["seeds"], ".3f"),
                number(r["exponent"]["of_means"], 4),
                r["order"].replace("alpha3", "α3").replace("beta2", "β2").replace("gamma3", "γ3"),
                "—" if c is None else f"{c['before']}: Δp {interval_text(c['exponent_difference'], '.3f')}",
                "—" if c is None else ("same" if c["same_order"] else "differs"),
            ]
        )
    columns = (("rung",), ("exponent [95% CI]", "of means"), ("order",), ("against the rung before", "order"))
    print_table("Exponent of the step in T, and the order of α3, β2, γ3", columns, rows)
