"""The ladder's exponent with the learning rate tuned per N (issue 34), against one fixed rate.

For each rung of ``--rungs`` (R1: plain GD at the ladder's rate 4; R4: Adam at 1e-2) and each
multiple ``m`` of ``--multiples``, :func:`induction_ode.ladder.ladder` trains the rung at rate
``m × base`` at every ``N`` of ``--n-pairs`` with ``K`` seeds. Per ``N`` the tuned rate is the
multiple with the fewest mean optimiser steps to the phase change (a practitioner counts
steps; every seed must reach it; a diverged run never does, so the grid stops at instability by
itself). The exponent with the tuned rates is then fitted per seed as the ladder does
(:func:`induction_ode.ladder.summary.exponent`) and set against the exponent at ``m = 1``.

R1 at rate ``4m`` runs as the ladder with ``lr = 4m`` (its budget and record spacing scale
with the rate: ``budget × t*_R0 / lr`` steps, ``records`` per ``t*_R0 / lr``); R4 keeps the
ladder's SGD rate 4 for its budget and records ``40 m`` times per ``t*_R0 / 4`` steps.

    python benchmarks/ladder_tuned_lr.py [--rungs R1,R4] [--multiples 1,2,4,8]
        [--n-pairs 2,4,8] [--seeds 5] [--precision float32]

Writes ``benchmarks/results/ladder_tuned_lr.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from induction_ode.intervals import mean_interval
from induction_ode.ladder import ladder
from induction_ode.ladder.rungs import RUNGS
from induction_ode.ladder.summary import exponent
from induction_ode.records import environment, write_json

LADDER_LR = 4.0
OUT = Path(__file__).parent / "results" / "ladder_tuned_lr.json"


def run_rate(rung, m: float, args) -> dict:
    """One rung at ``m`` times its rate: its points (per ``N``: per-seed steps) and wall time."""
    base = dict(seeds=args.seeds, precision=args.precision)
    if rung.lr is None:  # plain GD: the ladder's own rate
        record = ladder(args.n_pairs, rungs=(RUNGS[0], rung), lr=LADDER_LR * m, **base)
        rate = LADDER_LR * m
    else:
        rate = rung.lr * m
        tuned = replace(rung, lr=rate)
        record = ladder(args.n_pairs, rungs=(RUNGS[0], tuned), lr=LADDER_LR, records=int(40 * m), **base)
    points = next(r for r in record["rungs"] if r["name"] == rung.name)["points"]
    return dict(
        multiple=m,
        lr=rate,
        wall_time=record["wall_time"],
        points=[
            dict(n_pairs=p["n_pairs"], seq_len=p["seq_len"], steps=p["steps"], step=p["step"]) for p in points
        ],
    )


def tuned(runs: list[dict]) -> dict:
    """Per ``N`` the multiple with the fewest mean steps (every seed reached), and the exponent
    with those rates against the exponent at the first multiple."""
    n_lengths = len(runs[0]["points"])
    chosen, steps, seq_len = [], [], []
    for i in range(n_lengths):
        means = [
            np.mean(r["points"][i]["steps"]) if np.all(np.isfinite(r["points"][i]["steps"])) else np.inf
            for r in runs
        ]
        best = int(np.argmin(means))
        chosen.append(runs[best]["multiple"])
        steps.append(runs[best]["points"][i]["steps"])
        seq_len.append(runs[best]["points"][i]["seq_len"])
    fixed = exponent(seq_len, [p["steps"] for p in runs[0]["points"]])
    best = exponent(seq_len, steps)
    difference = np.asarray(best["seeds"]["per_seed"]) - np.asarray(fixed["seeds"]["per_seed"])
    return dict(
        chosen_multiple=chosen,
        steps=steps,
        exponent=best,
        fixed_exponent=fixed,
        difference=mean_interval(difference),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rungs", default="R1,R4")
    parser.add_argument("--multiples", default="1,2,4,8")
    parser.add_argument("--n-pairs", default="2,4,8")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--precision", default="float32")
    args = parser.parse_args()
    args.n_pairs = [int(v) for v in args.n_pairs.split(",")]
    multiples = [float(v) for v in args.multiples.split(",")]
    record = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name in args.rungs.split(","):
        rung = next(r for r in RUNGS if r.name == name)
        start = time.perf_counter()
        runs = []
        for m in multiples:
            runs.append(run_rate(rung, m, args))
            means = [p["step"]["mean"] for p in runs[-1]["points"]]
            print(f"{name} x{m:g} (lr {runs[-1]['lr']:g}): mean steps {np.round(means, 1)}", flush=True)
        summary = tuned(runs)
        print(name, "chosen", summary["chosen_multiple"], "p", summary["exponent"]["seeds"], flush=True)
        print(name, "fixed p", summary["fixed_exponent"]["seeds"], "difference", summary["difference"])
        record[name] = dict(
            command="python " + " ".join(__import__("sys").argv),
            settings=dict(
                n_pairs=args.n_pairs, seeds=args.seeds, precision=args.precision, multiples=multiples
            ),
            runs=runs,
            **summary,
            wall_time=time.perf_counter() - start,
            environment=environment(),
        )
        write_json(OUT, record)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
