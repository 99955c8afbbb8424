"""The 3-parameter flow at scale: wall time and solver work of emergence (to 2 t*).

For each N, the emergence program of ``Model(free=KEY_PARAMS, positions=...)`` (default solver,
rtol 1e-8, from θ = 0) is compiled, then run, and both times are reported with t*, the steps
and the gradient and Jacobian evaluations. ``reduced`` is the program the package builds for
this model (the reduced closed form, :mod:`induction_ode.reduced`); ``general`` is the general
closed form with the same free set (the program used before the reduced form existed), run at
the lengths ``--baseline-n``. Results go under ``reduced_scale_<positions>[_<tag>]``.

    python benchmarks/reduced_scale.py [--n-pairs 1024,4096,8192] [--positions paired]
        [--baseline-n 64,128] [--tag NAME]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from common import save
from jax.sharding import Mesh

from induction_ode import KEY_PARAMS, Model
from induction_ode.ode import (
    compiled_emergence,
    default_max_steps,
    default_t_max,
    resolve_solver,
    to_emergence,
)
from induction_ode.reduced import program_model
from induction_ode.sweeps import call_inputs


def run(static: Model, model: Model, n: int) -> dict:
    """Compile, then run, the emergence program ``static`` for ``model`` at ``N = n``."""
    solver = resolve_solver("auto", n)
    mesh = Mesh(np.array(jax.local_devices()[:1]), ("lengths",))
    start = time.perf_counter()
    program = compiled_emergence(static, solver, n, default_max_steps(n, solver), mesh, 1, "float64")
    compile_s = time.perf_counter() - start
    t_max = default_t_max(n)
    inputs = call_inputs(np.zeros(19), [n], model.free_vector(), None, [t_max], 1e-8, 1e-10)
    start = time.perf_counter()
    arrays = jax.block_until_ready(program(*inputs))
    run_s = time.perf_counter() - start
    e = to_emergence(n, t_max, solver, jax.tree.map(lambda a: a[0], arrays))
    seq_len = 2 * n + 1
    return dict(
        n_pairs=n,
        seq_len=seq_len,
        compile_s=compile_s,
        run_s=run_s,
        solver=solver,
        steps=e.steps,
        gradient_evals=e.gradient_evals,
        jacobian_evals=e.jacobian_evals,
        solved=e.solved,
        emerged=e.emerged,
        t_star=e.t_star,
        t_star_over_T2=e.t_star / seq_len**2,
        paper_times=e.paper_times,
        half_times=e.half_times,
        label_attention=e.label_attention,
        label_contrast=e.label_contrast,
        theta_end=[float(e.theta_end[i]) for i in (2, 4, 17)],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", default="1024,4096,8192", help="comma-separated N of the reduced form")
    parser.add_argument("--positions", default="paired", choices=("paired", "sinusoidal"))
    parser.add_argument("--baseline-n", default="", help="comma-separated N of the general form")
    parser.add_argument("--tag", default="", help="suffix of the record's name (runs kept apart)")
    args = parser.parse_args()
    model = Model(free=KEY_PARAMS, positions=args.positions)
    forms = dict(
        reduced=(program_model(model), args.n_pairs), general=(model.replace(free=None), args.baseline_n)
    )
    results = {}
    for name, (static, lengths) in forms.items():
        rows = results[name] = []
        for n in [int(x) for x in lengths.split(",") if x]:
            rows.append(run(static, model, n))
            r = rows[-1]
            print(
                f"{name:8s} N={n:6d}  compile {r['compile_s']:6.1f} s  run {r['run_s']:7.1f} s  "
                f"steps {r['steps']}  ∇L {r['gradient_evals']}  ∇²L {r['jacobian_evals']}  "
                f"t* {r['t_star']:.6g}  t*/T² {r['t_star_over_T2']:.4f}  solved {r['solved']}"
            )
    save(f"reduced_scale_{args.positions}" + (f"_{args.tag}" if args.tag else ""), vars(args), results)


if __name__ == "__main__":
    main()
