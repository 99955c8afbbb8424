"""Sweeps of the n-gram model: the phases against ``L``, ``n`` or ``D``, vmapped over seeds.

For each value of the swept setting, the seeds' samples have one shape, so sampling, layout
and gradient descent run as one vmapped program over the seeds; the settings run one after
the other (their shapes differ).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .criterion import chi2_mutual_information
from .dynamics import Trajectory, gradient_descent
from .experiment import Settings, measure, objective
from .model import init_params, prepare
from .sampler import sample

SWEEPABLE = {"length": "task", "order": "task", "vocab_size": "task", "alpha": "task", "degree": "arch"}


def with_setting(base: Settings, name: str, value) -> Settings:
    """``base`` with one task or architecture field replaced (validated)."""
    if name not in SWEEPABLE:
        raise ValueError(f"cannot sweep {name!r}; allowed: {', '.join(SWEEPABLE)}")
    part = SWEEPABLE[name]
    changed = dataclasses.replace(getattr(base, part), **{name: value})
    return dataclasses.replace(base, **{part: changed})


def train_seeds(settings: Settings, seeds) -> Trajectory:
    """Gradient descent of the reduced model on one fixed sample per seed, vmapped over seeds.

    Returns a batched :class:`Trajectory` (leaves ``(n_seeds, R, …)``).
    """
    s, arch = settings, settings.arch
    keys = jnp.stack([jax.random.key_data(jax.random.key(int(seed))) for seed in seeds])
    smp = jax.vmap(lambda k: sample(jax.random.wrap_key_data(k), s.task, s.n_train))(keys)
    prep = jax.vmap(lambda x, y: prepare(x, y, arch))(smp.tokens[..., :-1], smp.tokens[..., -1])
    p0 = init_params(arch, w_plus=s.w_plus, w_minus=s.w_minus, c_init=s.c_init, a_init=s.a_init)
    params = jax.tree.map(lambda x: jnp.broadcast_to(x, (len(seeds), *x.shape)), p0)
    return gradient_descent(objective(arch), params, prep, lr=s.lr, steps=s.steps, batched=True)


def sweep(
    base: Settings,
    name: str,
    values,
    seeds=(0, 1, 2, 3),
    *,
    on_value: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train ``base`` with ``name`` set to each of ``values``, on every seed; measure the phases.

    Returns one dict per value: ``value``, the ``criterion`` prediction (offsets, margin,
    its error), ``wall_time`` (s), and ``seeds``: per seed ``selection_time``,
    ``selected_label``, ``selected_offsets``, ``k`` and ``k_err`` of the ``a(t)`` log fit,
    ``loss0`` and ``loss_end``.
    """
    rows = []
    for value in values:
        s = with_setting(base, name, value)
        start = time.perf_counter()
        traj = train_seeds(s, seeds)
        per_seed = []
        for i, seed in enumerate(seeds):
            one = traj._replace(params=jax.tree.map(lambda x, i=i: x[i], traj.params), losses=traj.losses[i])
            m = measure(one, s.arch)
            fit = m["a_fit"]
            per_seed.append(
                dict(
                    seed=int(seed),
                    selection_time=m["selection_time"],
                    selected_label=m["selected_label"],
                    selected_offsets=m["selected_offsets"],
                    k=None if fit is None else fit["k"],
                    k_err=None if fit is None else fit["k_err"],
                    loss0=float(one.losses[0]),
                    loss_end=float(one.losses[-1]),
                )
            )
        crit = chi2_mutual_information(s.task, s.arch.max_offset, s.arch.degree, draws=s.draws, seed=0)
        row = dict(
            value=value,
            criterion=dict(best=list(crit.best), margin=crit.margin, margin_err=crit.margin_err),
            seeds=per_seed,
            wall_time=time.perf_counter() - start,
        )
        rows.append(row)
        if on_value is not None:
            on_value(row)
    return rows


def summarise(row: dict) -> dict:
    """Mean and standard deviation over seeds of the selection time and the slope ``k``; the
    subsets the seeds selected, with counts."""
    t = np.array(
        [np.nan if r["selection_time"] is None else r["selection_time"] for r in row["seeds"]], float
    )
    k = np.array([np.nan if r["k"] is None else r["k"] for r in row["seeds"]], float)
    chosen: dict[str, int] = {}
    for r in row["seeds"]:
        key = f"{r['selected_label']} {r['selected_offsets']}"
        chosen[key] = chosen.get(key, 0) + 1
    return dict(
        value=row["value"],
        t_select=float(np.nanmean(t)) if np.isfinite(t).any() else float("nan"),
        t_select_sd=float(np.nanstd(t, ddof=1)) if np.isfinite(t).sum() > 1 else float("nan"),
        selected_by_all=int(np.isfinite(t).sum()),
        k=float(np.nanmean(k)),
        k_sd=float(np.nanstd(k, ddof=1)) if np.isfinite(k).sum() > 1 else float("nan"),
        chosen=chosen,
        predicted=row["criterion"]["best"],
    )
