"""Compare sweeps on one figure: t*/T² and local exponents, e.g. the two layer-1 masks.

    python examples/compare_sweeps.py strict=runs/strict/results.json inclusive=runs/inclusive/results.json

Each argument is LABEL=RESULTS.JSON (several files for one label: LABEL=a.json,b.json, merged by
N). Prints, per label, T, t*, t*/T², the local exponents and the fit over the three largest T;
writes compare.png in the current directory (or --out PATH). With --table, also prints a
markdown table per label: t*/T², local exponent, the paper's emergence times scaled as
Theorem 2 states them (T_γ/T, T_β/T², T_α/T²), the order, and at 2t* the label attention, the
label contrast (recomputed from θ(2t*) for records that predate it) and the head criterion.
"""

import argparse
from pathlib import Path

import numpy as np

from induction_ode import attention_patterns
from induction_ode.mechanism import HEAD_ATTENTION, HEAD_CONTRAST
from induction_ode.plots import compare_figure, pretty
from induction_ode.records import model_of, read_json
from induction_ode.scaling import fit_power_law, local_exponents


def contrast(row: dict, model) -> float:
    """The label's layer-2 weight over the runner-up's, each averaged over the query's pairs
    (``Emergence.label_contrast``)."""
    if row.get("label_contrast") is not None or not row["emerged"]:
        return row.get("label_contrast") or float("nan")
    theta, n = np.asarray(row["theta_end"]), row["n_pairs"]
    pairs = [n - 1] if model.query == "last" else range(n)
    label, runner_up = [], []
    for k in pairs:
        w2 = np.asarray(attention_patterns(theta, n, k, model=model)[1])
        label.append(w2[2 * k + 1])
        runner_up.append(np.max(np.delete(w2, 2 * k + 1)))
    return float(np.mean(label) / np.mean(runner_up))


def markdown(record: dict) -> str:
    """One row per length (see the module doc)."""
    model = model_of(record["config"]).replace(free=None)
    rows = record["lengths"]
    seq = [r["seq_len"] for r in rows]
    local = [None, *local_exponents(seq, [r["t_star"] or np.nan for r in rows])]
    out = [
        "| N | T | t* | t*/T² | local exp. | T_γ3/T | T_β2/T² | T_α3/T² | order | label attn. | contrast"
        " | head |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r, p in zip(rows, local):
        T, times = r["seq_len"], r.get("paper_times") or {}
        scaled = [times.get(k) and times[k] / T**e for k, e in (("gamma3", 1), ("beta2", 2), ("alpha3", 2))]
        c = contrast(r, model)
        head = r["emerged"] and (r["label_attention"] >= HEAD_ATTENTION or c >= HEAD_CONTRAST)
        cells = [
            r["n_pairs"],
            T,
            f"{r['t_star']:.6g}" if r["emerged"] else "none",
            f"{r['t_star'] / T**2:.4f}" if r["emerged"] else "—",
            "" if p is None or not np.isfinite(p) else f"{p:.3f}",
            *("—" if v is None else f"{v:.3f}" for v in scaled),
            " < ".join(pretty(n) for n in r["order"]) if r["emerged"] else "—",
            "—" if r["label_attention"] is None else f"{r['label_attention']:.3f}",
            f"{c:.3g}",
            "yes" if head else "no",
        ]
        out.append("| " + " | ".join(str(v) for v in cells) + " |")
    return "\n".join(out)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("sweeps", nargs="+", help="LABEL=results.json[,more.json]")
parser.add_argument("--out", default="compare.png")
parser.add_argument("--table", action="store_true", help="print a markdown table per label")
args = parser.parse_args()

records = {}
for spec in args.sweeps:
    label, _, paths = spec.partition("=")
    lengths = {}
    for path in paths.split(","):
        record = read_json(path)
        for r in record["lengths"]:
            lengths[r["n_pairs"]] = r
    records[label] = dict(config=record["config"], lengths=[lengths[n] for n in sorted(lengths)])
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
if args.table:
    for label, record in records.items():
        print(f"\n{label}:\n" + markdown(record))
