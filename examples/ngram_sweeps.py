"""Sweeps of the n-gram model (Chen et al. 2024): the parent-selection time and the slope of
a(t) = k·ln t + b against L, n and D, vmapped over seeds.

    python examples/ngram_sweeps.py [OUT_DIR] [--steps N] [--n-train B]

Writes OUT_DIR/ngram_sweeps.json and OUT_DIR/ngram_sweeps.png (default OUT_DIR: runs/ngram-sweeps).
The base is the reference-code preset (shifted windows, the authors' loss, lr 1).
"""

import argparse
import time
from pathlib import Path

from induction_ode.ngram.experiment import preset
from induction_ode.ngram.plots import sweep_figure
from induction_ode.ngram.sweeps import summarise, sweep
from induction_ode.records import environment, write_json

parser = argparse.ArgumentParser()
parser.add_argument("out", nargs="?", default="runs/ngram-sweeps")
parser.add_argument("--steps", type=int, default=500)
parser.add_argument("--n-train", type=int, default=2000)
parser.add_argument("--seeds", type=int, default=4)
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

base = preset("reference-code", steps=args.steps, n_train=args.n_train, draws=1000)
seeds = tuple(range(args.seeds))
plan = {"length": [25, 50, 100, 200], "order": [2, 3, 4], "degree": [1, 2, 3]}
start = time.perf_counter()
results = {}
for name, values in plan.items():
    results[name] = sweep(
        base, name, values, seeds, on_value=lambda r, n=name: print(n, summarise(r), flush=True)
    )
record = dict(
    kind="ngram-sweeps",
    config=dict(base=base.to_json(), seeds=seeds, plan=plan),
    environment=environment(),
    sweeps=results,
    summary={name: [summarise(r) for r in rows] for name, rows in results.items()},
    wall_time=time.perf_counter() - start,
)
write_json(out / "ngram_sweeps.json", record)
sweep_figure(results, out / "ngram_sweeps.png")
print(f"wrote {out / 'ngram_sweeps.json'}, ngram_sweeps.png in {record['wall_time']:.0f} s")
