"""The 19-parameter flow's law (issue 31, deliverable 4): local exponents, fits, the ratio to
the 3-parameter flow, the order and the state at ``t*`` and ``2t*``.

Reads ``benchmarks/results/constants_cpu.json`` (``benchmarks/constants.py --free all`` writes
the ``paired_<query>_19`` entries, ``--free key`` the 3-parameter ones) and, for each query:

- per length: ``t*/T²``, the local exponent ``d ln t*/d ln T``, ``T_γ/T``, ``T_β/T²``,
  ``T_α/T²``, the label attention at ``2t*``, the order of the half-times and
  ``t*(3)/t*(19)`` where the 3-parameter flow was run at the same ``N``;
- a power law ``t* = c T^p`` over the ``--window`` largest lengths
  (:func:`induction_ode.scaling.fit_power_law`: ``p`` with its standard error), and the same
  fit one length lower (the change is a second error);
- θ at ``t*`` and at ``2t*`` of the largest length: which pseudo-parameters besides α3, β2, γ3
  move, and how each grows with ``T`` (local exponents of ``|θ_i(2t*)|``).

Writes ``benchmarks/results/full_model_fits.json`` and ``docs/figures/full_model.png``.

    python benchmarks/full_model_fit.py [--window 5] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from induction_ode import PARAM_NAMES
from induction_ode.records import write_json
from induction_ode.scaling import fit_power_law

ROOT = Path(__file__).parent
FIGURE = ROOT.parent / "docs" / "figures" / "full_model.png"
QUERIES = ("last", "uniform")


def rows_of(record: dict, key: str) -> list[dict]:
    """The solved lengths of ``key`` that formed a head, by ``N``."""
    lengths = record.get(key, {}).get("lengths", {})
    return [r for r in lengths.values() if r["solved"] and r["emerged"]]


def paper(row: dict, name: str) -> float:
    """The paper's ``T_x`` of ``name`` (``nan`` where ``|x|`` never reached ½)."""
    value = row["paper_times"][name]
    return math.nan if value is None else value


def analyse(record: dict, query: str, window: int) -> dict:
    """Per-length quantities and fits of the 19-parameter flow under ``query``."""
    rows = rows_of(record, f"paired_{query}_19")
    key3 = {r["n_pairs"]: r for r in rows_of(record, f"paired_{query}")}
    n = np.array([r["n_pairs"] for r in rows])
    seq_len = (2 * n + 1).astype(float)
    t_star = np.array([r["t_star"] for r in rows])
    fit = fit_power_law(seq_len, t_star, last=window)
    lower = fit_power_law(seq_len[:-1], t_star[:-1], last=window)
    end = np.array([r["theta_end"] for r in rows])
    size = np.where(end[-2:] != 0, np.abs(end[-2:]), np.nan)  # entries that stay exactly 0: nan
    growth = np.diff(np.log(size), axis=0)[0] / np.diff(np.log(seq_len[-2:]))[0]
    return dict(
        n_pairs=n.tolist(),
        seq_len=seq_len.tolist(),
        t_star=t_star.tolist(),
        t_star_over_t2=(t_star / seq_len**2).tolist(),
        local_exponents=(np.diff(np.log(t_star)) / np.diff(np.log(seq_len))).tolist(),
        gamma_over_t=[paper(r, "gamma3") / s for r, s in zip(rows, seq_len)],
        beta_over_t2=[paper(r, "beta2") / s**2 for r, s in zip(rows, seq_len)],
        alpha_over_t2=[paper(r, "alpha3") / s**2 for r, s in zip(rows, seq_len)],
        label_attention=[r["label_attention"] for r in rows],
        order=[sorted(r["half_times"], key=r["half_times"].get) for r in rows],
        paper_order=[
            sorted(r["paper_times"], key=lambda k, r=r: np.nan_to_num(paper(r, k), nan=np.inf)) for r in rows
        ],
        ratio_3_to_19={str(m): key3[m]["t_star"] / t for m, t in zip(n.tolist(), t_star) if m in key3},
        power_law=dict(
            p=fit.p,
            p_err=fit.p_err,
            c=fit.c,
            window_n=n[-window:].tolist(),
            p_one_lower=lower.p,
            error=max(fit.p_err, abs(fit.p - lower.p)),
        ),
        theta_star_last=dict(zip(PARAM_NAMES, rows[-1]["theta_star"])),
        theta_end_last=dict(zip(PARAM_NAMES, rows[-1]["theta_end"])),
        theta_end=end.tolist(),
        growth_of_theta_end=dict(zip(PARAM_NAMES, growth.tolist())),
    )


def figure(analysis: dict, path: Path) -> None:
    """t*/T² of both flows, the local exponents, and |θ_i(2t*)| against T."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for query, style in (("last", "-"), ("uniform", "--")):
        a = analysis.get(query)
        if not a:
            continue
        t = np.array(a["seq_len"])
        axes[0].plot(t, a["t_star_over_t2"], "o" + style, ms=3, color="C0", label=f"19 free, {query}")
        if a["ratio_3_to_19"]:
            m = np.array([int(k) for k in a["ratio_3_to_19"]])
            three = [a["ratio_3_to_19"][str(k)] * a["t_star"][a["n_pairs"].index(k)] for k in m]
            axes[0].plot(
                2 * m + 1,
                np.array(three) / (2 * m + 1) ** 2,
                "s" + style,
                ms=3,
                color="C1",
                label=f"α3 β2 γ3 only, {query}",
            )
        axes[1].plot(np.sqrt(t[1:] * t[:-1]), a["local_exponents"], "o" + style, ms=3, label=query)
        if query == "last":
            end = np.abs(np.array(a["theta_end"]))
            for i, name in enumerate(PARAM_NAMES):
                if end[-1, i] > 0.05:
                    axes[2].plot(
                        t,
                        end[:, i],
                        style,
                        lw=1.2 if name in ("alpha3", "beta2", "gamma3") else 0.8,
                        label=name,
                    )
    axes[0].set(xscale="log", xlabel="T = 2N + 1", ylabel="t*/T²", title="t*/T², paired code, strict, MSE")
    axes[1].axhline(2, color="k", lw=0.6, ls=":")
    axes[1].set(xscale="log", xlabel="T", ylabel="d ln t*/d ln T", title="local exponent of t* (19 free)")
    axes[1].set_ylim(1.5, 2.1)  # N = 2 → 4 under the last query (4.0) is off the scale
    axes[2].set(
        xscale="log",
        yscale="log",
        xlabel="T",
        ylabel="|θ_i(2t*)|",
        title="19 free, last query: |θ_i| at 2t* (those > 0.05)",
    )
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def markdown(analysis: dict) -> str:
    """The per-length tables as Markdown."""
    lines = []
    for query, a in analysis.items():
        lines += [f"\n**19 free, {query} query**\n"]
        head = [
            "N",
            "T",
            "t*",
            "t*/T²",
            "local exp.",
            "T_γ/T",
            "T_β/T²",
            "T_α/T²",
            "label att. at 2t*",
            "half-time order",
            "t*(3)/t*(19)",
        ]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for i, n in enumerate(a["n_pairs"]):
            exp = f"{a['local_exponents'][i - 1]:.3f}" if i else ""
            ratio = a["ratio_3_to_19"].get(str(n))
            cells = [
                str(n),
                str(2 * n + 1),
                f"{a['t_star'][i]:.6g}",
                f"{a['t_star_over_t2'][i]:.5f}",
                exp,
                f"{a['gamma_over_t'][i]:.5f}",
                f"{a['beta_over_t2'][i]:.5f}",
                f"{a['alpha_over_t2'][i]:.5f}",
                f"{a['label_attention'][i]:.4f}",
                " → ".join(x[0] + x[-1] for x in a["order"][i]),
                "" if ratio is None else f"{ratio:.4f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        p = a["power_law"]
        lines.append(
            f"\nt* = c T^p over N = {p['window_n']}: p = {p['p']:.4f} ± {p['error']:.1g} "
            f"(standard error {p['p_err']:.1g}; one length lower {p['p_one_lower']:.4f})"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=5, help="largest lengths in the power-law fit")
    parser.add_argument("--record", default=str(ROOT / "results" / "constants_cpu.json"))
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    args = parser.parse_args()
    record = json.loads(Path(args.record).read_text())
    analysis = {q: analyse(record, q, args.window) for q in QUERIES if rows_of(record, f"paired_{q}_19")}
    write_json(ROOT / "results" / "full_model_fits.json", dict(window=args.window, **analysis))
    figure(analysis, FIGURE)
    for query, a in analysis.items():
        p = a["power_law"]
        print(
            f"{query}: N = {a['n_pairs'][0]} … {a['n_pairs'][-1]}; p = {p['p']:.4f} ± {p['error']:.1g}; "
            f"local exponents … {' '.join(f'{e:.3f}' for e in a['local_exponents'][-4:])}"
        )
        print("  θ(2t*) at the largest N:", {k: round(v, 3) for k, v in a["theta_end_last"].items()})
        print(
            "  growth exponents of |θ(2t*)|:", {k: round(v, 2) for k, v in a["growth_of_theta_end"].items()}
        )
    if args.markdown:
        print(markdown(analysis))
    print(f"\nwrote {ROOT / 'results' / 'full_model_fits.json'} and {FIGURE}")


if __name__ == "__main__":
    main()
