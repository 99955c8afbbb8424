"""Run the ladder: every rung at every length, all seeds of a rung and length in one vmapped
program, and the summaries of :mod:`.summary`.

*Emergence step* (every rung): the first evaluation step at which the held-out loss is at most
half its initial value, linearly interpolated between evaluations
(:func:`induction_ode.crosschecks.first_crossing_time`), the ODE's ``t*`` criterion; on the ODE
it is ``t*`` itself (gradient-flow time). On plain-GD rungs ``step × lr`` is gradient-flow time
under the ``("weights", d)`` metric, the ODE's time on R0.

*Order.* R0: the ODE's half-times (half of each value at ``2 t*``). R1–R4: the same on the
projection of the weights onto the 19-dimensional subspace (its α3, β2, γ3), as progress
``(x − x(0)) / (x(2 s*) − x(0))`` reaching ½ (:func:`induction_ode.standard.progress.emergence_step`).
R5, R6: Musat et al.'s α̃3, β̃2, γ̃3 of the best head pair
(:func:`induction_ode.standard.progress.seed_progress`), at the same fraction ½.

*Budget.* Every network rung runs at most ``budget × t*_R0(N) / lr`` steps at length ``N``
(``lr``: the ladder's SGD rate, so the same number of steps for every network rung at one
``N``), recorded ``records`` times per ``t*_R0(N) / lr`` steps; every standard rung at most
``standard_budget × T`` steps (its time is not the ODE's), evaluated 100 times over them. Every
rung stops as soon as every seed has passed twice its emergence step (the reference of the
order).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from ..crosschecks import first_crossing_time
from ..options import check_precision
from ..validation import check_values
from .rungs import BEFORE, RUNGS, Rung
from .summary import compare, summarise_rung

PROGRESS_FRACTION = "0.5"
TOKENS = "signed_perm"
"""The network rungs' tokens: random signed permutations of the standard basis (orthonormal, as
the crosscheck's). Haar tokens cost far more per step (5 seeds × batch 128 on 2 CPU cores:
26 against 3 ms at d = 16, 143 against 6 ms at d = 32; ``benchmarks/training_step.py``)."""


def passed_twice(steps, losses) -> bool:
    """``until`` rule of the trainers: every seed's loss ``(K, R)`` has fallen to half its
    initial value, and the last step is at least twice the latest such crossing."""
    crossings = emergence_steps(steps, losses)
    return bool(np.all(np.isfinite(crossings)) and steps[-1] >= 2 * max(crossings))


def emergence_steps(steps, losses) -> list[float]:
    """Each seed's emergence step: its loss ``(K, R)`` first at half its initial value."""
    return [first_crossing_time(steps, row, 0.5 * row[0]) for row in np.asarray(losses, float)]


def _ode_rung(rung: Rung, n_pairs, width: int, lr: float) -> list[dict]:
    """R0: one sweep of the ODE under ``("weights", width)`` over ``n_pairs``."""
    from ..model import Model
    from ..sweeps import sweep

    model = Model(metric=("weights", width))
    t_max = [20.0 * (2 * n + 1) ** 2 * max(width, 2 * n + 2) for n in n_pairs]
    start = time.perf_counter()
    result = sweep(list(n_pairs), t_max, model=model)
    wall = time.perf_counter() - start
    return [
        dict(
            n_pairs=e.n_pairs,
            seq_len=2 * e.n_pairs + 1,
            steps=[e.t_star],
            time_per_step=1.0,
            unit="gradient-flow time",
            half_steps=[e.half_times],
            orders=[" < ".join(e.order) if e.emerged else "?"],
            wall_time=wall / len(n_pairs),
        )
        for e in result.results
    ]


def _orders(steps, series: dict, emergence: list[float]) -> tuple[list[dict], list[str]]:
    """Per seed: the steps at which each of ``series`` (name → ``(K, R)``) reaches half its
    progress to ``2 s*`` (the last step where that is beyond the run), and their order."""
    from ..standard.progress import NAMES, emergence_order, emergence_step

    halves, orders = [], []
    for k, s_star in enumerate(emergence):
        ref = 2 * s_star if np.isfinite(s_star) and 2 * s_star <= steps[-1] else float(steps[-1])
        times = {n: emergence_step(steps, series[n][k], ref, 0.5) for n in NAMES}
        halves.append(times)
        orders.append(emergence_order(times))
    return halves, orders


def _network_point(rung: Rung, n: int, ctx: dict, on_chunk) -> dict:
    """One network rung at length ``n``, all seeds in one vmapped program."""
    from ..positions import width as code_width
    from ..subspace import KEY_INDEX, KEY_PARAMS
    from ..transformer import train_seeds

    d = ctx["width"]
    lr = rung.lr if rung.lr is not None else ctx["lr"]
    scale = rung.init / math.sqrt(d + code_width("paired", n))
    start = time.perf_counter()
    run = train_seeds(
        n, d, seeds=ctx["seeds"], steps=ctx["max_steps"][n], lr=lr, batch=ctx["batch"],
        record_every=ctx["record_every"][n], until=passed_twice, on_chunk=on_chunk,
        optimizer=rung.optimizer, loss=rung.loss, init_scale=scale, eval_batch=ctx["eval_batch"],
        tokens=TOKENS, precision=ctx["precision"],
    )  # fmt: skip
    steps, losses = np.asarray(run.steps, float), np.asarray(run.losses, float)
    emergence = emergence_steps(steps, losses)
    thetas = np.asarray(run.thetas, float)  # (K, R, 19)
    series = {name: thetas[:, :, i] for name, i in zip(KEY_PARAMS, KEY_INDEX)}
    halves, orders = _orders(steps, series, emergence)
    return dict(
        n_pairs=n,
        seq_len=2 * n + 1,
        steps=emergence,
        time_per_step=lr if rung.optimizer == "sgd" else None,
        unit="optimiser step",
        half_steps=halves,
        orders=orders,
        init_scale=scale,
        lr=lr,
        max_steps=ctx["max_steps"][n],
        ran_steps=float(steps[-1]),
        max_off_subspace=float(np.max(np.asarray(run.off_subspace))),
        loss0=float(np.mean(losses[:, 0])),
        wall_time=time.perf_counter() - start,
    )


def _standard_point(rung: Rung, n: int, ctx: dict, on_chunk) -> dict:
    """One standard-transformer rung at length ``n`` (:func:`~induction_ode.standard.train_seeds`)."""
    from ..standard.model import ModelConfig
    from ..standard.progress import seed_progress
    from ..standard.task import Task
    from ..standard.training import TrainConfig, train_seeds

    most = ctx["standard_budget"] * (2 * n + 1)
    every = max(1, most // 100)
    cfg = TrainConfig(most, rung.lr, ctx["standard_batch"], rung.optimizer, 0, every, loss=rung.loss)
    model = ModelConfig(heads=rung.heads, positions=rung.positions)
    start = time.perf_counter()
    runs = train_seeds(Task(n_pairs=n), model, cfg, seeds=ctx["seeds"], on_chunk=on_chunk, until=passed_twice)
    progress = [seed_progress(r, fractions=(0.5,)) for r in runs]
    return dict(
        n_pairs=n,
        seq_len=2 * n + 1,
        steps=[r.phase_step() for r in runs],
        time_per_step=None,
        unit="optimiser step",
        half_steps=[p["steps"][PROGRESS_FRACTION] for p in progress],
        orders=[p["order"][PROGRESS_FRACTION] for p in progress],
        lr=rung.lr,
        max_steps=cfg.n_evals * cfg.eval_every,
        ran_steps=float(runs[0].steps[-1]),
        loss0=float(np.mean([r.loss[0] for r in runs])),
        wall_time=time.perf_counter() - start,
    )


def _budget(n_pairs, t_star: dict, lr: float, budget: float, records: int) -> tuple[dict, dict]:
    """Per ``N``: the most steps (``budget × t*_R0 / lr``, a multiple of the chunk) and the chunk
    (``t*_R0 / lr / records`` steps, at least 1)."""
    chunk = {n: max(1, round(t_star[n] / lr / records)) for n in n_pairs}
    most = {n: chunk[n] * math.ceil(budget * t_star[n] / lr / chunk[n]) for n in n_pairs}
    return most, chunk


def _trained(rungs, n_pairs, ctx: dict, on_rung) -> dict:
    """The trained rungs' records (``"points"``: one per ``N``), by name."""
    out = {}
    for rung in rungs:
        if rung.family == "ode":
            continue
        point = _network_point if rung.family == "network" else _standard_point
        points = []
        for n in n_pairs:
            callback = on_rung(rung.name, n, ctx["max_steps"][n]) if on_rung is not None else None
            points.append(point(rung, n, ctx, callback))
        out[rung.name] = dict(rung.to_json(), points=points)
    return out


def ladder(
    n_pairs: Sequence[int] = (2, 4, 8),
    seeds: int = 5,
    rungs: Sequence[Rung] = RUNGS,
    *,
    width: int | None = None,
    lr: float = 4.0,
    batch: int = 128,
    standard_batch: int = 32,
    standard_budget: int = 300,
    eval_batch: int = 1024,
    budget: float = 3.0,
    records: int = 40,
    first_seed: int = 0,
    precision: str = "float64",
    on_rung: Callable[[str, int, int], Callable[[int], None] | None] | None = None,
) -> dict:
    """Every rung of ``rungs`` at every ``N`` of ``n_pairs`` with ``seeds`` seeds each.

    Args:
        n_pairs: the lengths ``N`` (``T = 2N + 1``), the same for every rung.
        seeds: ``K``; seeds ``first_seed … first_seed + K − 1`` (R0 is deterministic: one value).
        rungs: the rungs (:data:`~.rungs.RUNGS`); R0 always runs (it sets the budget).
        width: the token width ``d`` of the network rungs and of R0's metric, the same at every
            ``N`` (default ``2 max N``, the least the task allows).
        lr: the SGD rate of R1–R3, the same at every ``N``.
        batch, standard_batch: fresh sequences per step (network rungs; standard rungs).
        eval_batch: the network rungs' held-out batch (the standard's is 512).
        budget, records, standard_budget: see the module docstring.
        precision: the network rungs' dtype, ``"float64"`` or ``"float32"``
            (:func:`~induction_ode.transformer.train`; the standard rungs are float32 always).
        on_rung: ``on_rung(rung name, N, most steps)`` before each trained point; may return an
            ``on_chunk(step)`` callback (progress bars).

    Returns:
        A JSON-ready record: ``{"kind": "ladder", "config", "rungs": [summarised rung, …],
        "comparisons": [rung against the rung before, …], "wall_time"}``; each rung has its
        ``"points"`` (one per ``N``: per-seed ``steps``, ``half_steps``, ``orders``, and their
        summaries), its ``"exponent"`` and ``"order"`` (:func:`~.summary.summarise_rung`).
    """
    n_pairs = sorted({int(n) for n in n_pairs})
    check_values(seeds=seeds, lr=lr, batch=batch, eval_batch=eval_batch, seed=first_seed)
    check_values(records=records, budget=budget, standard_budget=standard_budget)
    check_values(d=width)
    check_precision(precision)
    for n in n_pairs:
        check_values(n_pairs=n)
    width = 2 * max(n_pairs) if width is None else width
    if width < 2 * max(n_pairs):
        raise ValueError(f"width must be >= 2 max N = {2 * max(n_pairs)}, got {width}")
    started = time.perf_counter()
    ode_rung = next(r for r in RUNGS if r.name == "R0")
    out = {"R0": dict(ode_rung.to_json(), points=_ode_rung(ode_rung, n_pairs, width, lr))}
    t_star = {p["n_pairs"]: p["steps"][0] for p in out["R0"]["points"]}
    if not all(np.isfinite(list(t_star.values()))):
        raise RuntimeError("the ODE (R0) did not emerge at every N; it sets the budget of the other rungs")
    most, chunk = _budget(n_pairs, t_star, lr, budget, records)
    ctx = dict(
        width=width,
        lr=lr,
        seeds=tuple(range(first_seed, first_seed + seeds)),
        batch=batch,
        standard_batch=standard_batch,
        standard_budget=standard_budget,
        eval_batch=eval_batch,
        max_steps=most,
        record_every=chunk,
        precision=precision,
    )
    out.update(_trained(rungs, n_pairs, ctx, on_rung))
    summaries = {name: summarise_rung(r) for name, r in out.items()}
    pairs = [(n, BEFORE[n]) for n in summaries if BEFORE.get(n) in summaries]
    comparisons = [compare(summaries[n], summaries[b]) for n, b in pairs]
    config = dict(n_pairs=n_pairs, seeds=list(ctx["seeds"]), rungs=[r.name for r in rungs], width=width,
                  lr=lr, batch=batch, standard_batch=standard_batch, eval_batch=eval_batch, budget=budget,
                  records=records, standard_budget=standard_budget, max_steps=most,
                  record_every=chunk, tokens=TOKENS, precision=precision)  # fmt: skip
    return dict(
        kind="ladder",
        config=config,
        rungs=list(summaries.values()),
        comparisons=comparisons,
        wall_time=time.perf_counter() - started,
    )
