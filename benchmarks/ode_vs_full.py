"""Wall time to emergence: the 19-parameter ODE against full-weight gradient descent.

For each N (width d = 2N), in one run on one device:

- the ODE: :func:`induction_ode.emergence_time` under the ``("weights", d)`` metric, whose
  time is ``step × lr`` of gradient descent (first call, compilation included, and a second
  call of the cached program);
- the full network: the cross-check trainer (SGD, signed-permutation tokens, a fresh batch
  each step) at learning rate ``--lr`` for ``1.2 t*_ODE / lr`` steps. Its emergence step is
  where the evaluation loss first falls to half its initial value; the time to reach it is
  the training wall time (compilation included) times the fraction of steps it took.

    python benchmarks/ode_vs_full.py [--n-pairs 4,8] [--batch 4096] [--lr 1.0]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from common import save

from induction_ode import Model, emergence_time
from induction_ode.crosschecks import first_crossing_time
from induction_ode.transformer import train


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", default="4,8")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--lr", type=float, default=1.0, help="1.0: the largest stable rate found at N = 3")
    parser.add_argument("--record-every", type=int, default=20)
    args = parser.parse_args()
    rows = []
    for n in [int(v) for v in args.n_pairs.split(",")]:
        d = 2 * n
        start = time.perf_counter()
        ode = emergence_time(n, model=Model(metric=("weights", d)))
        ode_first = time.perf_counter() - start
        start = time.perf_counter()
        emergence_time(n, model=Model(metric=("weights", d)))
        ode_run = time.perf_counter() - start

        chunk = args.record_every
        steps = chunk * math.ceil(1.2 * ode.t_star / args.lr / chunk)
        start = time.perf_counter()
        res = train(n, d, steps=steps, lr=args.lr, batch=args.batch, record_every=chunk, tokens="signed_perm")
        losses = np.asarray(res.losses)
        full_wall = time.perf_counter() - start
        t_full = first_crossing_time(np.asarray(res.steps) * args.lr, losses, 0.5 * losses[0])
        full_to_emergence = full_wall * (t_full / args.lr) / steps
        row = dict(
            n_pairs=n,
            d=d,
            t_star_ode=ode.t_star,
            t_star_full=t_full,
            train_steps=steps,
            ode_wall_s_with_compile=ode_first,
            ode_wall_s=ode_run,
            full_wall_s=full_wall,
            full_to_emergence_s=full_to_emergence,
            ratio=full_to_emergence / ode_run,
            ratio_with_compile=full_to_emergence / ode_first,
        )
        rows.append(row)
        print(
            f"N={n} d={d}: t* ODE {ode.t_star:.1f} full {t_full:.1f}; ODE {ode_run:.2f} s "
            f"({ode_first:.1f} s with compile), full {full_to_emergence:.1f} s -> x{row['ratio']:.0f}",
            flush=True,
        )
    save("ode_vs_full", vars(args), dict(rows=rows))


if __name__ == "__main__":
    main()
