"""Stiff solvers side by side: steps, gradient and Jacobian evaluations and wall time to 2 t*.

For each N, ``t_end = 2 t*`` comes from :func:`induction_ode.emergence_time` (default solver);
then every solver integrates the gradient flow of the model (identity metric; the default
model, or ``--layer1-mask``/``--positions`` for another) from θ = 0 to ``t_end`` on the same
jitted JAX functions, in one process. Where the model forms no head before ``20 T²``,
``t_end`` is that horizon, the one a sweep integrates to. ``--record`` takes t* from a sweep
record of the same model instead of computing it first.

- ``emergence_time``: the public path, the whole user call ``emergence_time(N)`` (the event
  ``L ≤ ½ L(0)``, the continuation to ``2 t*``, the half-times and paper times on the dense
  output, the label readings, the conversion to Python), with the default solver;
- ``bdf``, ``tsit5``, ``kvaerno5``: this package's solvers (:data:`induction_ode.ode.SOLVERS`)
  bare, ``integrate_to`` from 0 to ``t_end``, one compiled program each;
- ``scipy-bdf``: SciPy's ``solve_ivp(method="BDF")``, what a user would otherwise pick, driven
  by the jitted ``−∇L`` and its jitted exact Jacobian (forward over reverse), counted by wrappers;
- ``pybamm-bdf``: PyBaMM's ``jax_bdf_integrate`` (a ``lax.while_loop`` port of SciPy's BDF,
  Jacobian by ``jax.jacfwd``), the JAX baseline; it reports no counts.

Every solver is called once to compile (compile time reported apart: that call minus the
median run), then the solvers run in turn ``--repeats`` times, alternating, so that a load on
the machine falls on all of them alike; ``run_s`` is the median wall time and ``cpu_s`` the
median CPU time of the process (all threads). SciPy and PyBaMM are the ``bench`` extra
(``pip install -e '.[bench]'``). Slow solvers are skipped above a per-solver N (``--max-n``)
so that one run stays within tens of minutes on a 2-core CPU. Benchmarks measure; they
assert nothing about speed.

    python benchmarks/solvers.py [--n-pairs 16,64,128,256] [--repeats 3]
        [--solvers emergence_time,bdf,tsit5,kvaerno5,scipy-bdf,pybamm-bdf]
        [--layer1-mask strict|inclusive] [--positions paired|sinusoidal] [--record runs/x/results.json]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from common import save

from induction_ode import Model, emergence_time
from induction_ode.ode import integrate_to
from induction_ode.records import model_of, read_json

ALL = ("emergence_time", "bdf", "tsit5", "kvaerno5", "scipy-bdf", "pybamm-bdf")
MAX_N = {"tsit5": 64, "kvaerno5": 64, "pybamm-bdf": 128}
"""Default largest N per solver: tsit5 needs ~0.6 T² steps (about 40,000 at N = 128) and
kvaerno5 took 1,120 s at N = 128 on this CPU; PyBaMM's BDF 90 s at N = 128."""


def counted(stats: dict) -> dict:
    """``num_steps``, ``num_fev``, ``num_jev`` as ints, ``None`` where not counted (``-1``)."""
    return {k: (None if v is None or int(v) < 0 else int(v)) for k, v in stats.items()}


def public(model: Model, n: int, t_end: float, rtol: float):
    """The public path: a call of ``emergence_time(n)`` returning ``(θ at 2 t*, counts)``."""

    def run():
        e = emergence_time(n, model=model, rtol=rtol, atol=rtol / 100)
        stats = dict(num_steps=e.steps, num_fev=e.gradient_evals, num_jev=e.jacobian_evals)
        return e.theta_end, counted(stats)

    return run


def ours(model: Model, solver: str, n: int, t_end: float, rtol: float):
    """The bare solver: a call of the jitted ``integrate_to`` from 0 to ``t_end``."""
    program = jax.jit(lambda y0: integrate_to(model, solver, n, y0, t_end, rtol, rtol / 100))

    def run():
        y, stats = jax.block_until_ready(program(jnp.zeros(19)))
        return np.asarray(y), counted(stats)

    return run


def jax_functions(model: Model, n: int):
    """The jitted ``−∇L`` and its exact Jacobian (forward over reverse), for SciPy."""
    rhs = jax.jit(lambda y: model.rhs(0.0, y, n, n))
    jac = jax.jit(jax.jacfwd(lambda y: model.rhs(0.0, y, n, n)))
    return rhs, jac


def scipy_bdf(model: Model, n: int, t_end: float, rtol: float):
    """SciPy's BDF on the jitted ``−∇L`` and exact Jacobian, counted by wrappers."""
    from scipy.integrate import solve_ivp

    rhs, jac = jax_functions(model, n)

    def run():
        counts = dict(fev=0, jev=0)

        def f(t, y):
            counts["fev"] += 1
            return np.asarray(rhs(jnp.asarray(y)))

        def j(t, y):
            counts["jev"] += 1
            return np.asarray(jac(jnp.asarray(y)))

        sol = solve_ivp(f, (0.0, t_end), np.zeros(19), method="BDF", jac=j, rtol=rtol, atol=rtol / 100)
        return sol.y[:, -1], dict(num_steps=int(sol.t.size - 1), num_fev=counts["fev"], num_jev=counts["jev"])

    return run


def pybamm_bdf(model: Model, n: int, t_end: float, rtol: float):
    """PyBaMM's ``jax_bdf_integrate`` from 0 to ``t_end`` (no counts)."""
    from pybamm.solvers.jax_bdf_solver import jax_bdf_integrate

    program = jax.jit(
        lambda y0: jax_bdf_integrate(
            lambda y, t: model.rhs(t, y, n, n), y0, jnp.array([0.0, t_end]), rtol=rtol, atol=rtol / 100
        )
    )

    def run():
        return np.asarray(jax.block_until_ready(program(jnp.zeros(19))))[-1], {}

    return run


RUNNERS = {"emergence_time": public, "scipy-bdf": scipy_bdf, "pybamm-bdf": pybamm_bdf}


def timed(run) -> tuple[float, float, tuple]:
    """Wall and process CPU seconds of ``run()``, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = run()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def compare(model: Model, solvers: list[str], n: int, t_end: float, rtol: float, repeats: int) -> list[dict]:
    """Compile every solver, then time them in turn ``repeats`` times; one row per solver."""
    runs, first, results = {}, {}, {}
    for solver in solvers:
        make = RUNNERS.get(solver)
        runs[solver] = make(model, n, t_end, rtol) if make else ours(model, solver, n, t_end, rtol)
        first[solver], _, results[solver] = timed(runs[solver])
    walls = {s: [] for s in solvers}
    cpus = {s: [] for s in solvers}
    for _ in range(repeats):
        for solver in solvers:
            wall, cpu, _ = timed(runs[solver])
            walls[solver].append(wall)
            cpus[solver].append(cpu)
    rows = []
    for solver in solvers:
        y_end, counts = results[solver]
        run_s = statistics.median(walls[solver])
        rows.append(
            dict(
                solver=solver,
                run_s=run_s,
                cpu_s=statistics.median(cpus[solver]),
                runs_s=walls[solver],
                compile_s=first[solver] - run_s,
                y_end=np.asarray(y_end),
                **counts,
            )
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", default="16,64,128,256")
    parser.add_argument("--solvers", default=",".join(ALL))
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each solver, alternating")
    parser.add_argument("--layer1-mask", default="strict", help="strict (default model) or inclusive")
    parser.add_argument("--positions", default="paired", help="paired (default model) or sinusoidal")
    parser.add_argument("--record", default=None, help="a sweep record of the same model to take t* from")
    parser.add_argument(
        "--max-n",
        default=",".join(f"{k}={v}" for k, v in MAX_N.items()),
        help="per-solver largest N, e.g. tsit5=64,kvaerno5=64",
    )
    args = parser.parse_args()
    max_n = {k: int(v) for k, v in (p.split("=") for p in args.max_n.split(",") if p)}
    model = Model(layer1_mask=args.layer1_mask, positions=args.positions)
    known = {}
    if args.record:
        record = read_json(args.record)
        if model_of(record["config"]).replace(free=None) != model:
            raise SystemExit(f"{args.record} is a sweep of another model")
        known = {r["n_pairs"]: r for r in record["lengths"]}
    rows, ratios = [], {}
    for n in [int(v) for v in args.n_pairs.split(",")]:
        if n in known:
            emerged, t_star, t_max = known[n]["emerged"], known[n]["t_star"], known[n]["t_max"]
        else:
            first = emergence_time(n, model=model)
            emerged, t_star, t_max = first.emerged, first.t_star, first.t_max
        t_end = 2 * t_star if emerged else t_max
        solvers = [s for s in args.solvers.split(",") if n <= max_n.get(s, n)]
        for s in sorted(set(args.solvers.split(",")) - set(solvers)):
            print(f"N={n:4d} {s:14s} skipped (N > {max_n[s]})")
        here = compare(model, solvers, n, t_end, args.rtol, args.repeats)
        reference = here[0]["y_end"]
        for row in here:
            y_end = row.pop("y_end")
            row.update(
                n_pairs=n,
                t_end=t_end,
                emerged=emerged,
                layer1_mask=args.layer1_mask,
                positions=args.positions,
                alpha3_end=float(y_end[2]),
                max_rel_diff_to_first=float(np.max(np.abs(y_end - reference)) / np.max(np.abs(reference))),
            )
            counts = "  ".join(f"{k} {row[k]}" for k in ("num_steps", "num_fev", "num_jev") if row.get(k))
            print(
                f"N={n:4d} {row['solver']:14s} run {row['run_s']:8.2f} s (cpu {row['cpu_s']:7.2f} s)  "
                f"compile {row['compile_s']:6.1f} s  {counts}"
            )
        rows += here
        # Ratios to the first solver: medians over the repeats of the paired ratios.
        base = here[0]
        ratios[n] = {
            r["solver"]: statistics.median(a / b for a, b in zip(r["runs_s"], base["runs_s"]))
            for r in here[1:]
        }
        text = ", ".join(f"{s} ×{v:.2f}" for s, v in ratios[n].items())
        print(f"N={n:4d} run time relative to {base['solver']} (median of paired ratios): {text}")
    key = "solvers_N" + args.n_pairs.replace(",", "_")
    key += "" if args.layer1_mask == "strict" else "_" + args.layer1_mask
    key += "" if args.positions == "paired" else "_" + args.positions
    save(key, vars(args), dict(rows=rows, ratios_to_first=ratios))


if __name__ == "__main__":
    main()
