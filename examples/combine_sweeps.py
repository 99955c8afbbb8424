"""Combine the lengths of several sweep records into one scaling and one order figure.

Useful when lengths were run separately, e.g. small N with tsit5 and large N with kvaerno5:

    python examples/combine_sweeps.py runs/full19/results.json runs/full19_128/results.json

Writes combined.json, scaling.png and order.png in the current directory, and prints the fit
over the three largest T.
"""

import sys
from pathlib import Path

from induction_ode.plots import order_figure, scaling_figure
from induction_ode.records import read_json, write_json
from induction_ode.scaling import fit_power_law, local_exponents

lengths = {}
for path in sys.argv[1:]:
    for r in read_json(path)["lengths"]:
        lengths[r["n_pairs"]] = r
rows = [lengths[n] for n in sorted(lengths)]
seq = [r["seq_len"] for r in rows]
t_star = [float("nan") if r["t_star"] is None else r["t_star"] for r in rows]
fit = fit_power_law(seq, t_star, last=3)
print("T:", seq)
print("t*/T²:", [round(t / s**2, 4) for s, t in zip(seq, t_star)])
print("local exponents:", local_exponents(seq, t_star).round(3).tolist())
print(f"fit over the 3 largest T: p = {fit.p:.3f} ± {fit.p_err:.3f}")
record = dict(kind="sweep", sources=sys.argv[1:], lengths=rows, fit=fit._asdict())
write_json(Path("combined.json"), record)
print(
    "wrote combined.json,",
    scaling_figure(record, Path("scaling.png")),
    order_figure(record, Path("order.png")),
)
