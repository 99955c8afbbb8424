"""The paired code's MSE by sums over keys, all 19 pseudo-parameters, ``O(T)`` in all: every
pair's (the uniform query, :func:`paired_uniform_mse`) and the last pair's (the query
``"last"``, :func:`paired_last_mse`).

:func:`~induction_ode.structured.paired_forward` costs ``O(T)`` per pair, so ``O(T²)`` for
the uniform query. Under MSE the loss of pair ``k`` needs only the Gram matrix of the four
readout vectors ``E = e_{x_k}``, ``A = a1e_q``, ``B = a2e`` and ``C = a2a1e`` and their entries
on the label, and every one of these is a sum over keys whose terms do not depend on ``k``
except at the pair itself. With ``x_s`` the query's layer-2 scores (``f_s`` for a key before
pair ``k``, ``g_s`` after it, :func:`~induction_ode.structured.key_scores`), ``e_s = e^{x_s}``,
``Z`` their sum and ``K_u = Σ_{s ≥ u} e_s W1[s, u]`` the unnormalised layer-2 read of column
``u`` of layer 1:

- ``Z``, ``Σ e_s²`` and ``Σ e_s r_s`` (``r_s = 1 − W1[s, 2k]``): a prefix sum over ``s < 2k``,
  a suffix sum over ``s > 2k + 1`` and three terms (item, label, query).
- ``Σ_u e_u K_u = Σ_s e_s (b_s Σ_{u < 2i(s)} e_u + ω_s e_{s−1} + d_s e_s)``: before the pair a
  prefix sum of ``Φ_s``, itself built on a prefix sum; after it
  ``Σ_{u ≥ 2k+2} e^{g_u} Σ_{s > u's pair} e^{g_s} b_s``, a suffix sum of a suffix sum.
- ``Σ_u K_u²``: after the pair ``K_u`` does not depend on ``k`` (a suffix sum of ``K_u²``);
  before it ``K_u = F_u + c_k`` with ``F_u = Σ_{u ≤ s < 2k} e^{f_s} W1[s, u]``, and
  ``Σ_{u<2k} F_u² = Σ_{s, s' < 2k} e^{f_s + f_{s'}} (W1 W1ᵀ)[s, s']`` is a prefix sum of
  ``Q_s``, since ``(W1 W1ᵀ)[s, s'] = b_s`` for ``s' < s`` but at a label's own item.

Every sum is of non-negative terms, taken as cumulative log-sum-exps (each pair has its own
normaliser; the last pair's totals share one, and are taken in linear space after one shift),
so ``L`` and ``∇L`` stay finite at ``|θ| ~ 10³``; the only subtraction is MSE's own
``½‖ŷ‖² − ŷ_label + ½``, as in the dense form. Written for this package: no library computes it. Its oracle is
:func:`~induction_ode.structured.paired_forward` (and through it the dense form).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .structured import (
    LOW,
    PairedRows,
    QueryRow,
    key_scores,
    log_rows,
    lse,
    paired_rows,
    query_row,
    query_score,
    scores_before,
)

BLOCK = 8
"""Entries per block of :func:`_running_lse`."""


def _running_lse(x) -> jax.Array:
    """Inclusive running ``log Σ_{s ≤ j} exp(x[:, s])`` of ``(m, q)`` finite entries, exact at any
    range of ``x``.

    ``lax.cumlogsumexp`` is an associative scan whose derivatives form a program that grows
    with ``log q`` and dominated the compilation here (the Hessian of the emergence program
    took minutes); a ``lax.scan`` over blocks pays a loop iteration per block. Here the
    entries are cut into blocks of :data:`BLOCK`; inside a block every prefix is summed
    directly, shifted by its own maximum (``BLOCK`` exponentials an entry, so nothing
    underflows that matters), and the blocks' totals are combined by the same function one
    level up, ``log_BLOCK q`` levels of whole-array operations.
    """
    m, q = x.shape
    blocks = -(-q // BLOCK)
    padded = jnp.concatenate([x, jnp.full((m, blocks * BLOCK - q), LOW, x.dtype)], axis=1)
    padded = padded.reshape(m, blocks, BLOCK)
    upto = jnp.tril(jnp.ones((BLOCK, BLOCK), bool))  # [j, s]: s ≤ j
    terms = jnp.where(upto, padded[..., None, :], LOW)  # (m, blocks, BLOCK, BLOCK)
    top = jax.lax.stop_gradient(jnp.max(terms, axis=3))
    inside = top + jnp.log(jnp.sum(jnp.exp(terms - top[..., None]), axis=3))  # (m, blocks, BLOCK)
    if blocks > 1:
        totals = _running_lse(inside[..., -1])  # (m, blocks): through the end of each block
        earlier = jnp.concatenate([jnp.full((m, 1), LOW, x.dtype), totals[:, :-1]], axis=1)
        inside = lse(inside, earlier[..., None])
    return inside.reshape(m, blocks * BLOCK)[:, :q]


def _before(terms) -> jax.Array:
    """``(m, q + 1)``: entry ``j`` is ``log Σ_{s < j} exp(terms[:, s])``."""
    low = jnp.full((terms.shape[0], 1), LOW, terms.dtype)
    return jnp.concatenate([low, _running_lse(terms)], axis=1)


def _from(terms) -> jax.Array:
    """``(m, q + 2)``: entry ``v`` is ``log Σ_{s ≥ v} exp(terms[:, s])``."""
    low = jnp.full((terms.shape[0], 2), LOW, terms.dtype)
    return jnp.concatenate([_running_lse(terms[:, ::-1])[:, ::-1], low], axis=1)


def _shifted(x, by: int) -> jax.Array:
    """``x[s + by]`` for every ``s``, :data:`LOW` past either end (``by`` = ±1)."""
    low = jnp.full((1,), LOW, x.dtype)
    return jnp.concatenate([low, x[:-1]]) if by < 0 else jnp.concatenate([x[1:], low])


def _key_arrays(keys):
    """From :class:`_Keys`, the ``k``-independent log arrays ``(q,)``: scores before and after
    the pair, and the nested terms ``Φ, Q`` (prefix side) and ``Ψ, Λ, K``, ``log r`` (suffix
    side)."""
    lf, lg = keys.before, keys.after
    q = lf.shape[0]
    s = jnp.arange(q)
    odd = s % 2 == 1
    item_of = s - s % 2  # the item of s's pair
    lb, cnt, lw, ld = keys.logs
    log_cnt = jnp.where(cnt > 0, jnp.log(jnp.maximum(cnt, 1.0)), LOW)
    log_cnt_less = jnp.where(cnt > 1, jnp.log(jnp.maximum(cnt - 1, 1.0)), LOW)
    before_f = _before(lf[None])[0]  # Σ_{s' < j} e^{f}
    from_gb = _from((lg + lb)[None])[0]  # Σ_{s ≥ v} e^{g} b
    prev_f = _shifted(lf, -1)
    phi = lf + lse(lb + before_f[item_of], jnp.where(odd, lw + prev_f, LOW), ld + lf)
    log_gram = lse(log_cnt + 2 * lb, 2 * lw, 2 * ld)  # (W1 W1ᵀ)[s, s]
    earlier = jnp.where(odd, lb + before_f[jnp.maximum(s - 1, 0)], lb + before_f[s])
    own_item = prev_f + lse(lb + _shifted(log_cnt + lb, -1), lw + _shifted(ld, -1))
    cross = lse(earlier, jnp.where(odd, own_item, LOW))
    q_terms = lse(2 * lf + log_gram, jnp.log(2.0) + lf + cross)
    psi = lg + from_gb[item_of + 2]
    lam = lg + lse(jnp.where(odd, lw + _shifted(lg, -1), LOW), ld + lg)
    next_weight = jnp.where(odd, _shifted(lb, 1), _shifted(lw, 1))  # row s + 1 on column s
    k_after = lse(lg + ld, _shifted(lg, 1) + next_weight, from_gb[s + 2])
    log_rest = lse(log_cnt_less + lb, lw, ld)
    prefix = jnp.stack([lf, 2 * lf, phi, q_terms])
    suffix = jnp.stack([lg, 2 * lg, lg + lb, lg + log_rest, psi, lam, 2 * k_after])
    return prefix, suffix


class _Keys(NamedTuple):
    """The query's layer-2 scores under the paired code, for every padded pair at once: the
    rows (linear and log), the query row, the scores of every key before and after a pair
    (``(q,)``, :data:`LOW` at pad keys), and of each pair's item, label and the query."""

    rows: PairedRows
    logs: PairedRows
    query_row: QueryRow
    before: jax.Array
    after: jax.Array
    item: jax.Array
    label: jax.Array
    query: jax.Array


def _keys(theta, n_pairs, n_pad: int, strict: bool) -> _Keys:
    q = 2 * n_pad
    s = jnp.arange(q)
    valid = s >= 2 * (n_pad - jnp.asarray(n_pairs))
    logs = log_rows(theta, n_pairs, n_pad, strict=strict)
    rows = PairedRows(jnp.exp(logs.base), logs.count, jnp.exp(logs.item), jnp.exp(logs.own))
    qr = query_row(theta, n_pairs, strict=strict)
    p = jnp.arange(n_pad)
    at_item, at_label = (PairedRows(*(x[i] for x in rows)) for i in (2 * p, 2 * p + 1))
    return _Keys(
        rows,
        logs,
        qr,
        jnp.where(valid, key_scores(theta, rows, qr, s, n_pad), LOW),
        jnp.where(valid, key_scores(theta, rows, qr, s, -1), LOW),
        key_scores(theta, at_item, qr, 2 * p, p) + theta[3],
        key_scores(theta, at_label, qr, 2 * p + 1, p),
        query_score(theta, qr, n_pairs),
    )


def paired_uniform_label_weights(theta, n_pairs, n_pad: int, *, strict: bool):
    """The query's layer-2 weight on the correct label and the largest on any other key, for
    every padded pair under the paired code: two ``(n_pad,)`` arrays, ``O(T)`` memory (the
    forward's ``(N, T)`` rows would take 17 GB at N = 32,768). No clamps."""
    keys = _keys(theta, n_pairs, n_pad, strict)
    q = 2 * n_pad
    pre = _before(keys.before[None])[0, 0:q:2]
    post = _from(keys.after[None])[0, 2 : q + 1 : 2]
    low = jnp.full((1,), LOW, theta.dtype)
    top_before = jnp.concatenate([low, jax.lax.cummax(keys.before)])[0:q:2]
    top_after = jnp.concatenate([jax.lax.cummax(keys.after, reverse=True), low, low])[2 : q + 1 : 2]
    log_z = lse(pre, keys.item, keys.label, post, keys.query)
    runner_up = jnp.maximum(jnp.maximum(top_before, top_after), jnp.maximum(keys.item, keys.query))
    return jnp.exp(keys.label - log_z), jnp.exp(runner_up - log_z)


class _Sums(NamedTuple):
    """What the MSE of one pair ``k`` reads from its layer-2 row, each a sum over keys divided
    by ``Z`` (or ``Z²``): ``w0, w1, wq`` the weights of the pair's item, its label and the
    query; ``before``, ``after`` the total weight of the keys before and after the pair;
    ``after_base``, ``after_rest`` ``Σ_{s > 2k+1} w2[s] b_s`` and ``Σ w2[s] r_s``; ``squares``
    ``Σ w2[s]²`` over the keys before and after; ``phi`` and ``quad`` the keys' parts of
    ``w2ᵀ W1 w2`` and ``Σ_u K_u²/Z²`` (the module doc). Scalars or ``(n_pad,)`` arrays."""

    w0: jax.Array
    w1: jax.Array
    wq: jax.Array
    before: jax.Array
    after: jax.Array
    after_base: jax.Array
    after_rest: jax.Array
    squares: jax.Array
    phi: jax.Array
    quad: jax.Array


def _pair_mse(theta, qr: QueryRow, at_item: PairedRows, at_label: PairedRows, m, k_real, sums: _Sums):
    """``ℓ_k = ½‖ŷ − e_label‖²`` from the Gram matrix of ``E, A, B, C`` (the module doc);
    ``at_item``, ``at_label``: the rows of the pair's item and label; ``m = 2N − 1``; ``k_real``
    the pair's real index. Broadcasts over pairs."""
    w0, w1, wq, f_sum, g_sum, g_base, g_rest, sq, phi, quad = sums
    sq = sq + w0**2 + w1**2
    rho, kappa = qr.rho, qr.item + qr.own
    b0, n0, _, d0 = at_item
    b1, n1, om1, d1 = at_label
    k_item = w0 * d0 + w1 * om1 + g_base  # K_{2k} / Z
    k_label = w1 * d1 + g_base  # K_{2k+1} / Z
    k_other = f_sum + w0 * n0 * b0 + w1 * (n1 * b1 + d1) + g_rest  # Σ_{u ≠ 2k} K_u / Z
    shared = w0 * b0 + w1 * b1 + g_base  # K_u / Z − F_u / Z for every u < 2k
    others = f_sum + w1 + g_sum  # Σ_{s ≠ 2k} w2[s] over context keys
    eb, bb = w0 + wq, sq + 2 * w0 * wq + wq**2
    ab = rho * others + kappa * eb
    ec, c_label = k_item + wq * kappa, k_label + wq * rho
    ac = rho * (k_other + wq * m * rho) + kappa * ec
    e_k = (
        phi
        + w0 * (b0 * f_sum + d0 * w0)
        + w1 * (b1 * f_sum + om1 * w0 + d1 * w1)
        + g_base * (f_sum + w0 + w1)
    )
    bc = e_k + wq * (rho * others + kappa * w0) + wq * ec
    kk = quad + 2 * shared * f_sum + 2 * k_real * shared**2 + k_label**2
    cc = kk + 2 * wq * rho * k_other + m * (wq * rho) ** 2 + ec**2
    g1, g2, g3, g4 = theta[15], theta[16], theta[17], theta[18]
    norm = g1**2 + g2**2 * (m * rho**2 + kappa**2) + g3**2 * bb + g4**2 * cc
    cross = g1 * g2 * kappa + g1 * g3 * eb + g1 * g4 * ec + g2 * g3 * ab + g2 * g4 * ac + g3 * g4 * bc
    norm = norm + 2 * cross
    on_label = g2 * rho + g3 * w1 + g4 * c_label
    return 0.5 * norm - on_label + 0.5


def paired_uniform_mse(theta, n_pairs, n_pad: int, *, strict: bool) -> jax.Array:
    """Per-pair MSE ``ℓ_k`` under the paired code, ``(n_pad,)`` (padded pairs: finite values
    to be masked), in ``O(T)`` work and memory for all pairs together. No clamps. ``θ`` is read
    entry by entry (a ``(19,)`` array or an :class:`~induction_ode.structured.Entries`):
    γ1–γ4, β1, β5–β8 (and α2 under the strict mask) enter only after the ``O(T)`` sums
    (:func:`~induction_ode.forms.split_hessian`).

    Args:
        theta: ``(19,)``; n_pairs: ``N`` (may be traced), ``1 ≤ N ≤ n_pad``; n_pad: static.
        strict: the strict layer-1 mask (else inclusive).
    """
    q = 2 * n_pad
    n = jnp.asarray(n_pairs)
    keys = _keys(theta, n_pairs, n_pad, strict)
    x0, x1, xq = keys.item, keys.label, keys.query
    prefix, suffix = _key_arrays(keys)
    pre = _before(prefix)[:, 0:q:2]  # over s < 2k
    post = _from(suffix)[:, 2 : q + 1 : 2]  # over s > 2k + 1
    p = jnp.arange(n_pad)
    at_item, at_label = (PairedRows(*(x[i] for x in keys.rows)) for i in (2 * p, 2 * p + 1))
    log_z = lse(pre[0], x0, x1, post[0], xq)
    per_z = [jnp.exp(x - log_z) for x in (x0, x1, xq, pre[0], post[0], post[2], post[3])]
    per_z2 = [
        jnp.exp(x - 2 * log_z)
        for x in (lse(pre[1], post[1]), lse(pre[2], post[4], post[5]), lse(pre[3], post[6]))
    ]
    k_real = jnp.maximum(p - (n_pad - n), 0).astype(theta.dtype)
    m = (2 * n - 1).astype(theta.dtype)
    return _pair_mse(theta, keys.query_row, at_item, at_label, m, k_real, _Sums(*per_z, *per_z2))


def _last_sums(lf, valid, keys: PairedRows) -> jax.Array:
    """``Σ e_s``, ``Σ e_s²``, ``Σ Φ_s``, ``Σ Q_s`` (the module doc) over the real keys ``s < 2K``
    before the last pair (``valid``; ``keys``: their rows), ``e_s = e^{lf_s}`` (``lf ≤ 0``, 0 at
    the largest): ``(4,)``, in linear space, since one normaliser serves every key."""
    dtype = lf.dtype
    odd = jnp.arange(lf.shape[0]) % 2 == 1
    b, count, w, d = keys
    e = jnp.where(valid, jnp.exp(jnp.where(valid, lf, 0.0)), 0.0)
    zero = jnp.zeros((1,), dtype)
    earlier = jnp.concatenate([zero, jnp.cumsum(e)[:-1]])  # Σ_{s' < s} e
    before_item = jnp.repeat(earlier[0::2], 2)  # Σ over the keys before s's pair
    prev = lambda x: jnp.concatenate([zero, x[:-1]])  # noqa: E731
    e_prev = prev(e)
    phi = e * (b * before_item + jnp.where(odd, w * e_prev, 0.0) + d * e)
    gram = count * b**2 + w**2 + d**2  # (W1 W1ᵀ)[s, s]
    own_item = e_prev * (b * prev(count * b) + w * prev(d))
    cross = b * before_item + jnp.where(odd, own_item, 0.0)
    return jnp.stack([jnp.sum(e), jnp.sum(e**2), jnp.sum(phi), jnp.sum(e**2 * gram + 2 * e * cross)])


def paired_last_mse(theta, n_pairs, n_pad: int, *, strict: bool) -> jax.Array:
    """The MSE of the last pair (the query ``"last"``) under the paired code, a scalar, in
    ``O(T)``: :func:`paired_uniform_mse`'s sums at pair ``N − 1``, where no key follows the pair
    and every key before it shares one normaliser, so the sums are plain totals after one shift
    by their largest score (sums of non-negative terms, stable at ``|θ| ~ 10³``). No clamps.

    The keys' scores are ``shared + varying`` (:func:`~induction_ode.structured.scores_before`),
    and ``shared`` is taken out of the sums, so the ``O(T)`` arrays read α1, α3, β10 and β12
    (and α2 under the inclusive mask) alone: every other entry is late for
    :func:`~induction_ode.forms.split_hessian`. Arguments as :func:`paired_uniform_mse`.
    """
    dtype = theta.dtype
    n = jnp.asarray(n_pairs)
    last = n_pad - 1
    rows = paired_rows(theta, n_pairs, n_pad, strict=strict)
    qr = query_row(theta, n_pairs, strict=strict)
    s = jnp.arange(2 * last)
    keys = PairedRows(*(x[: 2 * last] for x in rows))
    shared, varying = scores_before(theta, keys, qr, s)
    valid = s >= 2 * (n_pad - n)
    top = jax.lax.stop_gradient(jnp.max(jnp.where(valid, varying, LOW)))
    totals = _last_sums(varying - top, valid, keys)
    at_item, at_label = (PairedRows(*(x[i] for x in rows)) for i in (2 * last, 2 * last + 1))
    x0 = key_scores(theta, at_item, qr, 2 * last, last) + theta[3]
    x1 = key_scores(theta, at_label, qr, 2 * last + 1, last)
    xq = query_score(theta, qr, n_pairs)
    some = totals[0] > 0  # a key before the pair (N > 1)
    log_before = jnp.where(some, shared + top + jnp.log(jnp.where(some, totals[0], 1.0)), LOW)
    log_z = lse(log_before, x0, x1, xq)
    scale = jnp.exp(shared + top - log_z)  # the weight of the largest key before the pair
    none = jnp.zeros((), dtype)
    sums = _Sums(*(jnp.exp(x - log_z) for x in (x0, x1, xq)), scale * totals[0], none, none, none,
                 *(scale**2 * t for t in totals[1:]))  # fmt: skip
    return _pair_mse(theta, qr, at_item, at_label, (2 * n - 1).astype(dtype), (n - 1).astype(dtype), sums)
