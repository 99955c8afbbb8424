"""Figures of a ``ladder.json`` record (see :mod:`induction_ode.ladder.command`): the emergence
step against ``T`` per rung, and the order of the progress measures per rung and length."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..figures import figure_legend, heat_map, save
from ..standard.command import interval_text

FIGURES = ("ladder_steps.png", "ladder_order.png")
SHORT = {"alpha3": "α", "beta2": "β", "gamma3": "γ"}


def _in_steps(rung: dict, lr: float, key: str) -> np.ndarray:
    """``key`` (``"mean"``, ``"low"``, ``"high"``) of each point's step; R0's time ``t*`` as the
    plain-GD steps ``t*/lr`` that match it."""
    scale = 1.0 / lr if rung["family"] == "ode" else 1.0
    values = [p["step"].get(key) for p in rung["points"]]
    return np.array([np.nan if v is None else v * scale for v in values], float)


def steps_figure(record: dict, path: Path) -> Path:
    """Emergence step against ``T`` on log axes, one line per rung with its 95 % interval bars
    and its exponent in the legend; returns ``path``."""
    fig, ax = plt.subplots(figsize=(7.5, 5.2), layout="constrained")
    lr = record["config"]["lr"]
    for i, rung in enumerate(record["rungs"]):
        seq = np.array([p["seq_len"] for p in rung["points"]], float)
        mean = _in_steps(rung, lr, "mean")
        low, high = _in_steps(rung, lr, "low"), _in_steps(rung, lr, "high")
        err = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])
        label = f"{rung['name']}: p = {interval_text(rung['exponent']['seeds'], '.2f')}"
        ode = rung["family"] == "ode"
        style = dict(color="black", lw=2.2, marker="s") if ode else dict(marker="o", lw=1.3)
        ax.errorbar(seq * (1 + 0.012 * i), mean, yerr=err, capsize=3, label=label, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T = 2N + 1 (tokens)")
    ax.set_ylabel(f"emergence step (loss ≤ ½ L0); R0: t*/lr, lr = {lr:g}")
    ax.set_title("The ladder: emergence step against T (mean, 95% interval over seeds)")
    figure_legend(fig, [ax], ncol=3, fontsize=8)
    return save(fig, path)


def order_figure(record: dict, path: Path) -> Path:
    """Rung × length: the fraction of seeds whose order is the ODE's (γ3, β2, α3), with the
    majority order written in each cell; returns ``path``."""
    rungs = record["rungs"]
    lengths = record["config"]["n_pairs"]
    frac = np.array([r["ode_order_fraction"] for r in rungs], float)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(lengths), 1.2 + 0.55 * len(rungs)), layout="constrained")
    heat_map(ax, frac, "fraction of seeds with γ3 < β2 < α3", cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for i, rung in enumerate(rungs):
        for j, point in enumerate(rung["points"]):
            text = "".join(SHORT.get(n.strip(" ?"), "?") for n in point["order"].split("<"))
            ax.text(j, i, text, ha="center", va="center", color="white" if frac[i, j] < 0.6 else "black")
    ax.set_xticks(range(len(lengths)), [f"N={n}" for n in lengths])
    ax.set_yticks(range(len(rungs)), [r["name"] for r in rungs])
    ax.set_title("Order of the progress measures (majority, first to last)")
    return save(fig, path)


def ladder_figures(record: dict, out: Path) -> list[Path]:
    """Both figures of a ladder record into ``out``; returns their paths."""
    out = Path(out)
    return [steps_figure(record, out / FIGURES[0]), order_figure(record, out / FIGURES[1])]
