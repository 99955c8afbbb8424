"""Stiff solvers side by side: steps, gradient and Jacobian evaluations and wall time to 2 t*.

For each N, ``t_end = 2 t*`` comes from :func:`induction_ode.emergence_time` (default solver);
then every solver integrates the gradient flow of the model (identity metric; the strict mask by
default, ``--layer1-mask inclusive`` for the other) from θ = 0 to ``t_end`` on the same jitted
JAX functions, in one process. Where the model forms no head before ``20 T²`` (the strict mask
at N ≥ 160), ``t_end`` is that horizon, the one a sweep integrates to. ``--record`` takes t*
from a sweep record of the same model instead of computing it first.

- ``bdf``, ``tsit5``, ``kvaerno5``: this package's solvers (:data:`induction_ode.ode.SOLVERS`),
  one compiled program each (compile time reported apart: the first call minus the second);
- ``scipy-bdf``: SciPy's ``solve_ivp(method="BDF")``, what a user would otherwise pick, driven
  by the jitted ``−∇L`` and its jitted exact Jacobian (forward over reverse), counted by wrappers;
- ``pybamm-bdf``: PyBaMM's ``jax_bdf_integrate`` (a ``lax.while_loop`` port of SciPy's BDF,
  Jacobian by ``jax.jacfwd``), the JAX baseline; it reports no counts.

SciPy and PyBaMM are the ``bench`` extra (``pip install -e '.[bench]'``). Slow solvers are
skipped above a per-solver N (``--max-n``) so that one run stays within tens of minutes on a
2-core CPU. Benchmarks measure; they assert nothing about speed.

    python benchmarks/solvers.py [--n-pairs 16,64,128,256] [--solvers bdf,tsit5,kvaerno5,scipy-bdf,pybamm-bdf]
                                 [--layer1-mask strict|inclusive] [--record runs/x/results.json]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from common import save

from induction_ode import Model, emergence_time
from induction_ode.ode import integrate_to
from induction_ode.records import model_of, read_json

ALL = ("bdf", "tsit5", "kvaerno5", "scipy-bdf", "pybamm-bdf")
MAX_N = {"tsit5": 64, "kvaerno5": 64, "pybamm-bdf": 128}
"""Default largest N per solver: tsit5 needs ~0.6 T² steps (about 40,000 at N = 128) and
kvaerno5 took 1,120 s at N = 128 on this CPU; PyBaMM's BDF 90 s at N = 128."""


def ours(model: Model, solver: str, n: int, t_end: float, rtol: float) -> dict:
    run = jax.jit(lambda y0: integrate_to(model, solver, n, y0, t_end, rtol, rtol / 100))
    theta0 = jnp.zeros(19)
    start = time.perf_counter()
    jax.block_until_ready(run(theta0))
    first = time.perf_counter() - start
    start = time.perf_counter()
    y, stats = jax.block_until_ready(run(theta0))
    wall = time.perf_counter() - start
    return dict(
        run_s=wall,
        compile_s=first - wall,
        y_end=np.asarray(y),
        **{k: (None if int(v) < 0 else int(v)) for k, v in stats.items()},
    )


def jax_functions(model: Model, n: int):
    rhs = jax.jit(lambda y: model.rhs(0.0, y, n, n))
    jac = jax.jit(jax.jacfwd(lambda y: model.rhs(0.0, y, n, n)))
    y0 = jnp.zeros(19)
    start = time.perf_counter()
    jax.block_until_ready((rhs(y0), jac(y0)))
    return rhs, jac, time.perf_counter() - start


def scipy_bdf(model: Model, n: int, t_end: float, rtol: float) -> dict:
    from scipy.integrate import solve_ivp

    rhs, jac, compile_s = jax_functions(model, n)
    counts = dict(fev=0, jev=0)

    def f(t, y):
        counts["fev"] += 1
        return np.asarray(rhs(jnp.asarray(y)))

    def j(t, y):
        counts["jev"] += 1
        return np.asarray(jac(jnp.asarray(y)))

    start = time.perf_counter()
    sol = solve_ivp(f, (0.0, t_end), np.zeros(19), method="BDF", jac=j, rtol=rtol, atol=rtol / 100)
    wall = time.perf_counter() - start
    return dict(
        run_s=wall,
        compile_s=compile_s,
        y_end=sol.y[:, -1],
        num_steps=int(sol.t.size - 1),
        num_fev=counts["fev"],
        num_jev=counts["jev"],
        num_lu=int(sol.nlu),
    )


def pybamm_bdf(model: Model, n: int, t_end: float, rtol: float) -> dict:
    from pybamm.solvers.jax_bdf_solver import jax_bdf_integrate

    run = jax.jit(
        lambda y0: jax_bdf_integrate(
            lambda y, t: model.rhs(t, y, n, n), y0, jnp.array([0.0, t_end]), rtol=rtol, atol=rtol / 100
        )
    )
    theta0 = jnp.zeros(19)
    start = time.perf_counter()
    jax.block_until_ready(run(theta0))
    first = time.perf_counter() - start
    start = time.perf_counter()
    y = jax.block_until_ready(run(theta0))
    wall = time.perf_counter() - start
    return dict(run_s=wall, compile_s=first - wall, y_end=np.asarray(y)[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", default="16,64,128,256")
    parser.add_argument("--solvers", default=",".join(ALL))
    parser.add_argument("--rtol", type=float, default=1e-8)
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
    rows = []
    for n in [int(v) for v in args.n_pairs.split(",")]:
        if n in known:
            emerged, t_star, t_max = known[n]["emerged"], known[n]["t_star"], known[n]["t_max"]
        else:
            first = emergence_time(n, model=model)
            emerged, t_star, t_max = first.emerged, first.t_star, first.t_max
        t_end = 2 * t_star if emerged else t_max
        reference = None
        for solver in args.solvers.split(","):
            if n > max_n.get(solver, n):
                print(f"N={n:4d} {solver:10s} skipped (N > {max_n[solver]})")
                continue
            if solver == "scipy-bdf":
                row = scipy_bdf(model, n, t_end, args.rtol)
            elif solver == "pybamm-bdf":
                row = pybamm_bdf(model, n, t_end, args.rtol)
            else:
                row = ours(model, solver, n, t_end, args.rtol)
            y_end = row.pop("y_end")
            reference = y_end if reference is None else reference
            row.update(
                n_pairs=n,
                solver=solver,
                t_end=t_end,
                emerged=emerged,
                layer1_mask=args.layer1_mask,
                positions=args.positions,
                alpha3_end=float(y_end[2]),
                max_rel_diff_to_first=float(np.max(np.abs(y_end - reference)) / np.max(np.abs(reference))),
            )
            rows.append(row)
            counts = "  ".join(f"{k} {row[k]}" for k in ("num_steps", "num_fev", "num_jev") if row.get(k))
            run, comp = row["run_s"], row["compile_s"]
            print(f"N={n:4d} {solver:10s} run {run:8.2f} s  compile {comp:6.1f} s  {counts}")
        by = {r["solver"]: r["run_s"] for r in rows if r["n_pairs"] == n}
        if "bdf" in by:
            ratios = ", ".join(f"{s} ×{t / by['bdf']:.2f}" for s, t in by.items() if s != "bdf")
            print(f"N={n:4d} run time relative to bdf: {ratios}")
    key = "solvers_N" + args.n_pairs.replace(",", "_")
    key += "" if args.layer1_mask == "strict" else "_" + args.layer1_mask
    key += "" if args.positions == "paired" else "_" + args.positions
    save(key, vars(args), dict(rows=rows))


if __name__ == "__main__":
    main()
