"""The BDF solver's own work per step, and the price of taking N as data.

1. A stiff 19-dimensional linear problem ``dy/dt = A y + sin(t)`` (eigenvalues −1 … −10⁴ in a
   random orthogonal frame, exact constant Jacobian) from 0 to 300: the right-hand side costs
   next to nothing, so the run time is the solver's own work. This package's BDF against
   PyBaMM's ``jax_bdf_integrate`` (``bench`` extra) on the same problem.
2. One evaluation of the model's vector field with N as runtime data (as in this package's
   compiled programs, one per sweep) against N as a compile-time constant (as in PyBaMM's
   program in ``benchmarks/solvers.py``): 100 evaluations inside one ``fori_loop``.

    python benchmarks/step_overhead.py [--n-pairs 16,64]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from common import save

from induction_ode import Model
from induction_ode.bdf import bdf_solve


def timed(fn, *args) -> float:
    """Run time of a jitted call after its first (compiling) call, in seconds."""
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def linear_problem() -> dict:
    from pybamm.solvers.jax_bdf_solver import jax_bdf_integrate

    frame = jnp.asarray(np.linalg.qr(np.random.default_rng(0).normal(size=(19, 19)))[0])
    a = frame @ -jnp.diag(jnp.geomspace(1.0, 1e4, 19)) @ frame.T
    forcing = jnp.ones(19)
    y0 = jnp.ones(19)
    ours = jax.jit(
        lambda y0: bdf_solve(
            lambda t, y, _: a @ y + jnp.sin(t) * forcing,
            0.0,
            300.0,
            y0,
            None,
            rtol=1e-8,
            atol=1e-10,
            max_steps=8192,
            jac=lambda t, y, _: a,
        )
    )
    pybamm = jax.jit(
        lambda y0: jax_bdf_integrate(
            lambda y, t: a @ y + jnp.sin(t) * forcing, y0, jnp.array([0.0, 300.0]), rtol=1e-8, atol=1e-10
        )
    )
    ours_s = timed(ours, y0)
    steps = int(ours(y0).stats["num_steps"])
    return dict(
        bdf_s=ours_s, bdf_steps=steps, bdf_us_per_step=ours_s / steps * 1e6, pybamm_s=timed(pybamm, y0)
    )


def traced_against_static(n: int, repeats: int = 100) -> dict:
    model = Model()
    y = jnp.asarray(np.random.default_rng(0).normal(0, 0.5, 19))
    traced = jax.jit(
        lambda y, k: jax.lax.fori_loop(0, repeats, lambda i, z: z + 1e-9 * model.rhs(0.0, z, k, n), y)
    )
    static = jax.jit(
        lambda y: jax.lax.fori_loop(0, repeats, lambda i, z: z + 1e-9 * model.rhs(0.0, z, n, n), y)
    )
    t_traced = timed(traced, y, jnp.int32(n)) / repeats
    t_static = timed(static, y) / repeats
    return dict(n_pairs=n, traced_us=t_traced * 1e6, static_us=t_static * 1e6, ratio=t_traced / t_static)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", default="16,64")
    args = parser.parse_args()
    linear = linear_problem()
    print(linear, flush=True)
    rows = [traced_against_static(int(n)) for n in args.n_pairs.split(",")]
    for row in rows:
        print(row, flush=True)
    save("step_overhead", vars(args), dict(linear=linear, field_evaluation=rows))


if __name__ == "__main__":
    main()
