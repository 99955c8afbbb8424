"""Figures of a ``standard.json`` record (see :mod:`induction_ode.standard.command`).

Steps are optimiser steps; losses are cross-entropy on the held-out batch (nats).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..figures import figure_legend, heat_map, save

FIGURES = ("loss.png", "heads.png", "ablation.png", "structure.png", "seeds.png", "progress.png")
STEP_LABEL = "training step"
TITLES = {
    "pos_qk": "layer 1: P W_Q W_Kᵀ Pᵀ",
    "tok_qk": "layer 1: E W_Q W_Kᵀ Eᵀ",
    "match": "layer 2 match: (E W_Q)(E OV¹ W_K)ᵀ",
    "copy": "layer 2 copy: E_L W_V W_O U",
}
QUANTITIES = {
    "pos_qk": "layer-1 attention score (logit)",
    "tok_qk": "layer-1 attention score (logit)",
    "match": "layer-2 attention score (logit)",
    "copy": "contribution to the output logit",
}
"""What each block's colours stand for: pre-softmax scores, or logits of the readout."""
AXES = {
    "pos_qk": ("query position t", "key position s"),
    "tok_qk": ("query token (items, then labels)", "key token"),
    "match": ("query item", "item copied by layer 1"),
    "copy": ("input label", "output logit"),
}


def loss_figure(record: dict, path: Path) -> Path:
    """Held-out loss and accuracy against step for the reference and each clamp (every seed, the
    first one thicker), with ``½ L0``, ``ln N`` and ``1/N`` marked and one legend below; returns
    ``path``."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    labels = list(dict.fromkeys(run["label"] for run in record["runs"]))
    first = record["runs"][0].get("seed", 0)
    for run in record["runs"]:
        ref, i = run["label"] == "none", labels.index(run["label"])
        style = dict(color="black", lw=2.2) if ref else dict(color=colours[i % 10], lw=1.3)
        if run.get("seed", 0) != first:
            style.update(lw=0.6, alpha=0.5)
        name = ("unclamped" if ref else run["label"]) if run.get("seed", 0) == first else None
        ax.plot(run["steps"], run["loss"], label=name, **style)
        ax2.plot(run["steps"], run["accuracy"], label=name, **style)
    n = record["config"]["task"]["n_pairs"]
    ax.axhline(0.5 * record["loss0"], color="grey", ls=":", lw=1, label="½ L0 (phase-change bar)")
    ax.axhline(np.log(n), color="grey", ls="--", lw=1, label=f"ln N = {np.log(n):.3f}")
    ax2.axhline(1.0 / n, color="grey", ls="--", lw=1, label="1/N (chance in context)")
    if record["config"].get("clamp_from"):
        for a in (ax, ax2):
            a.axvline(record["config"]["clamp_from"], color="tab:purple", ls="-.", lw=1)
    ax.set_xlabel(STEP_LABEL)
    ax.set_ylabel("held-out loss (nats)")
    ax.set_title(f"Clamps in a standard transformer, N = {n} (T = {2 * n + 1})")
    ax2.set_xlabel(STEP_LABEL)
    ax2.set_ylabel("held-out accuracy")
    ax2.set_ylim(0, 1.02)
    ax2.set_title("Accuracy on held-out items")
    figure_legend(fig, (ax, ax2), ncol=4, fontsize=8)
    return save(fig, path)


def heads_figure(record: dict, path: Path) -> Path:
    """Per-head previous-token score (layer 1) and induction strength (layer 2) of the first
    seed's reference run, each panel's legend below it; returns ``path``."""
    run = next(r for r in record["runs"] if r["label"] == "none")
    steps = np.asarray(run["steps"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained", sharex=True)
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    prev, ind = np.asarray(run["previous_token"]), np.asarray(run["induction"])
    for h in range(prev.shape[1]):
        ax1.plot(steps, prev[:, h], color=colours[h % 10], label=f"L1H{h}")
        ax2.plot(steps, ind[:, h], color=colours[h % 10], label=f"L2H{h}")
    ax1.set_ylabel("previous-token score (label → its item)")
    ax1.set_title("Layer-1 heads")
    ax2.set_ylabel("induction strength (correct − mean other label)")
    ax2.set_title("Layer-2 heads")
    for a in (ax1, ax2):
        a.set_xlabel(STEP_LABEL)
        a.axhline(0.5, color="grey", ls=":", lw=1)
        a.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.14))  # below the curves
    return save(fig, path)


def ablation_figure(record: dict, path: Path) -> Path:
    """Accuracy with only head h active and with head h removed, per layer (the first seed's
    reference model); returns ``path``."""
    table = record["ablations"]["per_seed"][0]
    n = record["config"]["task"]["n_pairs"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained", sharey=True)
    for layer, ax in zip((1, 2), axes):
        only, removed = table[f"layer{layer}"]["only"], table[f"layer{layer}"]["removed"]
        x = np.arange(len(only))
        ax.bar(x - 0.2, only, 0.4, color="tab:blue", label="only head h")
        ax.bar(x + 0.2, removed, 0.4, color="tab:orange", label="head h removed")
        ax.axhline(table["full"], color="black", lw=1, label=f"all heads ({table['full']:.3f})")
        ax.axhline(1.0 / n, color="grey", ls="--", lw=1, label="1/N")
        none = table[f"no_layer{layer}"]
        ax.axhline(none, color="tab:red", ls=":", lw=1, label=f"layer {layer} removed ({none:.3f})")
        ax.set_xticks(x, [f"L{layer}H{h}" for h in x])
        ax.set_title(f"Layer {layer} ablations (values set to 0)")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    axes[0].set_ylabel("held-out accuracy")
    axes[0].set_ylim(0, 1.02)
    return save(fig, path)


def structure_figure(record: dict, path: Path) -> Path:
    """Heat maps of the four blocks, initial (top) and trained (bottom), with their scores and
    colour bars; returns ``path``."""
    st = record["structure"]
    names = [n for n in ("pos_qk", "tok_qk", "match", "copy") if st["trained"].get(n) is not None]
    fig, axes = plt.subplots(
        2, len(names), figsize=(4.4 * len(names), 8.4), squeeze=False, layout="constrained"
    )
    for j, name in enumerate(names):
        for i, when in enumerate(("initial", "trained")):
            block = st[when][name]
            ax = axes[i, j]
            m = np.asarray(block["matrix"], float)
            if name == "pos_qk":
                m = np.where(np.tril(np.ones(m.shape, bool)), m, np.nan)
            lim = np.nanmax(np.abs(m)) or 1.0
            heat_map(ax, m, QUANTITIES[name], cmap="RdBu_r", vmin=-lim, vmax=lim)
            value = block["score"]
            score = "— (zero block)" if value is None or value != value else f"{value:.2f}"
            head = f"L{1 if name in ('pos_qk', 'tok_qk') else 2}H{block['head']}"
            ax.set_title(f"{when}: {TITLES[name]}\n{head}, on {block['predicted']}: {score}", fontsize=9)
            ax.set_ylabel(AXES[name][0], fontsize=9)
            ax.set_xlabel(AXES[name][1], fontsize=9)
    return save(fig, path)


def _error_bars(ax, x, intervals, fmt="o", **style):
    """Means with their 95% intervals as error bars at ``x``, and each seed's value as a dot."""
    mean = np.array([iv["mean"] for iv in intervals], float)
    low = np.array([iv["low"] for iv in intervals], float)
    high = np.array([iv["high"] for iv in intervals], float)
    yerr = np.nan_to_num(np.stack([mean - low, high - mean]))
    ax.errorbar(x, mean, yerr=yerr, fmt=fmt, capsize=4, **style)
    for xi, iv in zip(x, intervals):
        values = np.asarray(iv["per_seed"], float)  # a record's null (no value) reads as nan
        ax.plot(np.full(len(values), xi) + 0.12, values, ".", color="grey", ms=3)


def seeds_figure(record: dict, path: Path) -> Path:
    """The summaries over seeds, as means with 95% t-intervals (error bars) and each seed's
    value (grey dots): the clamp table's ratios beside the ODE's, the unclamped models' ranked
    per-head scores, and the structure scores; returns ``path``."""
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    rows = record["comparison"]
    x = np.arange(len(rows))
    _error_bars(ax1, x, [r["ratio"] for r in rows], color="tab:blue", label="standard transformer")
    ode = [(i, r["ode_ratio"]) for i, r in enumerate(rows) if r["ode_ratio"] is not None]
    if ode:
        ax1.plot(*zip(*ode), "s", color="tab:red", mfc="none", label="ODE")
    ax1.set_xticks(x, [r["clamp"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax1.set_ylabel("phase-change step / unclamped step")
    ax1.set_title("Clamps: mean of per-seed ratios")
    heads = record["heads"]["summary"]
    for name, colour, label in (
        ("induction", "tab:green", "induction strength (L2)"),
        ("previous_token", "tab:purple", "previous-token score (L1)"),
    ):
        ranks = heads[name]["ranked"]
        _error_bars(ax2, np.arange(len(ranks)) + 1, ranks, color=colour, label=label)
    ax2.set_xlabel("head rank within a seed (1 = best)")
    ax2.set_ylabel("score at the last step")
    ax2.set_title("Unclamped model, per head")
    blocks = [(n, b) for n, b in record["structure"]["summary"].items() if b is not None]
    xb = np.arange(len(blocks))
    for when, colour, shift in (("initial", "tab:grey", -0.2), ("trained", "tab:orange", 0.2)):
        _error_bars(ax3, xb + shift, [b[when] for _, b in blocks], color=colour, label=when)
    ax3.set_xticks(xb, [n for n, _ in blocks])
    ax3.set_ylabel("structure score (fraction on predicted entries)")
    ax3.set_title("Weight structure, headline head")
    k = len(record["config"]["seeds"])
    fig.suptitle(f"Means with 95% t-intervals over {k} seeds (dots: single seeds)")
    for a in (ax1, ax2, ax3):
        a.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    return save(fig, path)


MEASURES = {
    "gamma3": ("γ̃3 (copy)", "tab:red"),
    "beta2": ("β̃2 (match)", "tab:blue"),
    "alpha3": ("α̃3 (previous token)", "tab:green"),
}
"""Musat et al.'s progress measures, in the ODE's order of emergence: label and colour."""


def progress_figure(record: dict, path: Path) -> Path:
    """Musat et al.'s progress measures of the unclamped model (best head pair of each seed):
    their normalised progress against step / phase-change step, and the steps at which they
    reach 0.5 and 0.1 of their value at 2 step* (means with 95% t-intervals over seeds), with
    the ODE's half-times / t* under the same loss where the record has them; returns ``path``."""
    prog = record["progress"]
    steps = np.asarray(prog["steps"], float)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    ode = prog.get("ode")
    for name, (label, colour) in MEASURES.items():
        reached = [s for s in prog["per_seed"] if s["phase_step"] is not None and s["phase_step"] > 0]
        for i, seed in enumerate(reached):
            ax1.plot(
                steps / seed["phase_step"],
                np.asarray(seed["normalised"][name], float),
                color=colour,
                lw=1,
                alpha=0.7,
                label=label if i == 0 else None,
            )
        if ode is not None:
            ax1.axvline(ode["relative"][name], color=colour, ls="--", lw=1)
    for level in (0.5, 0.1):
        ax1.axhline(level, color="grey", ls=":", lw=1, label="thresholds 0.5, 0.1" if level == 0.5 else None)
    ax1.axvline(1.0, color="black", lw=0.8)
    ax1.set_xlim(0, 2.5)
    ax1.set_ylim(-0.3, 1.5)
    ax1.set_xlabel("training step / phase-change step s*")
    ax1.set_ylabel("(x − x(0)) / (x(2 s*) − x(0))")
    ode_text = f"; dashed: ODE half-times / t* ({record['config']['train'].get('loss', 'ce')})" if ode else ""
    ax1.set_title("Progress of the best head pair, each seed with a phase change" + ode_text, fontsize=9)
    x = np.arange(len(MEASURES))
    for fraction, shift, marker in (("0.5", -0.12, "o"), ("0.1", 0.12, "^")):
        intervals = [prog["summary"][fraction]["relative"][n] for n in MEASURES]
        _error_bars(ax2, x + shift, intervals, fmt=marker, label=f"reaches {fraction} of x(2 s*)")
    if ode is not None:
        times = [ode["relative"][n] for n in MEASURES]
        ax2.plot(x, times, "s", color="black", mfc="none", label="ODE: half of x(2 t*)")
    ax2.set_xticks(x, [MEASURES[n][0] for n in MEASURES])
    ax2.set_ylabel("emergence step / s*  (ODE: time / t*)")
    ax2.set_title(f"Emergence, mean and 95% t-interval over {len(prog['per_seed'])} seeds", fontsize=9)
    for a in (ax1, ax2):
        a.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)
    return save(fig, path)


def standard_figures(record: dict, out: Path) -> list[Path]:
    """The figures of a ``standard`` record, into the folder ``out``; returns the files written."""
    out = Path(out)
    paths = [loss_figure(record, out / "loss.png"), heads_figure(record, out / "heads.png")]
    if record.get("ablations"):
        paths.append(ablation_figure(record, out / "ablation.png"))
    if record.get("structure"):
        paths.append(structure_figure(record, out / "structure.png"))
    if len(record["config"].get("seeds", ())) > 1:
        paths.append(seeds_figure(record, out / "seeds.png"))
    if record.get("progress"):
        paths.append(progress_figure(record, out / "progress.png"))
    return paths
