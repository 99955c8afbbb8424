"""float32 against float64: the relative change of t_star across N, and the speed-up.

For each N the emergence program is compiled once per precision (compile time reported
separately); run times are the median of repeated calls of the compiled program.

    python benchmarks/precision.py [--n-pairs 2,4,8,16,32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

from common import median_time, save

from induction_ode import emergence_time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", default="2,4,8,16,32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--solver", default="tsit5")
    parser.add_argument("--rtol64", type=float, default=1e-8, help="float64 tolerance (atol = rtol/100)")
    parser.add_argument(
        "--rtol32", type=float, default=1e-5, help="float32 tolerance: above its eps of 1.2e-7"
    )
    args = parser.parse_args()
    rows = []
    for n in [int(v) for v in args.n_pairs.split(",")]:
        row = dict(n_pairs=n, seq_len=2 * n + 1)
        for precision in ("float64", "float32"):
            rtol = args.rtol32 if precision == "float32" else args.rtol64

            def run(n=n, precision=precision, rtol=rtol):
                return emergence_time(n, precision=precision, solver=args.solver, rtol=rtol, atol=rtol / 100)

            start = time.perf_counter()
            e = run()
            first = time.perf_counter() - start
            med, _ = median_time(run, args.repeats)
            row[precision] = dict(t_star=e.t_star, run_s=med, compile_s=first - med)
        row["rel_diff"] = abs(row["float32"]["t_star"] - row["float64"]["t_star"]) / row["float64"]["t_star"]
        row["speedup"] = row["float64"]["run_s"] / row["float32"]["run_s"]
        rows.append(row)
        t64, t32 = row["float64"]["t_star"], row["float32"]["t_star"]
        print(f"N={n:4d}  t*64={t64:.8g}  t*32={t32:.8g}  rel={row['rel_diff']:.2e}  x{row['speedup']:.2f}")
    save(
        f"precision_{args.solver}", vars(args), dict(rows=rows, max_rel_diff=max(r["rel_diff"] for r in rows))
    )


if __name__ == "__main__":
    main()
