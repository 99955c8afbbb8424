"""Power laws in context length: local exponents and a least-squares fit ``t* = c·T^p``."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


def local_exponents(seq_len, t_star) -> np.ndarray:
    """``log(t_{i+1}/t_i) / log(T_{i+1}/T_i)`` between neighbouring lengths; shape ``(L-1,)``."""
    seq_len, t_star = np.asarray(seq_len, float), np.asarray(t_star, float)
    return np.diff(np.log(t_star)) / np.diff(np.log(seq_len))


class PowerLawFit(NamedTuple):
    """``t* = c·T^p`` fitted by least squares in log-log over the points ``used``.

    Attributes:
        p: exponent; ``p_err``: its standard error from the fit residuals (``nan`` with
            only two points).
        c: prefactor.
        used: indices of the points in the fit.
    """

    p: float
    p_err: float
    c: float
    used: tuple[int, ...]


def fit_power_law(seq_len, t_star, *, last: int | None = None) -> PowerLawFit:
    """Fit over the ``last`` largest lengths with a finite, positive ``t*`` (default: all of
    them); ``last`` is an integer ``≥ 2``."""
    if last is not None and (isinstance(last, bool) or not isinstance(last, int | np.integer) or last < 2):
        raise ValueError(f"last must be an integer >= 2 (the points of the fit), got {last!r}")
    seq_len, t_star = np.asarray(seq_len, float), np.asarray(t_star, float)
    ok = np.flatnonzero(np.isfinite(t_star) & (t_star > 0))
    ok = ok[np.argsort(seq_len[ok])]
    if last is not None:
        ok = ok[-last:]
    if ok.size < 2:
        raise ValueError("a power-law fit needs at least two finite, positive t* values")
    x, y = np.log(seq_len[ok]), np.log(t_star[ok])
    (p, logc), res, *_ = np.polyfit(x, y, 1, full=True)
    if ok.size > 2:
        sigma2 = float(res[0]) / (ok.size - 2) if res.size else 0.0
        p_err = float(np.sqrt(sigma2 / np.sum((x - x.mean()) ** 2)))
    else:
        p_err = float("nan")
    return PowerLawFit(float(p), p_err, float(np.exp(logc)), tuple(int(i) for i in ok))
