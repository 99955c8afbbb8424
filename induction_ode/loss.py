"""The closed-form population loss of MODEL.md.

``L(θ) = Σ_k P(k) ℓ_k(θ)`` where ``ℓ_k`` is the loss on the canonical sequence with the
query on pair ``k`` and ``P(k)`` the query's distribution (uniform, or the last pair). The
layer-1 rows of context positions are shared by all ``k`` and the query's layer-1 row changes
by one term. Everything is ``O(T²)`` except one dense ``(N×T)·(T×T)`` product, ``O(T³)``
flops: the layer-2 read of layer-1 outputs (``a2a1e``). The overlaps ``a1e_q · a1e_s`` of the
query's layer-1 output with every key's are formed in ``O(T²)`` from prefix and suffix sums of
non-negative terms that leave the query's own item out (:func:`_query_key_overlaps`).
Positions enter only through the structured forms of :mod:`induction_ode.positions`. The
public entry points (:func:`~induction_ode.population_loss` and its oracle
:func:`~induction_ode.population_loss_direct`) are in :mod:`induction_ode.model`.

Padding. The fast form is written for a static size ``n_pad ≥ N``: sequences are
*left*-padded to ``T_pad = 2 n_pad + 1`` so that the query sits at the last index for every
``N``. Positions enter only through their place relative to the first real position, pad
positions are masked out of every softmax, and padded pairs are masked out of the mean.
``n_pad = N`` is the plain case, so one code path serves single lengths and batched sweeps.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .positions import gram, layer2_scores, with_query
from .subspace import N_PARAMS
from .transformer import check_layer1_mask

PATTERN_CLAMPS = ("previous_token", "match", "copy")
"""Attention-pattern clamps (Singh et al. 2024): see :func:`population_loss`."""


def check_theta(theta, dtype=None) -> jax.Array:
    """Return θ as an array of shape ``(19,)``; ``ValueError`` on a wrong shape or NaN/inf."""
    arr = jnp.asarray(theta, dtype=dtype)
    if arr.shape != (N_PARAMS,):
        raise ValueError(f"theta must have shape ({N_PARAMS},), got {arr.shape}")
    if not isinstance(arr, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(arr))):
        raise ValueError("theta must be finite; it contains NaN or inf")
    return arr


def check_vocab_size(vocab_size, n_pairs: int) -> int:
    """``V`` for the CE loss: default ``2N``; ``ValueError`` unless ``V ≥ 2N``."""
    if vocab_size is None:
        return 2 * n_pairs
    if int(vocab_size) < 2 * n_pairs:
        raise ValueError(f"vocab_size must be >= 2N = {2 * n_pairs}, got {vocab_size}")
    return int(vocab_size)


def masked_softmax(x: jax.Array, mask: jax.Array, axis: int = -1) -> jax.Array:
    """Softmax over ``axis`` restricted to ``mask``; stable for any finite scores.

    Every slice must have at least one ``True``; masked entries get weight exactly 0.
    """
    m = jnp.max(jnp.where(mask, x, -jnp.inf), axis=axis, keepdims=True)
    e = jnp.where(mask, jnp.exp(jnp.where(mask, x - m, 0.0)), 0.0)
    return e / jnp.sum(e, axis=axis, keepdims=True)


def masked_logsumexp(x: jax.Array, mask: jax.Array, axis: int = -1) -> jax.Array:
    """``log Σ_{mask} exp(x)`` over ``axis``, stable for any finite scores."""
    m = jnp.max(jnp.where(mask, x, -jnp.inf), axis=axis, keepdims=True)
    e = jnp.where(mask, jnp.exp(jnp.where(mask, x - m, 0.0)), 0.0)
    return jnp.squeeze(m, axis) + jnp.log(jnp.sum(e, axis=axis))


class Forward(NamedTuple):
    """Everything the closed form computes, in padded coordinates (``T = 2 n_pad + 1``).

    Token space is indexed like the context positions ``0 … T-2`` (pad tokens never occur).

    Attributes:
        layer1: ``(T, T)`` layer-1 pattern of the context rows (row ``T-1``: the query row
            without the query-item match term).
        layer1_query: ``(n_pad, T)`` the query's layer-1 row for each pair ``k``.
        layer2: ``(n_pad, T)`` the query's layer-2 row for each pair ``k``.
        yhat: ``(n_pad, T-1)`` readout in token coordinates.
        target: ``(n_pad,)`` int, token index of the correct label ``y_k``.
        pair_valid: ``(n_pad,)`` bool, pairs that exist for this ``N``.
        token_valid: ``(T-1,)`` bool, token indices that exist for this ``N``.
    """

    layer1: jax.Array
    layer1_query: jax.Array
    layer2: jax.Array
    yhat: jax.Array
    target: jax.Array
    pair_valid: jax.Array
    token_valid: jax.Array


def _scaled_cumsum(scores: jax.Array, values: jax.Array, reverse: bool) -> tuple[jax.Array, jax.Array]:
    """Inclusive running sums ``Σ_{u ≤ j} exp(scores_u) · values[:, u]`` in scaled form.

    Returns ``(m, v)`` with ``m`` of shape ``(T,)`` (the running maximum of ``scores``) and
    ``v`` of shape ``(S, T)`` such that the sum up to ``j`` is ``exp(m[j]) · v[:, j]``
    (from the right when ``reverse``). Every term is non-negative and scaled by a running
    maximum, so nothing cancels, overflows or underflows before it is negligible. The shifts
    are held out of differentiation (the sums do not depend on them); the gradient with
    respect to ``scores`` flows through the terms.
    """

    def combine(a, b):
        (ma, va), (mb, vb) = a, b
        m = jnp.maximum(ma, mb)
        return m, va * jnp.exp(ma - m) + vb * jnp.exp(mb - m)

    shift = jax.lax.stop_gradient(scores)
    terms = values * jnp.exp(scores - shift)[None, :]  # = values, with the scores' gradient
    m, v = jax.lax.associative_scan(combine, (shift[None, :], terms), axis=1, reverse=reverse)
    return m[0], v


def _query_key_overlaps(r, log_z, m1, w_item, w_self, token_valid):
    """``a1e_q(k) · a1e_s`` for every pair ``k`` and key ``s < T−1`` in ``O(T²)``.

    The query's layer-1 row over tokens is ``exp(r_u − log_z[k])`` for every token ``u ≠ 2k``,
    and ``w_item[k] + w_self[k]`` on its own item ``2k`` (its own position folds onto it).
    So ``Σ_u m1q[k, u] m1[s, u]`` is a sum over ``u ≠ 2k`` of ``exp(r_u) m1[s, u]``, scaled per
    ``k``, plus one term. The leave-one-out sum is an exclusive prefix sum up to ``2k`` plus an
    exclusive suffix sum from ``2k``, each a sum of non-negative terms: no subtraction.

    Args:
        r: ``(T−1,)`` the query's k-independent layer-1 scores over tokens (invalid: masked by
            ``token_valid``).
        log_z: ``(n_pad,)`` log-normaliser of the query's row for each ``k``.
        m1: ``(T−1, T−1)`` context rows in token space.
        w_item, w_self: ``(n_pad,)`` the query's weight on its item ``2k`` and on itself.
        token_valid: ``(T−1,)`` bool, the tokens that exist for this ``N``.

    Returns:
        ``(n_pad, T−1)``.
    """
    dtype = m1.dtype
    low = jnp.asarray(-1e30, dtype)  # an empty sum: weight exp(low) = 0, finite in the scan
    scores = jnp.where(token_valid, r, low)
    values = jnp.where(token_valid[None, :], m1, 0.0)
    pad_m = jnp.full((1,), low, dtype)
    pad_v = jnp.zeros((m1.shape[0], 1), dtype)
    m_pre, v_pre = _scaled_cumsum(scores, values, reverse=False)
    m_suf, v_suf = _scaled_cumsum(scores, values, reverse=True)
    # Exclusive sums at 2k: the inclusive prefix at 2k − 1 and the inclusive suffix at 2k + 1.
    # Items sit at 2k, so every gather by k is a static stride-2 slice (cheap to transpose).
    m_pre = jnp.concatenate([pad_m, m_pre])[0:-1:2]  # index 2k of the shifted array is 2k − 1
    v_pre = jnp.concatenate([pad_v, v_pre], axis=1)[:, 0:-1:2]  # (T−1, n_pad)
    m_suf, v_suf = m_suf[1::2], v_suf[:, 1::2]
    # exp(m − log_z) <= 1: log_z bounds every score of the row but the item's.
    rest = jnp.exp(m_pre - log_z) * v_pre + jnp.exp(m_suf - log_z) * v_suf
    return rest.T + (w_item + w_self)[:, None] * m1[:, 0::2].T


def closed_form_forward(
    theta: jax.Array, n_pairs, n_pad: int, pattern_clamp=None, *, layer1_mask: str, positions: str
) -> Forward:
    """Forward pass of the subspace network on all ``N`` canonical sequences at once.

    Args:
        theta: ``(19,)`` pseudo-parameters (dtype sets the precision).
        n_pairs: ``N`` (may be traced), ``1 ≤ N ≤ n_pad``.
        n_pad: static padded size.
        pattern_clamp: ``None`` or a ``(3,)`` array of strengths ``c ∈ [0, 1]`` for
            ``PATTERN_CLAMPS``; a clamped pattern is ``(1 − c)·learned + c·clamped``.
        layer1_mask: one of :data:`LAYER1_MASKS` (static).
        positions: one of :data:`~induction_ode.positions.POSITIONS` (static); the code enters
            only through the structured forms of :mod:`induction_ode.positions`.

    Returns:
        A :class:`Forward`.
    """
    dtype = theta.dtype
    strict = check_layer1_mask(layer1_mask) == "strict"
    a1, a2, a3 = theta[0], theta[1], theta[2]
    b = theta[3:15]
    g = theta[15:19]
    size = 2 * n_pad + 1
    q = size - 1
    idx = jnp.arange(size)
    n = jnp.asarray(n_pairs)
    off = 2 * (n_pad - n)
    valid = idx >= off

    # Layer 1, context rows (the same for every k). A row with no key it may attend to (pad
    # rows; under the strict mask also position 0) attends to itself alone.
    eye = idx[:, None] == idx[None, :]
    s1 = jnp.where(eye, a1, 0.0) + gram(positions, idx, off, n, a2, a3)
    earlier = idx[None, :] < idx[:, None] if strict else idx[None, :] <= idx[:, None]
    keys = earlier & valid[None, :] & valid[:, None]
    mask1 = keys | (eye & ~jnp.any(keys, axis=1, keepdims=True))
    w1 = masked_softmax(s1, mask1)
    if pattern_clamp is not None:
        is_label = valid & (idx < q) & ((idx - off) % 2 == 1)
        prev = jnp.eye(size, k=-1, dtype=dtype)
        c = pattern_clamp[0]
        w1 = jnp.where(is_label[:, None], (1 - c) * w1 + c * prev, w1)

    # The query's layer-1 row: the k-independent row plus α1 on its own item 2k; it attends
    # to itself only under the inclusive mask.
    pairs = jnp.arange(n_pad)
    item = 2 * pairs
    pair_valid = pairs >= n_pad - n
    is_item = idx[None, :] == item[:, None]  # (n_pad, T)
    keys_q = valid & (idx < q) if strict else valid
    rq = s1[q][None, :] + a1 * is_item
    lse_q = masked_logsumexp(rq, keys_q[None, :])
    wq = jnp.where(keys_q[None, :], jnp.exp(jnp.where(keys_q[None, :], rq - lse_q[:, None], 0.0)), 0.0)

    # Token space (dim T-1): a1e of context rows is w1[:q, :q]; the query's folds its own
    # weight onto item 2k.
    m1 = w1[:q, :q]
    item_q = is_item[:, :q].astype(dtype)
    m1q = wq[:, :q] + wq[:, q:] * item_q
    m1q_item = jnp.sum(jnp.where(is_item[:, :q], m1q, 0.0), axis=1)
    col_item = m1[:, 0::2].T  # (n_pad, q): e_q · a1e_s = W1[s, 2k]; items sit at 2k
    w_item = jnp.sum(jnp.where(is_item, wq, 0.0), axis=1)
    overlaps = _query_key_overlaps(s1[q, :q], lse_q, m1, w_item, wq[:, q], valid[:q])

    # Layer-2 scores of the query against every key s; the last key is the query itself.
    ones = jnp.ones((n_pad,), dtype)
    s2 = (
        b[0] * with_query(item_q, ones)
        + b[1] * with_query(col_item, m1q_item)
        + b[2] * with_query(m1q, m1q_item)
        + b[3] * with_query(overlaps, jnp.sum(m1q**2, axis=1))
        + layer2_scores(positions, idx, off, n, w1, wq, a1, b[4:])
    )
    w2 = masked_softmax(s2, jnp.broadcast_to(valid, s2.shape))
    label = item + 1
    if pattern_clamp is not None:
        onehot_label = (idx[None, :] == label[:, None]).astype(dtype)
        w2 = (1 - pattern_clamp[1]) * w2 + pattern_clamp[1] * onehot_label

    # Readout in token coordinates.
    a2e = w2[:, :q] + w2[:, q:] * item_q
    a2a1e = w2[:, :q] @ m1 + w2[:, q:] * m1q  # the one O(T^3) product
    if pattern_clamp is not None:
        g = (1 - pattern_clamp[2]) * g + pattern_clamp[2] * jnp.array([0.0, 0.0, 1.0, 0.0], dtype)
    yhat = g[0] * item_q + g[1] * m1q + g[2] * a2e + g[3] * a2a1e
    return Forward(w1, wq, w2, yhat, label, pair_valid, valid[:q])


def pair_losses(fwd: Forward, n_pairs, *, loss: str = "mse", vocab_size=None) -> jax.Array:
    """Per-pair loss ``ℓ_k``, shape ``(n_pad,)`` (padded pairs hold garbage-free zeros).

    ``vocab_size`` (CE only) may be traced; ``None`` means ``V = 2N``.
    """
    yhat = fwd.yhat
    columns = jnp.arange(yhat.shape[1])
    target = jnp.sum(jnp.where(columns[None, :] == fwd.target[:, None], yhat, 0.0), axis=1)
    if loss == "mse":
        per = 0.5 * (jnp.sum(yhat**2, axis=1) - 2 * target + 1.0)
    else:
        n = jnp.asarray(n_pairs)
        extra = (2 * n if vocab_size is None else vocab_size) - 2 * n  # logits that are 0
        m = jnp.maximum(jnp.max(jnp.where(fwd.token_valid, yhat, -jnp.inf), axis=1), 0.0)
        e = jnp.sum(jnp.where(fwd.token_valid, jnp.exp(yhat - m[:, None]), 0.0), axis=1)
        per = m + jnp.log(e + extra * jnp.exp(-m)) - target
    return jnp.where(fwd.pair_valid, per, 0.0)


def query_weights(n_pairs, n_pad: int, query: str, dtype) -> jax.Array:
    """``(n_pad,)`` the probability of each (padded) pair being the query's: ``1/N`` on the
    ``N`` real pairs for ``"uniform"``, 1 on pair ``N − 1`` (the last index) for ``"last"``."""
    pairs = jnp.arange(n_pad)
    if query == "last":
        return (pairs == n_pad - 1).astype(dtype)
    n = jnp.asarray(n_pairs)
    return jnp.where(pairs >= n_pad - n, 1.0, 0.0).astype(dtype) / n.astype(dtype)


def check_patterns(patterns) -> tuple[str, ...]:
    """Validate attention-pattern clamp names; ``ValueError`` for an unknown one."""
    patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
    for p in patterns:
        if p not in PATTERN_CLAMPS:
            raise ValueError(f"unknown clamp {p!r}; allowed: {', '.join(PATTERN_CLAMPS)}")
    return patterns


def pattern_strength(patterns, dtype=jnp.float64):
    """``(3,)`` strengths (1 for each named clamp), or ``None`` when no clamp is named."""
    patterns = check_patterns(patterns)
    if not patterns:
        return None
    return jnp.array([float(p in patterns) for p in PATTERN_CLAMPS], dtype)
