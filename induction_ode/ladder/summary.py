"""Summaries of the ladder's measurements: intervals over seeds, the exponent of the emergence
step in ``T`` with its interval, the majority order, and each rung against the rung before.

NumPy and SciPy only (through :mod:`induction_ode.intervals`); nothing here trains.

*Exponent.* Each seed ``k`` gives one step per length, ``s_k(T)``; a least-squares line in
log-log (:func:`induction_ode.scaling.fit_power_law`) through seed ``k``'s points gives an
exponent ``p_k``, and the exponent is the mean of the ``p_k`` with its 95 % Student-t interval
(:func:`induction_ode.intervals.mean_interval`). Seed ``k``'s runs at different ``N`` are
independent, so the ``p_k`` are independent draws. The fit through the means is reported
beside it. A rung with one value per length (the ODE) has the fit alone.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..intervals import mean_interval
from ..scaling import fit_power_law

ODE_ORDER = "gamma3 < beta2 < alpha3"
"""The ODE's order under MSE (Theorem 2): γ3, then β2, then α3."""


def _fit(seq_len, steps) -> float:
    """The exponent of ``steps`` in ``seq_len`` (``nan`` with fewer than two finite points)."""
    try:
        return fit_power_law(seq_len, steps).p
    except ValueError:
        return float("nan")


def exponent(seq_len, steps) -> dict:
    """The exponent of the emergence step in ``T``.

    Args:
        seq_len: ``(L,)`` the lengths ``T``.
        steps: ``(L, K)`` one step per length and seed (``nan``: not reached).

    Returns:
        ``{"seeds": mean_interval of the per-seed exponents, "of_means": the exponent of the
        mean steps (the lengths every seed reached), "c": its prefactor, "p_err": its standard
        error}``.
    """
    seq_len, steps = np.asarray(seq_len, float), np.asarray(steps, float).reshape(len(seq_len), -1)
    per_seed = [_fit(seq_len, steps[:, k]) for k in range(steps.shape[1])]
    reached = np.all(np.isfinite(steps), axis=1)
    try:
        fit = fit_power_law(seq_len[reached], np.mean(steps[reached], axis=1))
        of_means, c, p_err = fit.p, fit.c, fit.p_err
    except ValueError:
        of_means = c = p_err = float("nan")
    return dict(seeds=mean_interval(per_seed), of_means=of_means, c=c, p_err=p_err)


def majority(orders) -> str:
    """The most common order text among ``orders`` (``"?"`` for none); ties go to the first seen."""
    counts = Counter(orders)
    return counts.most_common(1)[0][0] if counts else "?"


def summarise_point(point: dict) -> dict:
    """One rung at one length: ``point`` (``"steps"``, ``"orders"``: one per seed) gains
    ``"step"`` (mean and 95 % interval), ``"order_counts"`` and ``"order"`` (the majority)."""
    counts = Counter(point["orders"])
    return dict(
        point,
        step=mean_interval(point["steps"]),
        order_counts=dict(counts.most_common()),
        order=majority(point["orders"]),
    )


def summarise_rung(rung: dict) -> dict:
    """A rung's record (``"points"``: one per length) with each point summarised, the exponent
    (:func:`exponent`), the orders over all lengths and seeds, and the fraction of seeds whose
    order is the ODE's at each length."""
    points = [summarise_point(p) for p in rung["points"]]
    seq_len = [p["seq_len"] for p in points]
    all_orders = [o for p in points for o in p["orders"]]
    return dict(
        rung,
        points=points,
        exponent=exponent(seq_len, [p["steps"] for p in points]),
        order=majority(all_orders),
        ode_order_fraction=[float(np.mean([o == ODE_ORDER for o in p["orders"]])) for p in points],
    )


def compare(rung: dict, before: dict) -> dict:
    """``rung`` against ``before`` (both summarised): the exponent difference ``p − p_before``
    (per-seed pairs, seed ``k`` against seed ``k``, or against the single value of a rung with
    one), the ratio of mean steps (in ``before``'s units of time where both have one) per
    length, and whether the majority orders agree at every length."""
    p = np.asarray(rung["exponent"]["seeds"]["per_seed"], float)
    q = np.asarray(before["exponent"]["seeds"]["per_seed"], float)
    q = np.full_like(p, q[0]) if q.size == 1 else q[: p.size]
    p = p[: q.size]
    ratios = []
    for a, b in zip(rung["points"], before["points"]):
        unit_a, unit_b = (x.get("time_per_step") for x in (a, b))
        scale = 1.0 if unit_a is None or unit_b is None else unit_a / unit_b
        mean_b = b["step"]["mean"]
        ratios.append(mean_interval(np.asarray(a["steps"], float) * scale / mean_b))
    orders = [a["order"] == b["order"] for a, b in zip(rung["points"], before["points"])]
    return dict(
        rung=rung["name"],
        before=before["name"],
        exponent_difference=mean_interval(p - q),
        step_ratio=ratios,
        same_order=all(orders),
        same_order_per_length=orders,
    )
