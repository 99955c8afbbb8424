"""The ``induction-ode`` command line: a thin layer over the library.

JAX is imported lazily, inside the commands, so that ``--help`` answers at once.
"""

from __future__ import annotations

import time

import typer

app = typer.Typer(
    add_completion=False, no_args_is_help=False, help="Watch an induction head form: a 19-parameter ODE."
)

DEFAULT_N = "2,4,8,16,32"
SHORT = {"alpha3": "α3", "beta2": "β2", "gamma3": "γ3"}


def _parse_lengths(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"--n-pairs must be comma-separated integers >= 1, got {text!r}") from None
    if not values or min(values) < 1:
        raise typer.BadParameter(f"--n-pairs must be comma-separated integers >= 1, got {text!r}")
    return values


@app.callback(invoke_without_command=True)
def main(ctx: typer.Context):
    """With no command, run the default sweep."""
    if ctx.invoked_subcommand is None:
        sweep(n_pairs=DEFAULT_N, rtol=1e-8)


@app.command()
def sweep(
    n_pairs: str = typer.Option(DEFAULT_N, "--n-pairs", help="Comma-separated N (T = 2N+1 tokens)."),
    rtol: float = typer.Option(1e-8, help="Relative tolerance of the adaptive solver."),
):
    """Emergence time t* (first L <= L(0)/2) and half-times of alpha3, beta2, gamma3 across N."""
    lengths = _parse_lengths(n_pairs)
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from .scaling import fit_power_law, local_exponents
    from .sweep import sweep as run_sweep

    console = Console()
    start = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("compiling, then one length at a time", total=len(lengths))
        result = run_sweep(
            lengths, rtol=rtol, atol=rtol * 1e-2, group_size=1, on_result=lambda e: progress.advance(task)
        )
    wall = time.perf_counter() - start
    table = Table(title="Emergence of the induction head (identity metric, gradient-flow time)")
    for col in ("N", "T", "t*", "t_half alpha3", "t_half beta2", "t_half gamma3", "order", "p_local"):
        table.add_column(col, justify="right")
    p_loc = [float("nan"), *local_exponents(result.seq_len, result.t_star)]
    for e, p in zip(result.results, p_loc):
        h = e.half_times
        table.add_row(
            str(e.n_pairs),
            str(2 * e.n_pairs + 1),
            f"{e.t_star:.6g}",
            f"{h['alpha3']:.5g}",
            f"{h['beta2']:.5g}",
            f"{h['gamma3']:.5g}",
            " < ".join(e.order),
            f"{p:.3f}",
        )
    console.print(table)
    if len(lengths) >= 3:
        fit = fit_power_law(result.seq_len, result.t_star, last=3)
        console.print(f"fit over the 3 largest T: t* ~ {fit.c:.3g} T^{fit.p:.3f} ± {fit.p_err:.3f}")
    console.print(
        f"wall time {wall:.1f} s ({result.compile_time:.1f} s compiling) on {', '.join(result.devices)}"
    )
