"""Combine the lengths of several sweep records into one scaling and one order figure.

Useful when lengths were run separately, e.g. small N with tsit5 and large N with kvaerno5:

    python examples/combine_sweeps.py runs/full19/results.json runs/full19_128/results.json [--fit-max-t 257]

Writes combined.json, scaling.png and order.png in the current directory, and prints the fit
over the three largest T (at most ``--fit-max-t``: for a curve that stops being a power law,
such as the strict mask's past T = 257).
"""

import argparse
from pathlib import Path

import numpy as np

from induction_ode.plots import order_figure, scaling_figure
from induction_ode.records import read_json, write_json
from induction_ode.scaling import fit_power_law, local_exponents

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("records", nargs="+", help="sweep records (results.json)")
parser.add_argument("--fit-max-t", type=int, default=None, help="fit over T up to this length only")
args = parser.parse_args()

lengths = {}
for path in args.records:
    for r in read_json(path)["lengths"]:
        lengths[r["n_pairs"]] = r
rows = [lengths[n] for n in sorted(lengths)]
seq = [r["seq_len"] for r in rows]
t_star = [float("nan") if r["t_star"] is None else r["t_star"] for r in rows]
upto = len(seq) if args.fit_max_t is None else int(np.searchsorted(seq, args.fit_max_t, side="right"))
fit = fit_power_law(seq[:upto], t_star[:upto], last=3)  # indices into the prefix are indices into all
print("T:", seq)
print("t*/T²:", [round(t / s**2, 4) for s, t in zip(seq, t_star)])
print("local exponents:", local_exponents(seq, t_star).round(3).tolist())
print(f"fit over the 3 largest T up to {seq[upto - 1]}: p = {fit.p:.3f} ± {fit.p_err:.3f}")
record = dict(kind="sweep", sources=args.records, lengths=rows, fit=fit._asdict())
write_json(Path("combined.json"), record)
print(
    "wrote combined.json,",
    scaling_figure(record, Path("scaling.png")),
    order_figure(record, Path("order.png")),
)
