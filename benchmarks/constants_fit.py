"""Local exponents, extrapolated limits and the figure of the constants (issue 20).

Reads ``benchmarks/results/constants_cpu.json`` (written by ``benchmarks/constants.py``) and,
for each code and query mode, each emergence time ``t`` (``t*``, ``T_α``, ``T_β``: compensated
by ``T²``, or by ``T²/ln T`` where the data need it; ``T_γ``: by ``T``):

- the local exponents ``d log t / d log T`` between consecutive ``N``;
- least-squares fits of the compensated time ``y`` over the ``--window`` largest lengths, in
  the forms of :data:`FORMS` (``L = ln T``); each form's limit ``c0``, its RMS residual, and its
  limit with the largest length dropped (the window shifted down by one);
- the limit: the form with the smallest RMS residual among the 3-term forms, with an error that
  is the larger of its change on dropping the last point and its distance to the limit of the
  3-term form with the next smallest residual.

Writes ``benchmarks/results/constants_fits.json`` and ``docs/figures/constants.png`` (the
compensated times against ``1/T``, with the winning fits drawn to ``1/T = 10⁻⁸`` and the limit
equation's constants, :mod:`induction_ode.limit`, as dotted lines).

    python benchmarks/constants_fit.py [--window 5]
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

from induction_ode.limit import limit_times, sinusoidal_limit_times
from induction_ode.records import write_json

ROOT = Path(__file__).parent
FIGURE = ROOT.parent / "docs" / "figures" / "constants.png"
TIMES = ("t_star", "alpha3", "beta2", "gamma3")
LABELS = dict(t_star="t*", alpha3="T_α", beta2="T_β", gamma3="T_γ")
# The basis functions of each form, of T; the limit is the coefficient of the constant.
FORMS = {
    "c0 + c1/T + c2/T²": lambda t: [np.ones_like(t), 1 / t, 1 / t**2],
    "c0 + c1 L/T + c2/T": lambda t: [np.ones_like(t), np.log(t) / t, 1 / t],
    "c0 + c1/L + c2/L²": lambda t: [np.ones_like(t), 1 / np.log(t), 1 / np.log(t) ** 2],
    "c0 + c1/T": lambda t: [np.ones_like(t), 1 / t],
    "c0 + c1/L": lambda t: [np.ones_like(t), 1 / np.log(t)],
}
THREE_TERM = [f for f, basis in FORMS.items() if len(basis(np.full(1, 3.0))) == 3]
# The compensation each time needs (induction_ode.limit): t ln T/T² where t/T² keeps falling
# like 1/ln T, t/(T² ln T) where it grows like ln T, t/T² elsewhere (T_γ: t/T).
LOG_DOWN = {
    ("paired_uniform", "t_star"),
    ("paired_uniform", "alpha3"),
    ("paired_uniform", "beta2"),
    ("sinusoidal_uniform", "beta2"),
}
LOG_UP = {("sinusoidal_last", "t_star")}


def compensation(key: str, time: str, seq_len):
    """``(label, factor)``: the compensated time is ``t · factor`` (``seq_len`` an array)."""
    if time == "gamma3":
        return "T_γ/T", 1 / seq_len
    if (key, time) in LOG_DOWN:
        return f"{LABELS[time]}·lnT/T²", np.log(seq_len) / seq_len**2
    if (key, time) in LOG_UP:
        return f"{LABELS[time]}/(T² lnT)", 1 / (seq_len**2 * np.log(seq_len))
    return f"{LABELS[time]}/T²", 1 / seq_len**2


def theory(key: str) -> dict:
    """The limits of the compensated times that :mod:`induction_ode.limit` derives (the
    sinusoidal code under the uniform query: ``T_β`` to leading order only)."""
    code, query = key.split("_")
    if code == "paired":
        return limit_times()
    if query == "last":
        return dict(sinusoidal_limit_times(), gamma3=math.log(2), t_star=1 / math.pi)
    return dict(gamma3=math.log(2), beta2=0.5)


def fit(form: str, seq_len, y) -> tuple[np.ndarray, float]:
    """Least-squares coefficients of ``form`` and the RMS residual."""
    a = np.stack(FORMS[form](seq_len), axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return coef, float(np.sqrt(np.mean((a @ coef - y) ** 2)))


def analyse(key: str, lengths: dict, window: int) -> dict:
    """Compensated times, local exponents and fits of one code and query mode."""
    rows = [r for r in lengths.values() if r["solved"] and r["emerged"]]
    n = np.array([r["n_pairs"] for r in rows])
    seq_len = (2 * n + 1).astype(float)
    out = dict(n_pairs=n.tolist(), seq_len=seq_len.tolist(), wall_s=[r["wall_s"] for r in rows], times={})
    for time in TIMES:
        t = np.array([r["t_star"] if time == "t_star" else r["paper_times"][time] for r in rows])
        label, factor = compensation(key, time, seq_len)
        y = t * factor
        fits = {}
        for form in FORMS:
            coef, rms = fit(form, seq_len[-window:], y[-window:])
            dropped, _ = fit(form, seq_len[-window - 1 : -1], y[-window - 1 : -1])
            fits[form] = dict(
                coef=coef.tolist(), limit=float(coef[0]), rms=rms, limit_dropped=float(dropped[0])
            )
        best, other = sorted(THREE_TERM, key=lambda f: fits[f]["rms"])[:2]
        drop = abs(fits[best]["limit"] - fits[best]["limit_dropped"])
        change = abs(fits[best]["limit"] - fits[other]["limit"])
        out["times"][time] = dict(
            label=label,
            values=y.tolist(),
            local_exponents=np.diff(np.log(t)).__truediv__(np.diff(np.log(seq_len))).tolist(),
            fits=fits,
            best=best,
            limit=fits[best]["limit"],
            error=max(drop, change),
            error_drop_last=drop,
            error_form=change,
            window_n=n[-window:].tolist(),
            theory=theory(key).get(time),
        )
    return out


def figure(analysis: dict, path: Path) -> None:
    """One panel per code: compensated times against ``1/T``, fits and the limit constants."""
    codes = sorted({k.split("_")[0] for k in analysis}, key=lambda c: c != "paired")
    fig, axes = plt.subplots(1, len(codes), figsize=(6.5 * len(codes), 4.8), squeeze=False)
    colours = dict(t_star="C0", alpha3="C1", beta2="C2", gamma3="C3")
    for ax, code in zip(axes[0], codes):
        for query, style in (("last", "-"), ("uniform", "--")):
            key = f"{code}_{query}"
            if key not in analysis:
                continue
            a = analysis[key]
            x = 1 / np.array(a["seq_len"])
            for time in TIMES:
                q = a["times"][time]
                c = colours[time]
                ax.plot(x, q["values"], "o", ms=3.5, color=c, mfc="none" if query == "uniform" else c)
                grid = np.logspace(-8, np.log10(1 / (2 * a["n_pairs"][-q_window(a, time)] + 1)), 100)
                coef = np.array(q["fits"][q["best"]]["coef"])
                ax.plot(grid, np.stack(FORMS[q["best"]](1 / grid), axis=1) @ coef, style, color=c, lw=1)
                ax.plot(
                    [],
                    [],
                    style + "o",
                    color=c,
                    mfc="none" if query == "uniform" else c,
                    label=f"{q['label']} ({query}): {q['limit']:.4f} ± {q['error']:.1g}",
                )
        for key in (f"{code}_last", f"{code}_uniform"):
            for time, value in theory(key).items() if key in analysis else ():
                ax.plot([1e-8, 2e-3], [value, value], color=colours[time], ls=":", lw=0.8)
        ax.plot([], [], "k:", lw=0.8, label="limit equation (induction_ode.limit)")
        ax.set_xscale("log")
        ax.set_ylim(0.15, 2.15)
        ax.set_xlabel("1/T")
        ax.set_ylabel("compensated time")
        ax.set_title(f"{code} code, strict mask, α3 β2 γ3 only")
        ax.legend(fontsize=6.5, loc="upper left", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def markdown(analysis: dict, record: dict) -> str:
    """The per-length tables and the table of limits, as Markdown (``(sweep)``: the wall time
    of the padded sweep that ran the length with others, compilation included)."""
    lines = []
    for key, a in analysis.items():
        times = a["times"]
        head = ["N", "T"] + [times[t]["label"] for t in TIMES] + ["local exp. of t*", "steps", "wall (s)"]
        lines += [f"\n**{key.replace('_', ', query ')}**\n", "| " + " | ".join(head) + " |"]
        lines.append("|" + "---|" * len(head))
        lengths = record[key]["lengths"]
        for i, n in enumerate(a["n_pairs"]):
            r = lengths[str(n)]
            exp = times["t_star"]["local_exponents"][i - 1] if i else None
            cells = [str(n), str(2 * n + 1)] + [f"{times[t]['values'][i]:.5f}" for t in TIMES]
            wall = f"{r['wall_s']:.0f}" + (" (sweep)" if r["how"].startswith("padded") else "")
            cells += ["" if exp is None else f"{exp:.3f}", str(r["steps"]), wall]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| code, query | time | limit ± error | drop last | change of form | form | theory |"]
    lines.append("|---|---|---|---|---|---|---|")
    for key, a in analysis.items():
        for q in a["times"].values():
            th = "" if q["theory"] is None else f"{q['theory']:.8f}"
            digits = int(min(8, max(4, 1 - math.floor(math.log10(max(q["error"], 1e-12))))))
            lines.append(
                f"| {key.replace('_', ', ')} | {q['label']} | {q['limit']:.{digits}f} ± {q['error']:.1e} | "
                f"{q['error_drop_last']:.1e} | {q['error_form']:.1e} | {q['best']} | {th} |"
            )
    return "\n".join(lines)


def q_window(a: dict, time: str) -> int:
    """How many lengths the fit of ``time`` used (the curve is drawn from the first of them)."""
    return len(a["times"][time]["window_n"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=5, help="largest lengths in each fit")
    parser.add_argument("--record", default=str(ROOT / "results" / "constants_cpu.json"))
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    args = parser.parse_args()
    record = json.loads(Path(args.record).read_text())
    analysis = {key: analyse(key, entry["lengths"], args.window) for key, entry in sorted(record.items())}
    write_json(
        ROOT / "results" / "constants_fits.json", dict(window=args.window, limit=limit_times(), **analysis)
    )
    figure(analysis, FIGURE)
    for key, a in analysis.items():
        print(f"\n{key}: N = {a['n_pairs'][0]} … {a['n_pairs'][-1]}")
        for q in a["times"].values():
            exps = " ".join(f"{e:.3f}" for e in q["local_exponents"][-4:])
            forms = "  ".join(
                f"[{f}] {v['limit']:.4f} ({v['limit_dropped']:.4f}) rms {v['rms']:.1e}"
                for f, v in q["fits"].items()
            )
            print(
                f"  {q['label']:14s} theory {q['theory']}  last {q['values'][-1]:.5f}  "
                f"limit {q['limit']:.5f} ± {q['error']:.1e} "
                f"({q['best']})  exponents … {exps}\n      {forms}"
            )
    if args.markdown:
        print(markdown(analysis, record))
    print(f"\nwrote {ROOT / 'results' / 'constants_fits.json'} and {FIGURE}")


if __name__ == "__main__":
    main()
