"""Figures of an ``ngram.json`` record (:mod:`induction_ode.ngram.experiment`).

Time is gradient-flow time ``t = step × lr``; the time axes are logarithmic (``t > 0`` only).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from ..figures import TIME_LABEL, save

SELECTED = dict(color="tab:red", lw=2.4)
FULL_STYLE = dict(color="tab:purple", ls="--", lw=1.6)


def _positive(ts, *series):
    ts = np.asarray(ts, float)
    keep = ts > 0
    return (ts[keep], *[np.asarray(s, float)[keep] for s in series])


def _head_label(record: dict, h: int) -> str:
    offs = np.asarray(record["offsets"])[:, h]
    return f"head {h} (offsets {offs.min()}…{offs.max()})"


def selection_figure(record: dict, path: Path) -> Path:
    """``c_S(t)`` for every live subset on a log-time axis; ``S*`` (the dynamics' winner) thick.
    Returns ``path``."""
    tr, ph = record["trajectory"], record["phases"]
    c = np.asarray(tr["c"], float)
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    live = [i for i, alive in enumerate(record["live"]) if alive]
    colours = plt.cm.tab10(np.arange(len(live)) % 10)
    for colour, i in zip(colours, live):
        label = record["subsets"][i]
        ts, ci = _positive(tr["ts"], c[:, i])
        if i == ph["selected"]:
            offs = ", ".join(map(str, ph["selected_offsets"]))
            ax.semilogx(ts, ci, label=f"S* = {label} (offsets {offs})", **SELECTED)
        else:
            ax.semilogx(ts, ci, color=colour, lw=1.1, label=label)
    if ph["selection_time"] is not None:
        ax.axvline(ph["selection_time"], color="grey", ls=":", lw=1)
        ax.annotate(
            f"max c ≥ 0.99 at t = {ph['selection_time']:.4g}",
            (ph["selection_time"], 0.5),
            fontsize=8,
            rotation=90,
            ha="right",
        )
    ax.axhline(1 / len(live), color="grey", lw=0.8, ls="--", label="1 / (live subsets)")
    ax.set_xlabel(TIME_LABEL + " (= step × lr)")
    ax.set_ylabel("feature weight $c_S = C_S^2/\\sum_{live} C^2$")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Phase 1: the feed-forward layer selects a parent set")
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path)


def attention_figure(record: dict, path: Path) -> Path:
    """Each head's layer-1 attention over its offsets, at ``t = 0`` and at the end; returns
    ``path``."""
    before = np.asarray(record["initial"]["head_attention"], float)
    after = np.asarray(record["final"]["head_attention"], float)
    offsets = np.asarray(record["offsets"])
    heads = before.shape[0]
    fig, axes = plt.subplots(1, heads, figsize=(3.2 * heads, 3.4), layout="constrained", squeeze=False)
    t_end = record["trajectory"]["ts"][-1]
    for h, ax in enumerate(axes[0]):
        x = offsets[:, h]
        ax.bar(x - 0.18, before[h], width=0.36, color="lightgrey", edgecolor="black", label="t = 0")
        ax.bar(x + 0.18, after[h], width=0.36, color="tab:blue", label=f"t = {t_end:.4g}")
        ax.set_xticks(x)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("offset m (tokens back)")
        mark = " — in S*" if h in record["phases"]["selected_heads"] else ""
        ax.set_title(_head_label(record, h) + mark, fontsize=9)
    axes[0, 0].set_ylabel("layer-1 attention softmax$_m\\, w_h(m)$")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Phase 2: each head's attention over offsets, before and after training")
    return save(fig, path)


def growth_figure(record: dict, path: Path) -> Path:
    """``a(t)`` on a log-time axis with the fit ``k·log t + b`` over its window; returns ``path``."""
    tr, fit = record["trajectory"], record["phases"]["a_fit"]
    ts, a = _positive(tr["ts"], tr["a"])
    fig, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
    ax.semilogx(ts, a, color="black", lw=1.8, label=record.get("model", "reduced model"))
    if fit is not None:
        grid = np.geomspace(fit["t_lo"], fit["t_hi"], 50)
        ax.semilogx(
            grid,
            fit["k"] * np.log(grid) + fit["b"],
            color="tab:orange",
            ls="--",
            lw=2,
            label=f"fit k·ln t + b: k = {fit['k']:.3f} ± {fit['k_err']:.3f}",
        )
        ax.axvspan(fit["t_lo"], fit["t_hi"], color="tab:orange", alpha=0.08)
    full = record.get("full")
    if full is not None:
        tf, af = _positive(full["trajectory"]["ts"], full["trajectory"]["a"])
        ax.semilogx(tf, af, label="full model", **FULL_STYLE)
    ax.set_xlabel(TIME_LABEL + " (= step × lr)")
    ax.set_ylabel("layer-2 scale a")
    ax.set_title("Phase 3: a(t) grows like log t")
    ax.legend(fontsize=8)
    return save(fig, path)


def phases_figure(record: dict, path: Path) -> Path:
    """The training loss on a log-time axis with the three phases marked; returns ``path``."""
    tr, ph = record["trajectory"], record["phases"]
    ts, losses = _positive(tr["ts"], tr["losses"])
    fig, ax = plt.subplots(figsize=(6.5, 4.0), layout="constrained")
    ax.semilogx(
        ts, losses, color="black", lw=1.8, label=f"training loss ({record['config']['arch']['loss']})"
    )
    t1, t2, fit = ph["selection_time"], ph["t_concentration"], ph["a_fit"]
    if t1 is not None:
        ax.axvline(t1, color="tab:red", ls="--", lw=1.2, label=f"1: parent selection, t = {t1:.4g}")
    if t2 is not None:
        ax.axvline(
            t2, color="tab:blue", ls="--", lw=1.2, label=f"2: heads' concentration half-time, t = {t2:.4g}"
        )
    if fit is not None:
        ax.axvspan(fit["t_lo"], fit["t_hi"], color="tab:orange", alpha=0.12, label="3: a(t) log fit window")
    ax.set_xlabel(TIME_LABEL + " (= step × lr)")
    ax.set_ylabel("mean training loss")
    ax.set_title("The three phases of training")
    ax.legend(fontsize=8)
    return save(fig, path)


def full_figure(record: dict, path: Path) -> Path:
    """Full against reduced model on the same sample: ``c_{S*}(t)`` and the loss; returns ``path``."""
    red, full = record["trajectory"], record["full"]["trajectory"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.0), layout="constrained")
    for tr, ph, style, name in (
        (red, record["phases"], dict(color="black", lw=1.8), "reduced"),
        (full, record["full"]["phases"], FULL_STYLE, "full"),
    ):
        c = np.asarray(tr["c"], float)[:, ph["selected"]]
        ts, c, losses = _positive(tr["ts"], c, tr["losses"])
        ax1.semilogx(ts, c, label=f"{name}: S* = {ph['selected_label']}", **style)
        ax2.semilogx(ts, losses, label=name, **style)
    ax1.set_xlabel(TIME_LABEL)
    ax1.set_ylabel("weight of the selected subset $c_{S*}$")
    ax1.set_title("Parent selection, full and reduced model")
    ax1.legend(fontsize=8)
    ax2.set_xlabel(TIME_LABEL)
    ax2.set_ylabel("mean training loss")
    ax2.set_title("Training loss on the same sample")
    ax2.legend(fontsize=8)
    return save(fig, path)


def ngram_figures(record: dict, out: Path) -> list[Path]:
    """All figures of a record, written into ``out``; returns the paths. A record without the
    reduced model (``steps = 0``) is drawn from its full model."""
    out = Path(out)
    if "trajectory" not in record:
        record = {**record, **record["full"], "full": None, "model": "full model"}
    paths = [
        selection_figure(record, out / "ngram_selection.png"),
        attention_figure(record, out / "ngram_attention.png"),
        growth_figure(record, out / "ngram_growth.png"),
        phases_figure(record, out / "ngram_phases.png"),
    ]
    if record.get("full") is not None:
        paths.append(full_figure(record, out / "ngram_full.png"))
    return paths


def sweep_figure(sweeps: dict, path: Path) -> Path:
    """One column per swept setting (``{name: rows}`` from :func:`induction_ode.ngram.sweeps.sweep`):
    the parent-selection time (top) and the ``a(t)`` log slope ``k`` (bottom), each seed a dot,
    the mean a line, the selected parents' offsets under each value. Returns ``path``."""
    names = list(sweeps)
    fig, axes = plt.subplots(
        2, len(names), figsize=(4.0 * len(names), 6.2), layout="constrained", squeeze=False
    )
    symbols = {"length": "L (tokens)", "order": "n", "degree": "D", "vocab_size": "S", "alpha": "α"}
    for col, name in enumerate(names):
        rows = sweeps[name]
        x = np.array([r["value"] for r in rows], float)
        for row_i, (key, label) in enumerate(
            (("selection_time", "parent-selection time $t_1$"), ("k", "slope k of a(t) = k ln t + b"))
        ):
            ax = axes[row_i, col]
            vals = np.array([[np.nan if s[key] is None else s[key] for s in r["seeds"]] for r in rows], float)
            for j in range(vals.shape[1]):
                ax.plot(x, vals[:, j], "o", color="grey", ms=3.5, alpha=0.7)
            seen = np.isfinite(vals)
            mean = np.where(seen.any(1), np.nansum(vals, axis=1) / np.maximum(seen.sum(1), 1), np.nan)
            ax.plot(x, mean, "-", color="black", lw=1.5, label="mean over seeds (where reached)")
            if name == "length":
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xticks(x, [f"{v:g}" for v in x])
            ax.set_xlabel(symbols.get(name, name))
            ax.set_ylabel(label + (f"\n({TIME_LABEL})" if key == "selection_time" else ""))
            ax.grid(True, alpha=0.3)
        ticks = []  # under each value, below the axis (not over the dots): the offsets of S*
        for r, xv in zip(rows, x):
            picked = sorted({tuple(s["selected_offsets"]) for s in r["seeds"]})
            lines = [f"{xv:g}", *("{" + ",".join(map(str, p)) + "}" for p in picked)]
            if all(s["selection_time"] is None for s in r["seeds"]):
                lines.append("no $t_1$")
            ticks.append("\n".join(lines))
        axes[0, col].set_xticks(x, ticks, fontsize=8)
        axes[0, col].set_title(f"sweep over {symbols.get(name, name)}", fontsize=10)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Under each value of the top row: the offsets of the selected parents S* (over the seeds)")
    return save(fig, path)
