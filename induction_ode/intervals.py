"""Means over seeds with Student-t confidence intervals.

A quantity measured once per seed (``K`` independent initialisations and batch streams) is
summarised by its sample mean and the two-sided t-interval on that mean,
``mean ± t_{(1+level)/2, K−1} · s/√K`` (``s``: the sample standard deviation). Seeds whose
value is not finite (a run that never reached its phase change) are left out and counted.

The quantile is SciPy's (``scipy.stats.t``; SciPy is a dependency of JAX, and is pinned here
too). NumPy and SciPy only: the command line's records use it without JAX.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

LEVEL = 0.95


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
        half = float(stats.t.ppf(0.5 * (1.0 + level), n - 1)) * float(np.std(x, ddof=1)) / math.sqrt(n)
        low, high = mean - half, mean + half
    else:
        low = high = float("nan")
    return dict(mean=mean, low=low, high=high, n=n, per_seed=per_seed)
