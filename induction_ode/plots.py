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

from .figures import TIME_LABEL, figure_legend, heat_map, save
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
    Right: ``t*/T²`` against ``T`` (flat if and only if the growth is exactly quadratic). Returns
    ``path``."""
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
    ``records`` maps a legend label to a sweep record. Returns ``path``.
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
    """Half-times of α3, β2, γ3 as fractions of ``t*``, against ``T`` (the learning order);
    returns ``path``."""
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
    """Loss curves of the unclamped run and of each clamp, with ``L(0)/2`` and ``t_plateau``;
    returns ``path``."""
    curves = record["curves"]
    fig, ax = plt.subplots(figsize=(8.0, 4.2), layout="constrained")
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
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the curves
    return save(fig, path)


def _loss_figure(record: dict, path: Path) -> Path:
    """The loss curve of a simulate record with ``L(0)/2`` and ``t*`` marked; returns ``path``."""
    losses, t_star, n = record["losses"], record.get("t_star"), record["config"]["n_pairs"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    ax.plot(record["ts"], losses, color="black")
    ax.axhline(0.5 * losses[0], color="grey", ls=":", lw=1, label="$L(0)/2$")
    if t_star is not None:
        ax.axvline(t_star, color="tab:red", ls="--", lw=1, label=f"t* = {t_star:.4g}")
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("population loss L")
    ax.set_title(f"Loss, N = {n} (T = {2 * n + 1} tokens)")
    ax.legend(fontsize=8)
    return save(fig, path)


def _parameters_figure(record: dict, path: Path) -> Path:
    """The 19 pseudo-parameters of a simulate record in three panels (α, β, γ), the key ones
    thick, each panel's legend beside it (so that it covers no curve); returns ``path``."""
    ts, thetas, t_star = np.array(record["ts"]), np.array(record["thetas"]), record.get("t_star")
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharex=True, layout="constrained")
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
        ax.legend(fontsize=7, ncol=2 if len(idx) > 4 else 1, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[0].set_ylabel("value")
    return save(fig, path)


def _attention_panels(ax1, ax2, layer1, layer2, k: int):
    """One moment of the attention: the layer-1 pattern ``(T, T)`` as a heat map on ``ax1`` and
    the query's layer-2 attention ``(T,)`` as filled steps on ``ax2``, the correct label (position
    ``2k+1``) and the uniform weight ``1/T`` marked (labelled, for the caller's legend).

    Both scales are logarithmic, from ``1/(10T)`` to 1, so that weights near ``1/T`` stay
    visible at every length; entries the mask forbids (exactly 0) are left blank. Returns
    a function ``update(layer1, layer2)`` that redraws both panels for another moment."""
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import MaxNLocator, NullLocator

    size = len(layer2)
    floor = 0.1 / size
    colour_bar = heat_map(ax1, layer1, "layer-1 attention weight", cmap="viridis", norm=LogNorm(floor, 1.0))
    colour_bar.ax.yaxis.set_minor_locator(NullLocator())
    image = colour_bar.mappable
    ax1.set_xlabel("key position s")
    ax1.set_ylabel("query position t (last row: the query)")
    edges = np.arange(size + 1) - 0.5
    # filled steps with an outline: one position of many (T = 513) still shows as a spike
    steps = ax2.stairs(
        layer2, edges, baseline=floor, fill=True, fc="tab:blue", ec="tab:blue", alpha=0.7, lw=1
    )
    ax2.axvline(2 * k + 1, color="tab:red", ls=":", lw=1, label=f"correct label (position {2 * k + 1})")
    ax2.axhline(1.0 / size, color="grey", ls="--", lw=0.8, label="uniform, 1/T")
    ax2.set_xlim(-0.5, size - 0.5)
    ax2.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax2.set_yscale("log")
    ax2.yaxis.set_minor_locator(NullLocator())  # decades only: an animation redraws every tick
    ax2.set_ylim(floor, 1.0)
    ax2.set_xlabel("key position s")
    ax2.set_ylabel("query's layer-2 attention weight")

    def update(layer1, layer2):
        image.set_data(layer1)
        steps.set_data(layer2, edges, floor)

    return update


def _attention_figure(record: dict, path: Path) -> Path:
    """The attention at the record's moments (a column each): layer 1 on top, the query's
    layer 2 below; returns ``path``."""
    moments = record["attention"]
    fig, axes = plt.subplots(
        2, len(moments), figsize=(3.6 * len(moments), 6.6), squeeze=False, layout="constrained"
    )
    for j, m in enumerate(moments):
        _attention_panels(axes[0, j], axes[1, j], np.array(m["layer1"]), np.array(m["layer2"]), m["k"])
        axes[0, j].set_title(f"t = {m['t']:.4g}", fontsize=10)
        if j:  # the first column names the rows
            axes[0, j].set_ylabel("")
            axes[1, j].set_ylabel("")
    n = record["config"]["n_pairs"]
    fig.suptitle(f"Attention of the query on pair k = {moments[0]['k']}, N = {n} (T = {2 * n + 1} tokens)")
    figure_legend(fig, axes[1], ncol=2, fontsize=8)
    return save(fig, path)


def trajectory_figures(record: dict, out: Path) -> list[Path]:
    """The figures of a simulate record, into the folder ``out``: ``loss.png`` (t* marked),
    ``parameters.png`` (the 19 pseudo-parameters in three panels) and, if the record has
    attention moments, ``attention.png``; returns the files written."""
    paths = [_loss_figure(record, out / "loss.png"), _parameters_figure(record, out / "parameters.png")]
    if record.get("attention"):
        paths.append(_attention_figure(record, out / "attention.png"))
    return paths


ANIMATION_FRAMES = 40
"""Frames of :func:`attention_animation`, evenly spaced over the trajectory's saved times."""


def attention_animation(record: dict, patterns, k: int, path: Path, frames: int = ANIMATION_FRAMES) -> Path:
    """An animated GIF of the attention through training (Matplotlib's Pillow writer).

    Each frame shows the layer-1 pattern and the query's layer-2 attention at one of ``frames``
    saved times of the simulate ``record``, evenly spaced from the first to the last, titled
    with the time (and ``t/t*``) and the loss.

    Args:
        record: a simulate record (``ts``, ``thetas``, ``losses``, ``t_star``, ``config``).
        patterns: ``θ (19,) ↦ (layer1 (T, T), layer2 (T,))``, the attention of the query on
            pair ``k`` (e.g. :func:`induction_ode.attention_patterns` with ``N``, ``k`` and
            the model bound, jitted).
        k: the query's pair, whose label (position ``2k+1``) is marked.

    Returns:
        ``path``.
    """
    from matplotlib.animation import PillowWriter

    ts, losses, thetas = (np.asarray(record[key]) for key in ("ts", "losses", "thetas"))
    pick = np.unique(np.linspace(0, len(ts) - 1, frames).round().astype(int))
    n, t_star = record["config"]["n_pairs"], record.get("t_star")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    fig.get_layout_engine().set(wspace=0.1)  # the colour bar's label apart from the layer-2 axis label
    update = _attention_panels(ax1, ax2, *map(np.asarray, patterns(thetas[pick[0]])), k)
    figure_legend(fig, [ax2], ncol=2, fontsize=8)

    def show(j):
        update(*map(np.asarray, patterns(thetas[j])))
        when = f"t = {ts[j]:.4g}" + ("" if t_star is None else f" = {ts[j] / t_star:.2f} t*")
        fig.suptitle(f"N = {n} (T = {2 * n + 1} tokens), {when}, loss L = {losses[j]:.4f}")

    show(pick[0])
    fig.canvas.draw()
    fig.set_layout_engine("none")  # laid out once: the frames differ only in data and title
    writer = PillowWriter(fps=8)
    with writer.saving(fig, path, dpi=80):
        for j in pick:
            show(j)
            writer.grab_frame()
    plt.close(fig)
    return path


def crosscheck_figure(record: dict, path: Path) -> Path:
    """ODE against full-weight α3, β2, γ3, and the off-subspace fraction over time; returns
    ``path``."""
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
