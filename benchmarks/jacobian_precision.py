"""The exact Jacobian in float32 (the default for float64 runs) against float64.

The stiff solver's Newton matrix needs the Jacobian only approximately (it sets the Newton
convergence rate, not the solution), so a float64 run evaluates its Hessian in float32
(:data:`induction_ode.ode.JACOBIAN_DTYPE`). For each N this times the exact Hessian
(``jax.jacfwd`` of the gradient) in both precisions, reports their relative difference, then
runs :func:`induction_ode.ode.integrate_to` with the BDF solver from θ = 0 to ``t_end`` twice,
once with each Jacobian precision (``JACOBIAN_DTYPE`` patched for the float64 run), and reports
steps, evaluations, run time after compilation and the end states' difference.

    python benchmarks/jacobian_precision.py --n-pairs 64 --t-end 16661.98
    python benchmarks/jacobian_precision.py --n-pairs 128 --t-end 102538.65 --layer1-mask inclusive
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from common import median_time, save

import induction_ode.ode as ode
from induction_ode import Model


def measure(model: Model, n: int, t_end: float) -> dict:
    jacobian = jax.jit(jax.jacfwd(lambda th: model.rhs(0.0, th, n, n)))  # (19, 19)
    theta = jnp.asarray(np.random.default_rng(0).normal(0, 0.5, 19))
    row = dict(n_pairs=n, t_end=t_end)
    jacobians = {}
    for name, dtype in (("float64", jnp.float64), ("float32", jnp.float32)):
        x = theta.astype(dtype)
        jacobians[name] = np.asarray(jax.block_until_ready(jacobian(x)), np.float64)
        row[f"jacobian_{name}_s"], _ = median_time(lambda x=x: jax.block_until_ready(jacobian(x)), 3)
    ref = jacobians["float64"]
    row["jacobian_rel_diff"] = float(np.max(np.abs(jacobians["float32"] - ref)) / np.max(np.abs(ref)))
    default, ends = ode.JACOBIAN_DTYPE, {}
    for name, table in (("float64", {}), ("float32", default)):
        ode.JACOBIAN_DTYPE = table
        try:
            run = jax.jit(lambda y0: ode.integrate_to(model, "bdf", n, y0, t_end, 1e-8, 1e-10))
            jax.block_until_ready(run(jnp.zeros(19)))
            start = time.perf_counter()
            y, stats = jax.block_until_ready(run(jnp.zeros(19)))
            row[f"run_{name}_s"] = time.perf_counter() - start
        finally:
            ode.JACOBIAN_DTYPE = default
        row[f"counts_{name}"] = {k: int(v) for k, v in stats.items()}
        ends[name] = np.asarray(y)
    row["end_state_max_abs_diff"] = float(np.max(np.abs(ends["float32"] - ends["float64"])))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", default="64")
    parser.add_argument("--t-end", default="16661.98", help="comma-separated, one per N (e.g. 2t*)")
    parser.add_argument("--layer1-mask", default="strict")
    args = parser.parse_args()
    model = Model(layer1_mask=args.layer1_mask)
    rows = []
    for n, t_end in zip([int(v) for v in args.n_pairs.split(",")], [float(v) for v in args.t_end.split(",")]):
        rows.append(measure(model, n, t_end))
        print(rows[-1], flush=True)
    save("jacobian_precision_" + args.layer1_mask, vars(args), dict(rows=rows))


if __name__ == "__main__":
    main()
