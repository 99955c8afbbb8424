"""Figures of a ``standard.json`` record (see :mod:`induction_ode.standard.command`).

Steps are optimiser steps; losses are cross-entropy on the held-out batch (nats).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..figures import figure_legend, heat_map, save

FIGURES = ("loss.png", "heads.png", "ablation.png", "structure.png")
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
    """Held-out loss and accuracy against step for the reference and each clamp, with ``½ L0``,
    ``ln N`` and ``1/N`` marked and one legend below; returns ``path``."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    for i, run in enumerate(record["runs"]):
        ref = run["label"] == "none"
        style = dict(color="black", lw=2.2) if ref else dict(color=colours[i % 10], lw=1.3)
        name = "unclamped" if ref else run["label"]
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
    """Per-head previous-token score (layer 1) and induction strength (layer 2) of the reference
    run, each panel's legend below it; returns ``path``."""
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
    """Accuracy with only head h active and with head h removed, per layer (the reference model);
    returns ``path``."""
    table = record["ablations"]
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


def standard_figures(record: dict, out: Path) -> list[Path]:
    """The figures of a ``standard`` record, into the folder ``out``; returns the files written."""
    out = Path(out)
    paths = [loss_figure(record, out / "loss.png"), heads_figure(record, out / "heads.png")]
    if record.get("ablations"):
        paths.append(ablation_figure(record, out / "ablation.png"))
    if record.get("structure"):
        paths.append(structure_figure(record, out / "structure.png"))
    return paths
