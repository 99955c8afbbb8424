"""The three phases of training, measured on a trajectory (NGRAM.md, "What the theory predicts").

1. Parent selection: the first recorded time at which ``max_S c_S ≥ 0.99``, and that subset.
2. Concentration: each head's layer-1 attention on its best offset, over time; its half-time
   is the first recorded time at which it has made half of its change over the run.
3. Growth of ``a``: a least-squares fit ``a(t) = k·log t + b`` over the late window.

Times are gradient-flow times; "first recorded time" is resolved to the trajectory's grid
(gradient descent: every step for the first 100 steps, then 200 log-spaced steps; the flow:
201 evenly spaced times up to ``min(t_end, 100)``, then 200 log-spaced).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SELECTION_LEVEL = 0.99


def selection(ts, c, level: float = SELECTION_LEVEL) -> tuple[float, int]:
    """First time with ``max_S c_S(t) ≥ level`` (``nan`` if never) and the subset that wins then
    (the final argmax if never). ``c``: ``(R, n_subsets)``."""
    ts, c = np.asarray(ts, float), np.asarray(c, float)
    top = np.max(c, axis=1)
    hit = np.flatnonzero(top >= level)
    if hit.size == 0:
        return float("nan"), int(np.argmax(c[-1]))
    return float(ts[hit[0]]), int(np.argmax(c[hit[0]]))


def half_time(ts, values) -> float:
    """First time at which ``values`` has made half of its change from ``values[0]`` to
    ``values[-1]`` (``nan`` if it does not change)."""
    ts, values = np.asarray(ts, float), np.asarray(values, float)
    change = values[-1] - values[0]
    if change == 0:
        return float("nan")
    progress = (values - values[0]) / change
    return float(ts[np.flatnonzero(progress >= 0.5)[0]])


class LogFit(NamedTuple):
    """``a(t) = k·log t + b`` by least squares over ``t_lo ≤ t ≤ t_hi`` (``n`` points).

    ``k_err`` is the standard error of ``k`` from the fit residuals; the residuals are
    systematic (not noise) wherever ``a`` is not exactly logarithmic, so read ``k_err``
    together with ``k_early`` and ``k_late``, the slopes fitted over the first and the second
    half of the window in ``log t``.
    """

    k: float
    k_err: float
    b: float
    t_lo: float
    t_hi: float
    n: int
    k_early: float
    k_late: float


def _slope(x, y):
    (k, b), res, *_ = np.polyfit(x, y, 1, full=True)
    err = (
        np.sqrt(float(res[0]) / (x.size - 2) / np.sum((x - x.mean()) ** 2))
        if x.size > 2 and res.size
        else 0.0
    )
    return float(k), float(err), float(b)


def fit_log_growth(ts, a, *, window: tuple[float, float] | None = None) -> LogFit:
    """Fit ``a(t) = k·log t + b`` over ``window`` (default: the last decade, ``[t_end/10, t_end]``).

    Raises ``ValueError`` with fewer than four recorded points in the window.
    """
    ts, a = np.asarray(ts, float), np.asarray(a, float)
    t_end = ts[-1]
    lo, hi = window if window is not None else (t_end / 10, t_end)
    sel = (ts >= lo) & (ts <= hi) & (ts > 0)
    if sel.sum() < 4:
        raise ValueError(f"the log fit needs at least 4 recorded times in [{lo:g}, {hi:g}], got {sel.sum()}")
    x, y = np.log(ts[sel]), a[sel]
    k, err, b = _slope(x, y)
    mid = 0.5 * (x[0] + x[-1])
    early, late = x <= mid, x >= mid
    k_early = _slope(x[early], y[early])[0] if early.sum() >= 2 else float("nan")
    k_late = _slope(x[late], y[late])[0] if late.sum() >= 2 else float("nan")
    return LogFit(k, err, b, float(ts[sel][0]), float(ts[sel][-1]), int(sel.sum()), k_early, k_late)
