"""Cost of one loss-and-gradient evaluation against the sequence length T.

The fast closed form (:func:`induction_ode.population_loss`) against the direct explicit
network (:func:`induction_ode.population_loss_direct`, the test oracle). Each is jitted,
compiled once (compile time reported separately), then timed as the median of repeats with
``block_until_ready``. A form stops growing T once one evaluation exceeds ``--budget`` s.
For the fast form it also times the exact Jacobian of the vector field (``jax.jacfwd`` of the
gradient: the Hessian, one tangent per entry of θ the loss reads), which the stiff solver
needs, and reports its cost in gradients. ``--positions`` picks the code(s): both codes are
timed side by side, one length at a time, so that their ratio is measured under the same
machine load.

``--query uniform,last`` times each query. Under the paired code the fast form is the
structured one at every length (``StructuredModel``: :mod:`induction_ode.structured`; for the
uniform query under MSE :mod:`induction_ode.paired_mse`), and ``dense/paired`` times the dense
``O(T³)`` form beside it up to ``--dense-t-max``.

``--free alpha3,beta2,gamma3`` also times the loss the compiled programs use for that free set
(``induction_ode.reduced.program_model``: the reduced closed form, ``reduced/<code>``), at θ
zero off the free set, beside the general form (up to ``--fast-t-max``); the results go under
``rhs_cost_reduced_<codes>``. The sinusoidal code's reduced form holds no ``N×T`` array
(:mod:`induction_ode.summaries`), but its cost grows like ``T²``: ``--t-max 8193`` takes a
few minutes.

    python benchmarks/rhs_cost.py [--t-max 4097] [--direct-t-max 257] [--repeats 5] [--budget 5]
        [--positions paired,sinusoidal] [--free alpha3,beta2,gamma3 --fast-t-max 513]
        [--hessian-t-max 4097] [--query uniform,last] [--dense-t-max 513]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from common import loglog_slope, median_time, save

from induction_ode import DenseModel, Model, StructuredModel, population_loss, population_loss_direct
from induction_ode.reduced import ReducedModel, program_model


def program_loss(theta, n_pairs, *, model):
    """The loss of a compiled program's model (unpadded)."""
    return model.loss_of(theta, n_pairs, n_pairs)


def timed(fn, theta, repeats: int) -> tuple[float, float, list[float]]:
    """Compile time, median run time and all run times of a jitted ``fn(theta)``."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(theta).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(theta))  # warm-up
    med, times = median_time(lambda: jax.block_until_ready(compiled(theta)), repeats)
    return compile_s, med, times


def measure(loss_fn, n_pairs: int, repeats: int, hessian: bool, model: Model, free) -> dict:
    """Loss-and-gradient (and Hessian) times at θ ~ N(0, 0.25) on the free set, 0 elsewhere."""
    theta = jnp.asarray(np.random.default_rng(0).normal(0, 0.5, 19)) * free
    loss = lambda th: loss_fn(th, n_pairs, model=model)  # noqa: E731
    compile_s, med, times = timed(jax.value_and_grad(loss), theta, repeats)
    row = dict(n_pairs=n_pairs, seq_len=2 * n_pairs + 1, compile_s=compile_s, median_s=med, times_s=times)
    if hessian:  # as the solver's Jacobian: tangents along the entries the loss reads
        hess = jax.jacfwd(jax.grad(loss))
        if model.reads is not None:
            cols = jnp.asarray(model.reads)
            hess = lambda th: jax.jacfwd(lambda z: jax.grad(loss)(th.at[cols].set(z)))(th[cols])  # noqa: E731
        _, h_med, _ = timed(hess, theta, repeats)
        row.update(hessian_s=h_med, hessian_in_gradients=h_med / med)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t-max", type=int, default=4097, help="largest T = 2N + 1")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--budget", type=float, default=5.0, help="stop a form after an evaluation this slow (s)"
    )
    parser.add_argument(
        "--direct-t-max",
        type=int,
        default=257,
        help="largest T of the direct form (at T = 513, XLA constant-folds its inputs for minutes on CPU)",
    )
    parser.add_argument("--fit-last", type=int, default=3, help="fit the exponent over this many largest T")
    parser.add_argument("--positions", default="paired,sinusoidal", help="comma-separated codes to time")
    parser.add_argument(
        "--free", default=None, help="comma-separated free set: also time its compiled programs' loss"
    )
    parser.add_argument(
        "--fast-t-max", type=int, default=None, help="largest T of the general form (default --t-max)"
    )
    parser.add_argument(
        "--hessian-t-max", type=int, default=None, help="largest T at which to time the Hessian (default all)"
    )
    parser.add_argument("--query", default="uniform", help="comma-separated queries to time")
    parser.add_argument(
        "--dense-t-max", type=int, default=513, help="largest T of the paired code's dense form"
    )
    args = parser.parse_args()

    lengths = [n for n in (2**k for k in range(3, 17)) if 2 * n + 1 <= args.t_max]
    limits = dict(fast=args.fast_t_max or args.t_max, direct=args.direct_t_max, dense=args.dense_t_max)
    all_free = Model().free_vector()
    queries = args.query.split(",")
    forms = {}
    for code in args.positions.split(","):
        for query in queries:
            tag = "" if queries == ["uniform"] else f"/{query}"
            if code == "paired":  # each evaluator at every length (auto picks by N)
                forms[f"fast/{code}{tag}"] = (population_loss, StructuredModel(query=query), all_free)
                forms[f"dense/{code}{tag}"] = (population_loss, DenseModel(query=query), all_free)
            else:
                forms[f"fast/{code}{tag}"] = (population_loss, Model(positions=code, query=query), all_free)
            direct = Model(positions=code, query=query)
            forms[f"direct/{code}{tag}"] = (population_loss_direct, direct, all_free)
    for code in args.positions.split(",") if args.free else ():
        model = Model(positions=code, free=tuple(args.free.split(",")))
        static = program_model(model)
        name = "reduced" if isinstance(static, ReducedModel) else "program"
        forms[f"{name}/{code}"] = (program_loss, static, model.free_vector())
    table = {name: [] for name in forms}
    for n in lengths:  # both codes at one length before the next: their ratio shares the load
        for name, (fn, model, free) in forms.items():
            last = table[name][-1] if table[name] else None
            kind = name.split("/")[0]
            if 2 * n + 1 > limits.get(kind, args.t_max) or (last and last["median_s"] > args.budget):
                continue
            try:
                hessian = kind != "direct" and 2 * n + 1 <= (args.hessian_t_max or args.t_max)
                row = measure(fn, n, args.repeats, hessian, model, free)
            except (MemoryError, RuntimeError) as err:  # XLA reports out-of-memory as RuntimeError
                print(f"{name} N={n}: stopped ({type(err).__name__}: {str(err)[:120]})")
                continue
            table[name].append(row)
            ms, comp = row["median_s"] * 1e3, row["compile_s"]
            hess = f"  Hessian {row['hessian_in_gradients']:.1f} gradients" if "hessian_s" in row else ""
            print(f"{name:24s} T={row['seq_len']:6d}  {ms:10.3f} ms  (compile {comp:.1f} s){hess}")
    results = {}
    for name, rows in table.items():
        k = min(args.fit_last, len(rows))
        tail = rows[-k:]
        exponent = (
            loglog_slope([r["seq_len"] for r in tail], [r["median_s"] for r in tail]) if k >= 2 else None
        )
        local = [
            loglog_slope([a["seq_len"], b["seq_len"]], [a["median_s"], b["median_s"]])
            for a, b in zip(rows, rows[1:])
        ]
        results[name] = dict(
            rows=rows, exponent=exponent, fit_seq_len=[r["seq_len"] for r in tail], local_exponents=local
        )
        print(f"{name}: exponent over T = {[r['seq_len'] for r in tail]}: {exponent}")
    name = f"rhs_cost_reduced_{args.positions.replace(',', '_')}" if args.free else "rhs_cost"
    save(name, vars(args), results)


if __name__ == "__main__":
    main()
