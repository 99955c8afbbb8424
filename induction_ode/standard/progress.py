"""Musat et al.'s progress measures of a standard transformer (§4; quoted in MODEL.md), and
their emergence order.

In the paper's column convention (``W x``), with ``p_i`` the position embeddings, ``t_i`` the
tokens, ``T`` the matrix of label tokens and ``W_o`` the readout:

- ``α̃3 = Σ_i (W_K¹ p_{i−1})ᵀ (W_Q¹ p_i)``: layer 1's score of each position on the one before;
- ``β̃2 = Σ_i (W_K² W_O¹ W_V¹ t_i)ᵀ (W_Q² t_i)``: layer 2's score of a token on the same token
  copied by layer 1;
- ``γ̃3 = tr(W_o W_O² W_V² T)``: the readout of a label through layer 2's OV path onto itself.

Here (row convention, :mod:`.model`): per head, with each LayerNorm gain folded into the
weights after it and LayerNorm's centring and scaling ignored (as in :mod:`.weights`), scores
divided by ``√d_h`` as in the forward pass. ``α̃3`` depends on the layer-1 head ``j``, ``γ̃3``
on the layer-2 head ``h``, ``β̃2`` on the pair ``(j, h)``. The sum in ``α̃3`` runs over every
position ``i = 1 … T−1``; the ``t_i`` of ``β̃2`` are the embedded training item classes (the
tokens that layer 1 copies and layer 2 queries with); ``T`` holds every label embedding and
``W_o`` is the unembedding (after the final LayerNorm's gain).

*RoPE.* There are no position vectors: position enters the score only through the rotation
``R_i`` of queries and keys. ``α̃3`` then takes for ``p_i`` the mean input token of position
``i`` (the mean embedded item at even positions and at the query, the mean label embedding at
odd ones) and rotates its query and key as the forward pass does:
``Σ_i (R_{i−1} W_K¹ p̄_{i−1})ᵀ (R_i W_Q¹ p̄_i)``. ``β̃2`` and ``γ̃3`` are position-free and
unchanged.

*Emergence.* The network starts at random weights, so a measure ``x`` is tracked by its
progress ``(x(s) − x(0)) / (x(s_ref) − x(0))``; it emerges at the first step where the progress
reaches a fraction (MODEL.md's 0.5, and the appendix's 0.1). ``s_ref = 2 s*`` (``s*``: the
phase-change step), the ODE's reference time ``2 t*``; the last step where ``2 s*`` is beyond
the run or there is no phase change.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..crosschecks import first_crossing_time
from .model import ModelConfig, Params, rope

NAMES = ("gamma3", "beta2", "alpha3")
"""The ODE's order of emergence (Theorem 2): γ → β → α."""


class Progress(NamedTuple):
    """The three measures for every head: ``alpha3`` ``(H,)`` (layer-1 head), ``beta2``
    ``(H, H)`` (layer-1 head, layer-2 head), ``gamma3`` ``(H,)`` (layer-2 head)."""

    alpha3: jax.Array
    beta2: jax.Array
    gamma3: jax.Array


def _folded(layer, cfg: ModelConfig):
    """``(W_Q, W_K, W_V)`` ``(H, D, d_h)`` with the layer's LayerNorm gain folded in."""
    gain = layer.ln_gain[None, :, None] if cfg.layer_norm else 1.0
    return gain * layer.wq, gain * layer.wk, gain * layer.wv


def position_inputs(params: Params, cfg: ModelConfig, items: jax.Array, seq_len: int) -> jax.Array:
    """``(T, D)``: the ``p_i`` of ``α̃3``: the learned positions, or under RoPE the mean input token
    of each position (items ``(n, item_dim)`` embedded and averaged, then the mean label)."""
    if cfg.positions == "learned":
        return params.pos
    item = jnp.mean(items @ params.item_w + params.item_b, axis=0)
    label = jnp.mean(params.label_emb, axis=0)
    return jnp.where((jnp.arange(seq_len) % 2 == 1)[:, None], label, item)


def progress_measures(params: Params, cfg: ModelConfig, items: jax.Array, seq_len: int) -> Progress:
    """``α̃3``, ``β̃2`` and ``γ̃3`` of every head (pair) of ``params`` (see the module docstring).

    Args:
        items: ``(n, item_dim)`` the class vectors whose embeddings are the ``t_i``.
        seq_len: ``T``.
    """
    l1, l2 = params.layers
    scale = 1.0 / math.sqrt(cfg.head_dim)
    wq1, wk1, wv1 = _folded(l1, cfg)
    wq2, wk2, wv2 = _folded(l2, cfg)
    p = position_inputs(params, cfg, items, seq_len)
    q, k = jnp.einsum("td,hde->hte", p, wq1), jnp.einsum("td,hde->hte", p, wk1)
    if cfg.positions == "rope":
        q, k = rope(q, cfg.rope_base), rope(k, cfg.rope_base)
    alpha = scale * jnp.sum(q[:, 1:] * k[:, :-1], axis=(1, 2))
    tokens = items @ params.item_w + params.item_b  # (n, D)
    copied = jnp.einsum("nd,jde,jef->jnf", tokens, wv1, l1.wo)  # layer 1's OV of each head
    keys = jnp.einsum("jnf,hfe->jhne", copied, wk2)
    queries = jnp.einsum("nd,hde->hne", tokens, wq2)
    beta = scale * jnp.einsum("jhne,hne->jh", keys, queries)
    readout = (params.ln_gain[:, None] if cfg.layer_norm else 1.0) * params.unembed  # (D, L)
    gamma = jnp.einsum("ld,hde,hef,fl->h", params.label_emb, wv2, l2.wo, readout)
    return Progress(alpha, beta, gamma)


def best_pair(progress: Progress, layer1: int, layer2: int) -> dict:
    """``{"alpha3", "beta2", "gamma3"}`` of one head pair, from :class:`Progress` arrays with any
    leading axes (e.g. evaluations ``R``)."""
    return dict(
        alpha3=progress.alpha3[..., layer1],
        beta2=progress.beta2[..., layer1, layer2],
        gamma3=progress.gamma3[..., layer2],
    )


def normalised(steps, values, reference_step: float) -> np.ndarray:
    """``(x − x(0)) / (x(reference_step) − x(0))`` (``x(reference_step)`` interpolated); ``nan``
    where ``x`` does not move."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    gained = np.interp(reference_step, steps, values) - values[0]
    return (values - values[0]) / gained if gained != 0 else np.full(values.shape, np.nan)


def emergence_step(steps, values, reference_step: float, fraction: float) -> float:
    """First step at which :func:`normalised` reaches ``fraction`` (linear interpolation between
    evaluations; ``nan`` if never)."""
    return first_crossing_time(steps, -normalised(steps, values, reference_step), -fraction)


def emergence_order(times: dict) -> str:
    """The names sorted by emergence step, ``"gamma3 < beta2 < alpha3"``; unreached ones last
    (``"?"`` where none is reached)."""
    reached = sorted((t, n) for n, t in times.items() if t == t)
    if not reached:
        return "?"
    return " < ".join(n for _, n in reached) + "".join(f" < {n}?" for n, t in times.items() if not t == t)


def seed_progress(run, fractions=(0.5, 0.1)) -> dict:
    """The best head pair's measures along one unclamped run (a :class:`~.training.TrainRun`)
    and their emergence steps.

    The pair is the layer-1 head with the best final previous-token score and the layer-2 head
    with the best final induction strength. Returns ``{"seed", "pair", "phase_step",
    "reference_step", "series": {name: (R,)}, "normalised": {name: (R,)}, "steps": {fraction:
    {name: step}}, "order": {fraction: text}}``.
    """
    pair = (int(np.argmax(run.previous_token[-1])), int(np.argmax(run.induction[-1])))
    series = best_pair(run.progress, *pair)
    phase = run.phase_step()
    last = float(run.steps[-1])
    reference = 2 * phase if phase == phase and 2 * phase <= last else last
    steps = {
        f"{f:g}": {n: emergence_step(run.steps, series[n], reference, f) for n in NAMES} for f in fractions
    }
    return dict(
        seed=run.seed,
        pair=pair,
        phase_step=phase,
        reference_step=reference,
        series=series,
        normalised={n: normalised(run.steps, series[n], reference) for n in NAMES},
        steps=steps,
        order={f: emergence_order(times) for f, times in steps.items()},
    )
