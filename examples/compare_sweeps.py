"""Compare sweeps on one figure: t*/T² and local exponents, e.g. the two layer-1 masks.

    python examples/compare_sweeps.py strict=runs/strict/results.json inclusive=runs/inclusive/results.json

Each argument is LABEL=RESULTS.JSON (several files for one label: LABEL=a.json,b.json, merged by
N). Prints, per label, T, t*, t*/T², the local exponents and the fit over the three largest T;
writes compare.png in the current directory (or --out PATH).
"""

import argparse
from pathlib import Path

from induction_ode.plots import compare_figure
from induction_ode.records import read_json
from induction_ode.scaling import fit_power_law, local_exponents

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("sweeps", nargs="+", help="LABEL=results.json[,more.json]")
parser.add_argument("--out", default="compare.png")
args = parser.parse_args()

records = {}
for spec in args.sweeps:
    label, _, paths = spec.partition("=")
    lengths = {}
    for path in paths.split(","):
        for r in read_json(path)["lengths"]:
            lengths[r["n_pairs"]] = r
    records[label] = dict(lengths=[lengths[n] for n in sorted(lengths)])
for label, record in records.items():
    seq = [r["seq_len"] for r in record["lengths"]]
    t_star = [float("nan") if r["t_star"] is None else r["t_star"] for r in record["lengths"]]
    print(f"{label}:")
    print("  T:              ", seq)
    print("  t*:             ", [round(t, 4) for t in t_star])
    print("  t*/T²:          ", [round(t / s**2, 4) for s, t in zip(seq, t_star)])
    print("  local exponents:", local_exponents(seq, t_star).round(3).tolist())
    try:
        fit = fit_power_law(seq, t_star, last=3)
        print(f"  fit over the 3 largest T: p = {fit.p:.3f} ± {fit.p_err:.3f}")
    except ValueError as err:
        print(f"  no fit: {err}")
print("wrote", compare_figure(records, Path(args.out)))
