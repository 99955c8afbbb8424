"""Means over seeds with Student-t confidence intervals.

A quantity measured once per seed (``K`` independent initialisations and batch streams) is
summarised by its sample mean and the two-sided t-interval on that mean,
``mean ± t_{(1+level)/2, K−1} · s/√K`` (``s``: the sample standard deviation). Seeds whose
value is not finite (a run that never reached its phase change) are left out and counted.

Pure Python and NumPy: the command line's records use it without JAX.
"""

from __future__ import annotations

import math

import numpy as np

LEVEL = 0.95


def t_cdf(x: float, df: int) -> float:
    """``P(T ≤ x)`` for Student's t with integer ``df ≥ 1`` degrees of freedom.

    The closed forms of Abramowitz & Stegun 26.7.3–26.7.4 (a finite sum, exact to rounding).
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    theta = math.atan2(x, math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2:  # odd: 2/π (θ + sin θ (cos θ + (2/3) cos³ θ + …))
        term, total = c, 0.0 if df == 1 else c
        for k in range(3, df - 1, 2):
            term *= c * c * (k - 1) / k
            total += term
        a = (2 / math.pi) * (theta + s * total)
    else:  # even: sin θ (1 + ½ cos² θ + (1·3)/(2·4) cos⁴ θ + …)
        term, total = 1.0, 1.0
        for k in range(2, df - 1, 2):
            term *= c * c * (k - 1) / k
            total += term
        a = s * total
    return 0.5 * (1.0 + a)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on :func:`t_cdf`)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > p:
        lo *= 2.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * max(1.0, abs(mid)):
            break
    return 0.5 * (lo + hi)


def mean_interval(values, level: float = LEVEL) -> dict:
    """The mean of the finite ``values`` (one per seed) and its two-sided t-interval.

    Returns ``{"mean", "low", "high", "n", "per_seed"}``: ``n`` counts the finite values;
    ``low = high = mean`` when they all agree, ``nan`` bounds with fewer than two, and ``nan``
    everywhere with none. ``per_seed`` keeps every value (non-finite ones as ``nan``).
    """
    per_seed = [float("nan") if v is None else float(v) for v in values]
    x = np.asarray([v for v in per_seed if math.isfinite(v)], float)
    n = int(x.size)
    mean = float(np.mean(x)) if n else float("nan")
    if n >= 2:
        half = t_quantile(0.5 * (1.0 + level), n - 1) * float(np.std(x, ddof=1)) / math.sqrt(n)
        low, high = mean - half, mean + half
    else:
        low = high = float("nan")
    return dict(mean=mean, low=low, high=high, n=n, per_seed=per_seed)
