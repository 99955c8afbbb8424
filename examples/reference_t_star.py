"""Regenerate the t* references of ``tests/references.py`` without the closed form.

    python examples/reference_t_star.py [--max-n N]

Each value is the first time the population loss falls to half its initial value, L(0)/2 = ¼,
along the gradient flow dθ/dt = −∇L from θ = 0 (identity metric; with only α3, β2, γ3 free, the
other components of the gradient are zeroed). ``L`` is the explicit network of
``induction_ode.transformer`` on the canonical sequences (:func:`induction_ode.population_loss_direct`:
one-hot tokens, explicit T×T attention), never the closed form of ``loss.py``/``summaries.py``;
its gradient and Hessian are JAX's derivatives of that network. The integrator is SciPy's BDF
(``solve_ivp``, rtol 1e-8, atol 1e-10) with a terminal event at L = ¼, located by SciPy's root
finder on its dense output, and the exact Jacobian. So neither the package's solvers nor its
loss formula enter.

Prints each table's values to the 4 decimals stored, and whether they equal the stored ones
(exit status 1 if any differs). Every value equals the stored one; the whole run took about
9 minutes on 2 CPU cores shared with other jobs, 4-6 s per length at N ≤ 4 and about a minute
at N = 16 (the explicit network is O(T⁴)); ``--max-n 4`` runs the small lengths alone.
"""

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.integrate import solve_ivp

import induction_ode as io

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import references  # noqa: E402

TABLES = {  # name: (model options, free)
    "PAIRED_19": (dict(positions="paired"), None),
    "PAIRED_3": (dict(positions="paired"), io.KEY_PARAMS),
    "STRICT_19": (dict(positions="sinusoidal"), None),
    "STRICT_3": (dict(positions="sinusoidal"), io.KEY_PARAMS),
    "INCLUSIVE_19": (dict(positions="sinusoidal", layer1_mask="inclusive"), None),
}


def emergence_time(n_pairs: int, model: io.Model, free, rtol=1e-8, atol=1e-10):
    """t* of the explicit network by SciPy's BDF; also the steps and the wall time."""
    moving = np.ones(19) if free is None else np.isin(io.PARAM_NAMES, free).astype(float)

    def loss(theta):
        return io.population_loss_direct(theta, n_pairs, model=model)

    grad = jax.jit(jax.grad(loss))
    hessian = jax.jit(jax.hessian(loss))
    value = jax.jit(loss)
    half = 0.5 * float(value(jnp.zeros(19)))

    def field(t, theta):
        return -moving * np.asarray(grad(jnp.asarray(theta)))

    def jacobian(t, theta):
        return -moving[:, None] * np.asarray(hessian(jnp.asarray(theta))) * moving[None, :]

    def event(t, theta):
        return float(value(jnp.asarray(theta))) - half

    event.terminal = True
    start = time.perf_counter()
    sol = solve_ivp(
        field, (0.0, 1e5), np.zeros(19), method="BDF", jac=jacobian, rtol=rtol, atol=atol, events=event
    )
    if not sol.t_events[0].size:
        raise RuntimeError(f"no emergence at N = {n_pairs} ({sol.message})")
    return float(sol.t_events[0][0]), sol.t.size - 1, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=None, help="skip lengths above this N")
    parser.add_argument("--tables", default=",".join(TABLES), help="which tables (comma-separated)")
    args = parser.parse_args()
    mismatches = 0
    for name in args.tables.split(","):
        options, free = TABLES[name]
        stored = getattr(references, name)
        model = io.Model(**options)
        for n_pairs, ref in stored.items():
            if args.max_n is not None and n_pairs > args.max_n:
                print(f"{name:13s} N = {n_pairs:2d}: skipped (--max-n {args.max_n})")
                continue
            t_star, steps, wall = emergence_time(n_pairs, model, free)
            same = round(t_star, 4) == ref
            mismatches += not same
            print(
                f"{name:13s} N = {n_pairs:2d}: t* = {t_star:.6f} -> {t_star:.4f}, stored {ref:.4f} "
                f"{'equal' if same else 'DIFFERENT'} ({steps} steps, {wall:.1f} s)",
                flush=True,
            )
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
