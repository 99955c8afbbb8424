"""Per-head metrics, ablations and structure scores summarised over seeds.

A head's number means nothing across seeds (head 2 of one initialisation is not head 2 of
another), so per-head quantities are summarised by *rank*: each seed's heads are sorted from
the best down, and rank ``r`` gets the mean and 95 % t-interval of the ``r``-th best value over
seeds (:func:`induction_ode.intervals.mean_interval`). Ablations are summarised by quantities
that name no head (the best single head alone, the most costly single removal), and structure
scores by the headline head of each seed, Musat et al.'s progress measures by their emergence
steps relative to each seed's phase change.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from ..intervals import mean_interval
from .metrics import ablation_table
from .model import ModelConfig
from .progress import NAMES, seed_progress
from .task import Task
from .training import ClampStudy, TrainConfig, held_out_batch
from .weights import structure


def ranked(values) -> list[dict]:
    """``values`` ``(K, H)`` (seed, head) → one interval per rank, best head first."""
    ordered = -np.sort(-np.asarray(values, float), axis=1)
    return [mean_interval(ordered[:, r]) for r in range(ordered.shape[1])]


def head_summary(induction, previous_token, bar: float = 0.5) -> dict:
    """Ranked induction strengths (layer 2) and previous-token scores (layer 1), ``(K, H)`` each,
    and the number of heads per seed above ``bar``."""
    out = {}
    for name, values in (("induction", induction), ("previous_token", previous_token)):
        values = np.asarray(values, float)
        out[name] = dict(ranked=ranked(values), above=mean_interval(np.sum(values > bar, axis=1)), bar=bar)
    return out


def ablation_summary(tables: list[dict]) -> dict:
    """Intervals over seeds of :func:`~induction_ode.standard.metrics.ablation_table`'s results:
    all heads, each layer removed, and per layer the best single head alone and the most
    costly single head removed."""
    out = {key: mean_interval([t[key] for t in tables]) for key in ("full", "no_layer1", "no_layer2")}
    for layer in (1, 2):
        out[f"layer{layer}_best_only"] = mean_interval([max(t[f"layer{layer}"]["only"]) for t in tables])
        out[f"layer{layer}_worst_removed"] = mean_interval(
            [min(t[f"layer{layer}"]["removed"]) for t in tables]
        )
    return out


def structure_summary(trained: list[dict], initial: list[dict]) -> dict:
    """Per block: the headline head's score, trained and initial, as intervals over seeds
    (``None`` for a block that no seed has, ``pos_qk`` under RoPE)."""
    out = {}
    for name in trained[0]:
        if trained[0][name] is None:
            out[name] = None
            continue
        out[name] = {
            when: mean_interval([s[name]["score"] for s in blocks])
            for when, blocks in (("trained", trained), ("initial", initial))
        }
    return out


def progress_summary(per_seed: list[dict]) -> dict:
    """Over seeds (each a :func:`~.progress.seed_progress`): per threshold fraction, each
    measure's emergence step divided by its seed's phase-change step, the paired gaps
    ``(T_x − T_y) / s*`` between measures (an interval below 0: ``x`` first in every sense the
    seeds allow), as intervals, and how many seeds show each order."""
    out = {}
    for fraction in per_seed[0]["steps"]:
        relative = {n: [s["steps"][fraction][n] / s["phase_step"] for s in per_seed] for n in NAMES}
        gaps = {
            f"{x} - {y}": mean_interval(np.subtract(relative[x], relative[y]))
            for i, x in enumerate(NAMES)
            for y in NAMES[i + 1 :]
        }
        orders = Counter(s["order"][fraction] for s in per_seed)
        out[fraction] = dict(
            relative={n: mean_interval(v) for n, v in relative.items()},
            gaps=gaps,
            orders=dict(orders.most_common()),
        )
    return out


def seed_analysis(task: Task, model: ModelConfig, cfg: TrainConfig, study: ClampStudy) -> dict:
    """Ablations, weight structure and progress measures of every seed's unclamped model, with
    their intervals.

    Returns the ``standard.json`` record's ``heads``, ``ablations``, ``structure`` and
    ``progress`` entries: per-seed values (structure matrices of the first seed only) and the
    summaries above.
    """
    tables, trained, initial = [], [], []
    for ref in study.reference:
        tables.append(ablation_table(ref.params, model, held_out_batch(task, replace(cfg, seed=ref.seed))))
        kw = dict(previous_token=ref.previous_token[-1], induction=ref.induction[-1], n_items=16)
        trained.append(structure(ref.params, model, task, **kw))
        initial.append(structure(ref.params0, model, task, **kw))
    induction = np.stack([r.induction[-1] for r in study.reference])
    previous = np.stack([r.previous_token[-1] for r in study.reference])
    progress = [seed_progress(r) for r in study.reference]
    scores = lambda st: {n: None if b is None else b["scores"] for n, b in st.items()}  # noqa: E731
    return dict(
        heads=dict(induction=induction, previous_token=previous, summary=head_summary(induction, previous)),
        ablations=dict(per_seed=tables, summary=ablation_summary(tables)),
        structure=dict(
            trained=trained[0],
            initial=initial[0],
            per_seed=[dict(trained=scores(t), initial=scores(i)) for t, i in zip(trained, initial)],
            summary=structure_summary(trained, initial),
        ),
        progress=dict(
            steps=study.reference[0].steps,
            per_seed=progress,
            summary=progress_summary(progress),
        ),
    )
