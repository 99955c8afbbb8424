"""Wall time of a full emergence sweep over geometric N from 2 to N_max.

Padded batching (one program for every length) against bucketed batching (one program per
power-of-two bucket), with compile time and run time reported separately. Each batching runs
in a fresh compile cache; ``run_s`` is the sweep's wall time minus its compile time.

    python benchmarks/sweep_throughput.py [--n-max 256] [--solver auto|bdf|tsit5|kvaerno5]

The default N_max is 256 on CPU and 2048 (T = 4097) on an accelerator.
"""

from __future__ import annotations

import argparse

import jax
from common import save

from induction_ode import sweep
from induction_ode.ode import compiled_emergence


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-max", type=int, default=None, help="largest N (default: 256 CPU, 2048 GPU/TPU)")
    parser.add_argument("--solver", default="tsit5", help="auto, bdf, tsit5 or kvaerno5")
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--batchings", default="bucketed,padded", help="comma-separated, run in this order")
    args = parser.parse_args()
    n_max = args.n_max or (256 if jax.default_backend() == "cpu" else 2048)
    lengths = [2**k for k in range(1, n_max.bit_length()) if 2**k <= n_max]
    settings = dict(vars(args), n_max=n_max, n_pairs=lengths)

    results = {}
    for batching in args.batchings.split(","):
        compiled_emergence.cache_clear()

        def report(e, batching=batching):
            print(f"  {batching}: N={e.n_pairs:5d}  t*={e.t_star:.6g}", flush=True)

        res = sweep(
            lengths,
            rtol=args.rtol,
            atol=args.rtol / 100,
            solver=args.solver,
            batching=batching,
            on_result=report,
        )
        results[batching] = dict(
            wall_s=res.wall_time,
            compile_s=res.compile_time,
            run_s=res.wall_time - res.compile_time,
            n_compilations=res.n_compilations,
            t_star=res.t_star.tolist(),
            devices=list(res.devices),
        )
        wall, comp, programs = res.wall_time, res.compile_time, res.n_compilations
        print(f"{batching}: wall {wall:.1f} s, compile {comp:.1f} s ({programs} programs)")
    save(f"sweep_throughput_{args.solver}_nmax{n_max}", settings, results)


if __name__ == "__main__":
    main()
