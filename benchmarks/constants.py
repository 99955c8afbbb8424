"""Emergence times over N = 2, 4, 8, … of the 3-parameter flow (issue 20) or of all 19 (issue 31).

For ``Model(free=KEY_PARAMS, positions=..., query=...)`` (strict mask, MSE, identity metric,
from θ = 0; the package switches to the reduced closed form on its own), or with ``--free
all`` the 19-parameter flow (the structured closed form under the paired code), solver
``bdf``, rtol 1e-8, each length's ``t*``, the paper's ``T_x`` (first ``|x| ≥ 0.5``), the
half-times of α3, β2, γ3, the label attention at ``2t*`` and θ at ``t*`` and ``2t*`` are
merged into ``benchmarks/results/constants_<device>.json`` under ``<positions>_<query>``
(``<positions>_<query>_19`` for all 19 free), keyed by ``N``, as soon as each length (or the
padded group of small lengths) ends; a rerun adds or replaces lengths. Lengths up to ``--pad-max`` share one
compiled, padded :func:`~induction_ode.sweep`; larger ones each run
:func:`~induction_ode.emergence_time` (its own compilation, in ``wall_s``).
``benchmarks/constants_fit.py`` fits and draws them.

    python benchmarks/constants.py --positions paired --query uniform --n-pairs 2,4,…,8192
        [--free all]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from common import RESULTS, device_name

from induction_ode import KEY_PARAMS, Model, emergence_time, sweep
from induction_ode.records import environment, write_json

RTOL = 1e-8  # the package default


def row(e, wall_s: float, how: str) -> dict:
    """One length's record: times in gradient-flow units, ``wall_s`` in seconds."""
    return dict(
        n_pairs=e.n_pairs,
        seq_len=2 * e.n_pairs + 1,
        t_star=e.t_star,
        paper_times=e.paper_times,
        half_times=e.half_times,
        emerged=e.emerged,
        solved=e.solved,
        steps=e.steps,
        gradient_evals=e.gradient_evals,
        jacobian_evals=e.jacobian_evals,
        label_attention=e.label_attention,
        theta_star=[float(x) for x in e.theta_star],
        theta_end=[float(x) for x in e.theta_end],
        wall_s=wall_s,
        how=how,
    )


def merge(key: str, rows: list[dict], settings: dict) -> None:
    """Merge ``rows`` into the record's entry ``key`` (by ``N``) and write it."""
    path = RESULTS / f"constants_{device_name()}.json"
    record = json.loads(path.read_text()) if path.exists() else {}
    entry = record.setdefault(key, dict(settings=settings, lengths={}))
    for r in rows:
        entry["lengths"][str(r["n_pairs"])] = r | dict(
            command="python " + " ".join(sys.argv), date=time.strftime("%Y-%m-%d")
        )
    entry["lengths"] = dict(sorted(entry["lengths"].items(), key=lambda kv: int(kv[0])))
    entry["environment"] = environment()
    write_json(path, record)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", default="paired", choices=("paired", "sinusoidal"))
    parser.add_argument("--query", default="uniform", choices=("uniform", "last"))
    parser.add_argument("--n-pairs", default="2,4,8,16,32,64,128,256,512,1024", help="comma-separated N")
    parser.add_argument("--pad-max", type=int, default=512, help="lengths ≤ this share one padded sweep")
    parser.add_argument("--free", default="key", choices=("key", "all"), help="α3, β2, γ3 alone, or all 19")
    args = parser.parse_args()
    free = KEY_PARAMS if args.free == "key" else None
    model = Model(free=free, positions=args.positions, query=args.query)
    key = f"{args.positions}_{args.query}" + ("" if free else "_19")
    settings = dict(layer1_mask="strict", positions=args.positions, query=args.query)
    settings.update(solver="bdf", rtol=RTOL, free=args.free)
    lengths = [int(x) for x in args.n_pairs.split(",") if x]
    small = [n for n in lengths if n <= args.pad_max]

    def report(r):
        p = r["paper_times"]
        print(
            f"{key} N={r['n_pairs']:6d}  t*/T² {r['t_star'] / r['seq_len'] ** 2:.5f}  "
            f"T_a/T² {p['alpha3'] / r['seq_len'] ** 2:.5f}  T_b/T² {p['beta2'] / r['seq_len'] ** 2:.5f}  "
            f"T_g/T {p['gamma3'] / r['seq_len']:.5f}  steps {r['steps']}  solved {r['solved']}  "
            f"{r['wall_s']:.1f} s",
            flush=True,
        )

    if small:
        start = time.perf_counter()
        res = sweep(small, model=model, solver="bdf", rtol=RTOL)
        wall = time.perf_counter() - start
        rows = [
            row(e, wall, f"padded sweep of {len(small)} lengths, n_pad {max(small)}") for e in res.results
        ]
        merge(key, rows, settings)
        for r in rows:
            report(r)
    for n in (n for n in lengths if n > args.pad_max):
        start = time.perf_counter()
        e = emergence_time(n, model=model, solver="bdf", rtol=RTOL)
        r = row(e, time.perf_counter() - start, "emergence_time (compile + run)")
        merge(key, [r], settings)
        report(r)


if __name__ == "__main__":
    main()
