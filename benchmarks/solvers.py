"""Explicit against implicit: steps and wall time of tsit5 and kvaerno5 to reach 2 t_star.

For each N, t_star comes from :func:`induction_ode.emergence_time`; then each solver
integrates [0, 2 t_star] once to compile and once more to time it (same settings as the
library: rtol 1e-8, atol 1e-10; I controller for tsit5, PI 0.3/0.3 for kvaerno5).

    python benchmarks/solvers.py [--n-pairs 16,64]
"""

from __future__ import annotations

import argparse
import time

import diffrax
import jax
import jax.numpy as jnp
from common import save

from induction_ode import emergence_time
from induction_ode.ode import SOLVERS, Dynamics, _solve


def integrator(dyn: Dynamics, n: int, t_end: float, rtol: float):
    """A jitted ``theta0 -> (theta(t_end), steps, rejected steps)``."""

    @jax.jit
    def run(theta0):
        sol = _solve(dyn, n, theta0, n, 0.0, t_end, rtol, rtol / 100, 200_000, diffrax.SaveAt(t1=True))
        return sol.ys[-1], sol.stats["num_steps"], sol.stats["num_rejected_steps"]

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", default="16,64")
    parser.add_argument("--rtol", type=float, default=1e-8)
    args = parser.parse_args()
    rows = []
    for n in [int(v) for v in args.n_pairs.split(",")]:
        t_end = 2 * emergence_time(n).t_star
        for solver in SOLVERS:
            run = integrator(Dynamics(solver=solver), n, t_end, args.rtol)
            theta0 = jnp.zeros(19)
            start = time.perf_counter()
            jax.block_until_ready(run(theta0))
            first = time.perf_counter() - start
            start = time.perf_counter()
            y, steps, rejected = jax.block_until_ready(run(theta0))
            wall = time.perf_counter() - start
            row = dict(
                n_pairs=n,
                solver=solver,
                t_end=t_end,
                steps=int(steps),
                rejected=int(rejected),
                run_s=wall,
                compile_s=first - wall,
                ms_per_step=1e3 * wall / int(steps),
                alpha3_end=float(y[2]),
            )
            rows.append(row)
            print(
                f"N={n:4d} {solver:8s} steps {row['steps']:6d} ({row['rejected']} rejected)  run {wall:.2f} s"
            )
    save("solvers", vars(args), dict(rows=rows))


if __name__ == "__main__":
    main()
