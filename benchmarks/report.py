"""Print the README's performance table (markdown) from ``benchmarks/results/*.json``.

python benchmarks/report.py
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def lines_for(device: str, record: dict) -> list[str]:
    out = []

    def row(what, value, key):
        out.append(f"| {device} | {what} | {value} | `{record[key]['command']}` |")

    if "rhs_cost" in record:
        for name, fast in record["rhs_cost"]["results"].items():
            if not name.startswith("fast") or not fast["rows"]:
                continue
            what = name.removeprefix("fast").strip("/") or "paired"
            largest = fast["rows"][-1]
            row(
                f"loss+gradient, fast closed form ({what})",
                f"{largest['median_s'] * 1e3:.4g} ms at T = {largest['seq_len']}; exponent "
                f"{fast['exponent']:.2f} over T = {fast['fit_seq_len']}",
                "rhs_cost",
            )
            hess = [r for r in fast["rows"] if "hessian_in_gradients" in r]
            if hess:
                row(
                    f"exact Jacobian (Hessian, jacfwd of grad) in gradients ({what})",
                    ", ".join(f"{r['hessian_in_gradients']:.0f} at T = {r['seq_len']}" for r in hess[-4:]),
                    "rhs_cost",
                )
    for key in sorted(k for k in record if k.startswith("sweep_throughput")):
        r, s = record[key]["results"], record[key]["settings"]
        parts = [
            f"{b} {v['wall_s']:.0f} s ({v['compile_s']:.0f} s compiling, {v['n_compilations']} programs)"
            for b, v in r.items()
        ]
        row(f"sweep N = 2…{s['n_max']} ({s['solver']})", "; ".join(parts), key)
    if "ode_vs_full" in record:
        for r in record["ode_vs_full"]["results"]["rows"]:
            row(
                f"ODE vs full training, N = {r['n_pairs']}, d = {r['d']}",
                f"full {r['full_to_emergence_s']:.0f} s vs ODE {r['ode_wall_s']:.2f} s: "
                f"×{r['ratio']:.0f} (×{r['ratio_with_compile']:.0f} counting compilation)",
                "ode_vs_full",
            )
    for key in sorted(k for k in record if k.startswith("precision")):
        rows = record[key]["results"]["rows"]
        worst = max(r["rel_diff"] for r in rows)
        speed = ", ".join(f"{r['speedup']:.2f}" for r in rows)
        ns = ",".join(str(r["n_pairs"]) for r in rows)
        row("float32 vs float64", f"max rel. diff of t* {worst:.1e}; speed-up ×({speed}) at N = {ns}", key)
    for key in sorted(k for k in record if k.startswith("solvers")):
        rows = record[key]["results"]["rows"]
        ratios = record[key]["results"].get("ratios_to_first", {})
        for n in sorted({r["n_pairs"] for r in rows}):
            parts = []
            here = [r for r in rows if r["n_pairs"] == n]
            for r in here:
                counts = f", {r['num_steps']} steps" if r.get("num_steps") else ""
                counts += f", {r['num_fev']} ∇L, {r['num_jev']} ∇²L" if r.get("num_jev") is not None else ""
                parts.append(f"{r['solver']} {r['run_s']:.3g} s{counts}")
            text = "; ".join(parts)
            if str(n) in ratios:  # medians over the repeats of each solver's time / the first's
                paired = ", ".join(f"{s} ×{v:.2f}" for s, v in ratios[str(n)].items())
                text += f" (against {here[0]['solver']}: {paired}; medians of {len(here[0]['runs_s'])} runs)"
            settings = record[key]["settings"]
            mask, code = settings.get("layer1_mask", "strict"), settings.get("positions", "sinusoidal")
            label = f"to 2t* at N = {n}, {mask} mask, {code} code (run time, compilation apart)"
            row(label, text, key)
    for key, what in (("sharding", "shard_map"), ("sharding_gspmd", "GSPMD, as before issue 33")):
        if key not in record:
            continue
        rows = record[key]["results"]["rows"]
        text = ", ".join(
            f"{r['devices']} dev ×{r['speedup']:.2f}"
            + (f" ({r['per_step_ms']:.2f} ms per step)" if "per_step_ms" in r else "")
            for r in rows
        )
        cores = record[key]["results"]["cpu_count"]
        row(f"sharded sweep speed-up ({what})", f"{text} ({cores} cores)", key)
    return out


def main():
    print("| device | benchmark | result | command |")
    print("|---|---|---|---|")
    for path in sorted(RESULTS.glob("*.json")):
        for line in lines_for(path.stem, json.loads(path.read_text())):
            print(line)


if __name__ == "__main__":
    main()
