"""The ODE commands' figures (sweep, simulate, clamp, crosscheck), each drawn from a JSON record
(see :mod:`induction_ode.records`).

Axes carry units: time is gradient-flow time (dimensionless; ``t = n·η`` after ``n`` steps of
full-weight gradient descent at learning rate ``η`` under the weights metric), and context
length ``T = 2N + 1`` is in tokens.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .figures import TIME_LABEL, save
from .subspace import KEY_PARAMS, PARAM_NAMES

GREEK = {"alpha": "α", "beta": "β", "gamma": "γ"}
KEY_COLOURS = {"alpha3": "tab:red", "beta2": "tab:blue", "gamma3": "tab:green"}


def pretty(name: str) -> str:
    """``"alpha3"`` → ``"α3"``."""
    for word, letter in GREEK.items():
        if name.startswith(word):
            return letter + name[len(word) :]
    return name


def _length_axis(ax, seq, min_gap: float = 0.08) -> None:
    """Label a log-scaled context-length axis at the lengths themselves (no overlapping minor
    labels such as "3×10¹4×10¹"): plain integers, from the largest down, skipping a length
    closer than ``min_gap`` of the axis' log-range to the last labelled one (so that labels of
    neighbouring lengths such as 289, 301, 305 do not run into each other)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator, ScalarFormatter

    seq = np.unique(np.asarray(seq, float))
    logs = np.log10(seq)
    gap = min_gap * max(logs[-1] - logs[0], 1e-12)
    ticks = [seq[-1]]
    for value, log in zip(seq[::-1][1:], logs[::-1][1:]):
        if np.log10(ticks[-1]) - log >= gap:
            ticks.append(value)
    ax.xaxis.set_major_locator(FixedLocator(sorted(ticks)))
    formatter = ScalarFormatter()
    formatter.set_scientific(False)
    ax.xaxis.set_major_formatter(formatter)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def scaling_figure(record: dict, path: Path) -> Path:
    """Left: log-log ``t*`` against ``T`` with the fitted power law and a ``T²`` reference line.
    Right: ``t*/T²`` against ``T`` (flat if and only if the growth is exactly quadratic)."""
    rows = sorted(record["lengths"], key=lambda r: r["seq_len"])
    seq = np.array([r["seq_len"] for r in rows], float)
    t_star = np.array([np.nan if r["t_star"] is None else r["t_star"] for r in rows], float)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    ax.loglog(seq, t_star, "o", color="black", label="ODE: first time $L \\leq L(0)/2$")
    fit = record.get("fit")
    if fit is not None:
        used = seq[np.asarray(fit["used"], int)]
        grid = np.geomspace(used.min(), used.max(), 50)
        err = "" if fit["p_err"] is None else f" ± {fit['p_err']:.2f}"
        ax.loglog(
            grid,
            fit["c"] * grid ** fit["p"],
            "-",
            color="tab:blue",
            label=f"fit over T = {int(used.min())}…{int(used.max())}: $T^{{{fit['p']:.2f}}}${err}",
        )
    finite = np.isfinite(t_star)
    if not finite.all():  # no head before t_max: t* > t_max, drawn as a lower bound
        t_max = np.array([r["t_max"] for r in rows], float)
        ax.loglog(
            seq[~finite], t_max[~finite], "^", mfc="none", color="tab:red", label="no head before $t_{max}$"
        )
    if finite.any():
        anchor = np.flatnonzero(finite)[-1]
        grid = np.geomspace(seq.min(), seq.max(), 50)
        ax.loglog(
            grid,
            t_star[anchor] * (grid / seq[anchor]) ** 2,
            "--",
            color="grey",
            label="$\\propto T^2$ reference",
        )
    _length_axis(ax, seq)
    ax.set_xlabel("context length T (tokens)")
    ax.set_ylabel(f"emergence time t* ({TIME_LABEL})")
    ax.set_title("Emergence time against context length")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, which="both", alpha=0.3)
    ax2.semilogx(seq, t_star / seq**2, "o-", color="black")
    if not finite.all():  # at the top edge: t*/T² is beyond any finite scale there
        ax2.plot(
            seq[~finite],
            np.full((~finite).sum(), 0.97),
            "^",
            mfc="none",
            color="tab:red",
            transform=ax2.get_xaxis_transform(),
            label="no head before $t_{max}$",
        )
        ax2.legend(fontsize=8, loc="upper left")
    _length_axis(ax2, seq)
    ax2.set_xlabel("context length T (tokens)")
    ax2.set_ylabel("t* / T²")
    ax2.set_title("Compensated: flat for a quadratic law")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.set_ylim(0, 1.15 * np.nanmax(t_star / seq**2) if finite.any() else None)  # room for markers
    return save(fig, path)


def _t_star_rows(record: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(T, t*)`` of a sweep record, sorted by ``T`` (``nan`` where not reached)."""
    rows = sorted(record["lengths"], key=lambda r: r["seq_len"])
    seq = np.array([r["seq_len"] for r in rows], float)
    return seq, np.array([np.nan if r["t_star"] is None else r["t_star"] for r in rows], float)


EXPONENT_AXIS_MAX = 4.0
"""The local-exponent axis of :func:`compare_figure` stops here (the laws in question are 2)."""


def compare_figure(records: dict[str, dict], path: Path) -> Path:
    """Several sweeps on one figure (e.g. both layer-1 masks, or 19 against 3 free parameters).

    Left: ``t*/T²`` against ``T``. Right: the local exponent ``d log t*/d log T`` between
    neighbouring lengths, drawn at their geometric mean, with the quadratic law as a line.
    ``records`` maps a legend label to a sweep record.
    """
    from .scaling import local_exponents

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    all_seq = []
    for i, (label, record) in enumerate(records.items()):
        seq, t_star = _t_star_rows(record)
        ok = np.isfinite(t_star)
        colour = plt.cm.tab10(i % 10)
        ax.semilogx(seq[ok], t_star[ok] / seq[ok] ** 2, "o-", color=colour, label=label)
        if ok.sum() >= 2:
            s, t = seq[ok], t_star[ok]
            ax2.semilogx(np.sqrt(s[1:] * s[:-1]), local_exponents(s, t), "o-", color=colour, label=label)
        all_seq.extend(seq)
    ax2.axhline(2.0, color="grey", ls="--", lw=1, label="quadratic")
    top = ax2.get_ylim()[1]
    if top > EXPONENT_AXIS_MAX:  # a divergence (e.g. the strict mask near N_c) would flatten the rest
        ax2.set_ylim(0, EXPONENT_AXIS_MAX)
        ax2.text(
            0.02,
            0.02,
            f"axis cut at {EXPONENT_AXIS_MAX:g}; larger exponents run off the top",
            transform=ax2.transAxes,
            fontsize=7,
            color="grey",
        )
    for a in (ax, ax2):
        _length_axis(a, all_seq)
        a.set_xlabel("context length T (tokens)")
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8)
    ax.set_ylabel("t* / T²")
    ax.set_ylim(bottom=0)
    ax.set_title("Compensated emergence time: flat for a quadratic law")
    ax2.set_ylabel("local exponent d log t* / d log T")
    ax2.set_title("Local exponent between neighbouring lengths")
    return save(fig, path)


def order_figure(record: dict, path: Path) -> Path:
    """Half-times of α3, β2, γ3 as fractions of ``t*``, against ``T`` (the learning order)."""
    rows = sorted(record["lengths"], key=lambda r: r["seq_len"])
    seq = np.array([r["seq_len"] for r in rows], float)
    t_star = np.array([np.nan if r["t_star"] is None else r["t_star"] for r in rows], float)
    fig, ax = plt.subplots(figsize=(5.5, 4.0), layout="constrained")
    for name in KEY_PARAMS:
        half = np.array([np.nan if r["half_times"][name] is None else r["half_times"][name] for r in rows])
        ax.semilogx(seq, half / t_star, "o-", color=KEY_COLOURS[name], label=f"{pretty(name)}")
    ax.axhline(1.0, color="grey", ls=":", lw=1, label="t*")
    _length_axis(ax, seq)
    ax.set_xlabel("context length T (tokens)")
    ax.set_ylabel("half-time / t*")
    ax.set_title("Order of learning: first time at half the value at 2t*")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return save(fig, path)


def clamp_figure(record: dict, path: Path) -> Path:
    """Loss curves of the unclamped run and of each clamp, with ``L(0)/2`` and ``t_plateau``."""
    curves = record["curves"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    for i, (label, c) in enumerate(curves.items()):
        style = dict(color="black", lw=2.2) if label == "none" else dict(color=colours[i % 10], lw=1.3)
        ax.plot(c["ts"], c["losses"], label="unclamped" if label == "none" else label, **style)
    ref = curves["none"]["losses"][0]
    ax.axhline(0.5 * ref, color="grey", ls=":", lw=1, label="$L(0)/2$")
    ax.axvline(record["t_plateau"], color="grey", ls="--", lw=1, label="$t_{plateau}$ = t*/2")
    if record.get("t_on"):
        ax.axvline(
            record["t_on"], color="tab:purple", ls="-.", lw=1, label=f"clamp on at t = {record['t_on']:g}"
        )
    n = record["n_pairs"]
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("population loss L")
    ax.set_title(f"Clamping subcircuits, N = {n} (T = {2 * n + 1} tokens)")
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path)


def trajectory_figures(record: dict, out: Path) -> list[Path]:
    """Loss curve (t* marked), the 19 pseudo-parameters in three panels, attention heatmaps."""
    ts = np.array(record["ts"])
    thetas = np.array(record["thetas"])
    losses = np.array(record["losses"])
    t_star = record.get("t_star")
    n = record["config"]["n_pairs"]

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(ts, losses, color="black")
    ax.axhline(0.5 * losses[0], color="grey", ls=":", lw=1, label="$L(0)/2$")
    if t_star is not None:
        ax.axvline(t_star, color="tab:red", ls="--", lw=1, label=f"t* = {t_star:.4g}")
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("population loss L")
    ax.set_title(f"Loss, N = {n} (T = {2 * n + 1} tokens)")
    ax.legend(fontsize=8)
    paths = [save(fig, out / "loss.png")]

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharex=True)
    groups = {"alpha": range(0, 3), "beta": range(3, 15), "gamma": range(15, 19)}
    for ax, (group, idx) in zip(axes, groups.items()):
        for i in idx:
            name = PARAM_NAMES[i]
            key = name in KEY_PARAMS
            ax.plot(
                ts,
                thetas[:, i],
                lw=2.2 if key else 0.9,
                color=KEY_COLOURS.get(name),
                alpha=1 if key else 0.6,
                label=pretty(name),
            )
        if t_star is not None:
            ax.axvline(t_star, color="grey", ls="--", lw=1)
        ax.set_title(f"{GREEK[group]} ({len(idx)} pseudo-parameters)")
        ax.set_xlabel(TIME_LABEL)
        ax.legend(fontsize=7, ncol=2 if len(idx) > 4 else 1)
    axes[0].set_ylabel("value")
    paths.append(save(fig, out / "parameters.png"))

    moments = record.get("attention", [])
    if moments:
        fig, axes = plt.subplots(
            2, len(moments), figsize=(3.2 * len(moments), 6.4), squeeze=False, layout="constrained"
        )
        for j, m in enumerate(moments):
            layer1, layer2 = np.array(m["layer1"]), np.array(m["layer2"])
            axes[0, j].imshow(layer1, cmap="viridis", vmin=0, vmax=1)
            axes[0, j].set_title(f"layer 1, t = {m['t']:.4g}", fontsize=9)
            axes[0, j].set_xlabel("key position s")
            axes[1, j].bar(np.arange(layer2.size), layer2, color="tab:blue")
            axes[1, j].axvline(2 * m["k"] + 1, color="tab:red", ls=":", lw=1)
            axes[1, j].set_ylim(0, 1)
            axes[1, j].set_title(f"layer 2, query row (label at {2 * m['k'] + 1})", fontsize=9)
            axes[1, j].set_xlabel("key position s")
        axes[0, 0].set_ylabel("query position t")
        axes[1, 0].set_ylabel("attention weight")
        paths.append(save(fig, out / "attention.png"))
    return paths


def crosscheck_figure(record: dict, path: Path) -> Path:
    """ODE against full-weight α3, β2, γ3, and the off-subspace fraction over time."""
    ts = np.array(record["ts"])
    full, ode = np.array(record["theta_full"]), np.array(record["theta_ode"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for name in KEY_PARAMS:
        i = PARAM_NAMES.index(name)
        ax1.plot(ts, ode[:, i], color=KEY_COLOURS[name], lw=2, label=f"{pretty(name)} ODE")
        ax1.plot(
            ts,
            full[:, i],
            color=KEY_COLOURS[name],
            ls="none",
            marker=".",
            ms=4,
            label=f"{pretty(name)} full weights",
        )
    ax1.set_xlabel(TIME_LABEL + " (= step × learning rate)")
    ax1.set_ylabel("pseudo-parameter")
    ax1.legend(fontsize=7, ncol=2)
    ax1.set_title("Full-weight gradient descent against the ODE")
    ax2.semilogy(ts[1:], np.array(record["off_subspace_fraction"])[1:], color="black")
    ax2.set_xlabel(TIME_LABEL)
    ax2.set_ylabel("off-subspace fraction ‖W − P(W)‖/‖W‖")
    ax2.set_title("Off-subspace fraction of the full weights")
    for t, style, who in ((record.get("t_star_ode"), "--", "ODE"), (record.get("t_star_full"), ":", "full")):
        if t is not None:
            ax1.axvline(t, color="grey", ls=style, lw=1)
            ax2.axvline(t, color="grey", ls=style, lw=1, label=f"t* {who} = {t:.4g}")
    ax2.legend(fontsize=8)
    return save(fig, path)


def ode_figures(record: dict, out: Path) -> list[Path]:
    """The figures of a sweep, simulate, clamp or crosscheck record, drawn into the folder ``out``;
    returns the files written."""
    kind = record.get("kind")
    if kind == "sweep":
        return [scaling_figure(record, out / "scaling.png"), order_figure(record, out / "order.png")]
    if kind == "simulate":
        return trajectory_figures(record, out)
    if kind == "clamp":
        return [clamp_figure(record, out / "clamp.png")]
    if kind == "crosscheck":
        return [crosscheck_figure(record, out / "crosscheck.png")]
    raise ValueError(f"not a sweep, simulate, clamp or crosscheck record (kind={kind!r})")
