"""Which pseudo-parameters the 19-parameter flow needs at large N (issue 31, deliverable 4):
each of the 19 frozen at 0 in turn (:func:`induction_ode.removal_study`; the free mask is data,
so one compiled program serves the 20 runs), beside the run with all 19 free.

Writes ``benchmarks/results/full_model_removals_<device>.json``: per removed name, ``t*``
(``null`` without a head), its ratio to the full run's, whether a head formed
(:func:`induction_ode.is_induction_head`) and the label attention at ``2t*``.

    python benchmarks/full_model_removals.py --n-pairs 1024 --query last
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from common import RESULTS, device_name

from induction_ode import Model, emergence_time, is_induction_head, removal_study
from induction_ode.records import environment, write_json


def summary(e, full_t_star: float) -> dict:
    """One run's record (times in gradient-flow units)."""
    t = e.t_star if math.isfinite(e.t_star) else None
    return dict(
        t_star=t,
        ratio_to_full=None if t is None else t / full_t_star,
        head=bool(is_induction_head(e)),
        label_attention=None if not math.isfinite(e.label_attention) else e.label_attention,
        steps=e.steps,
        solved=e.solved,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", type=int, default=1024)
    parser.add_argument("--query", default="last", choices=("uniform", "last"))
    args = parser.parse_args()
    model = Model(query=args.query)
    start = time.perf_counter()
    full = emergence_time(args.n_pairs, model=model)
    runs = removal_study(args.n_pairs, model=model)
    wall = time.perf_counter() - start
    rows = {name: summary(e, full.t_star) for name, e in runs.items()}
    for name, r in rows.items():
        ratio = "no head" if r["t_star"] is None else f"t*/t*(all) {r['ratio_to_full']:.4f}"
        print(f"without {name:7s}: {ratio}, head {r['head']}, label attention {r['label_attention']}")
    record = dict(
        command="python " + " ".join(sys.argv),
        n_pairs=args.n_pairs,
        query=args.query,
        full=summary(full, full.t_star),
        removed=rows,
        wall_s=wall,
        environment=environment(),
    )
    path = RESULTS / f"full_model_removals_{device_name()}.json"
    write_json(path, record)
    print(f"all 19 free: t* = {full.t_star:.6g}; {wall:.0f} s; wrote {path}")


if __name__ == "__main__":
    main()
