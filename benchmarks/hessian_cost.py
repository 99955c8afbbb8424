"""Cost of the solver's Hessian of the structured closed form, in gradients, old against new.

The BDF solver's Jacobian is ``−diag(m) ∇²L``. The old Hessian is JAX's forward-over-reverse
with 19 tangents through the loss the solver descended before the split: the sums of
:mod:`induction_ode.paired_mse` for the uniform query, the last pair's forward pass
(:func:`induction_ode.structured.paired_forward`) for the last query. The new one is
:meth:`induction_ode.Model.loss_hessian`: the entries the sums read only after their ``O(T)``
arrays held apart (:func:`induction_ode.forms.split_hessian`): forward-over-reverse with a
tangent for each of the other entries (9 under the uniform query, strict mask: all but
γ1–γ4, β1, β5–β8, α2; 4 under the last: α1, α3, β10, β12, with the last query's totals,
:func:`induction_ode.paired_mse.paired_last_mse`), the late block's Hessian, and the rest by
symmetry.

Each is jitted and timed (median of ``--repeats``, compilation apart) in one process, one
length at a time, so that the ratios share the machine's load: the gradient of the loss the
solver descends now and of the old one (float64; they differ under the last query), and each
Hessian in float64 and in float32 (the solver's precision for a float64 run,
:data:`induction_ode.ode.JACOBIAN_DTYPE`), in gradients of the loss descended now. Strict
mask, θ ~ N(0, 0.25) in all 19 entries.

    python benchmarks/hessian_cost.py [--n-pairs 1024,8192,65536] [--query uniform,last]
        [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from common import median_time, save

from induction_ode import StructuredModel
from induction_ode.loss import pair_losses
from induction_ode.structured import paired_forward

OPTIONS = dict(layer1_mask="strict")


def timed(fn, theta, repeats: int) -> tuple[float, float]:
    """Compile seconds and median run seconds of ``jax.jit(fn)(theta)``."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(theta).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(theta))
    med, _ = median_time(lambda: jax.block_until_ready(compiled(theta)), repeats)
    return compile_s, med


def last_pair_forward(theta, n_pairs):
    """The last query's MSE by the last pair's forward pass (the solver's loss before the split)."""
    fwd = paired_forward(theta, n_pairs, n_pairs, layer1_mask=OPTIONS["layer1_mask"], pairs="last")
    return pair_losses(fwd, n_pairs)[0]


def measure(n_pairs: int, query: str, repeats: int) -> dict:
    """One row: the gradient, and the old and new Hessians in float64 and float32, in
    gradients (float64)."""
    theta = jnp.asarray(np.random.default_rng(0).normal(0, 0.5, 19))
    model = StructuredModel(query=query, **OPTIONS)
    loss = lambda th: model.loss_of(th, n_pairs, n_pairs)  # noqa: E731
    old_loss = loss if query == "uniform" else lambda th: last_pair_forward(th, n_pairs)
    row = dict(n_pairs=n_pairs, seq_len=2 * n_pairs + 1, query=query, late=list(model.late_entries(n_pairs)))
    _, row["gradient_s"] = timed(jax.grad(loss), theta, repeats)
    _, row["old_gradient_s"] = timed(jax.grad(old_loss), theta, repeats)
    hessians = dict(
        old=jax.jacfwd(jax.grad(old_loss)), new=lambda th: model.loss_hessian(0.0, th, n_pairs, n_pairs)
    )
    for name, fn in hessians.items():
        for dtype in ("float64", "float32"):
            compile_s, hess_s = timed(fn, theta.astype(dtype), repeats)
            row[f"{name}_hessian_{dtype}_s"] = hess_s
            row[f"{name}_hessian_{dtype}_compile_s"] = compile_s
            row[f"{name}_hessian_{dtype}_in_gradients"] = hess_s / row["gradient_s"]
    row["load_average"] = os.getloadavg()[0]
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", default="1024,8192,65536", help="comma-separated N")
    parser.add_argument("--query", default="uniform,last", help="comma-separated queries")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for n in (int(x) for x in args.n_pairs.split(",")):
        for query in args.query.split(","):
            row = measure(n, query, args.repeats)
            rows.append(row)
            cells = "  ".join(
                f"{name} {row[f'{name}_hessian_float64_in_gradients']:.1f} (f64) "
                f"{row[f'{name}_hessian_float32_in_gradients']:.1f} (f32)"
                for name in ("old", "new")
            )
            grads = f"gradient {row['gradient_s'] * 1e3:.2f} ms (old {row['old_gradient_s'] * 1e3:.2f} ms)"
            cells = f"{grads}; Hessian in gradients: {cells}"
            print(f"N={n:6d} {query:7s} {cells}  load {row['load_average']:.2f}", flush=True)
            save("hessian_cost", vars(args), dict(rows=rows))  # after each row: long runs


if __name__ == "__main__":
    main()
