"""The reduced closed form: the population loss when only α3, β2 and γ3 are nonzero.

With the other 16 pseudo-parameters at exactly 0 (the paper's 3-dimensional subspace,
``Model(free=KEY_PARAMS)`` from zero), most of the network of MODEL.md vanishes:

- **Layer 1.** Row ``t`` scores key ``s`` by ``α3 S[t,s]`` over its mask (``α1 = α2 = 0``).
  The query's row is the same for every ``k`` (no ``α1`` match term).
- **Layer 2.** Only the ``β2`` block (query token against the key's layer-1-copied token)
  is left, so the query's score of a context key ``s`` is ``β2 · W1[s, 2k]``, the layer-1
  weight of row ``s`` on position ``2k`` (the query's item), and of itself
  ``β2 · (W1[q, 2k] + W1[q, q])``, its own layer-1 weight on token ``x_k``.
- **Readout.** ``ŷ = γ3 · a2e``: ``γ3`` times the layer-2 weights in token coordinates, the
  query key's weight folded onto token ``2k``. For MSE,
  ``ℓ_k = ½ (γ3² ‖a2e‖² − 2 γ3 w2[2k+1] + 1)``.

Nothing here needs the ``O(T³)`` product of the general form (``a2a1e`` has ``γ4 = 0``):

- **Any code** (:func:`key_weights`, :func:`reduced_forward`; ``O(T)`` per ``k``, ``O(T²)``
  in all). Each ``k`` reads one column of ``W1``, its item's. Under the sinusoidal code the
  scores ``α3 sin ω(t−s)`` depend on the gap ``d = t − s`` alone, so every row's normaliser is
  a prefix log-sum-exp over ``d`` (``O(T)`` for all rows) and no ``T×T`` matrix is formed. This
  serves the sinusoidal code, and cross-entropy under either code.
- **The paired code, MSE** (:func:`paired_summary`, ``O(T)`` in all). ``S`` has one entry per
  earlier key: a label row ``2i+1`` scores its own item ``α3`` and every other key 0, an item
  row scores every key 0, and the query's code is orthogonal to all. With ``m_i = 2i`` keys
  besides the item (``2i + 1`` under the inclusive mask, where a row also attends to itself
  with score ``α3 S[t,t] = 0``), the label row puts ``e^{α3} / (e^{α3} + m_i)`` on its item and
  ``v_i = 1 / (e^{α3} + m_i)`` on each other key; an item row ``2i`` puts ``u_i = 1/(2i)``
  (``1/(2i+1)`` inclusive) on each key (row 0, strict, attends to itself alone). So the
  query's layer-2 scores for pair ``k`` are: ``0`` on the ``2k`` keys before its item;
  ``β2 d_k`` on its item (``d_k = [k = 0]`` strict, ``u_k`` inclusive);
  ``β2 e^{α3}/(e^{α3} + m_k)`` on its label; ``β2 u_i`` and ``β2 v_i`` on the item and label
  of every later pair ``i > k``; and ``β2 c`` on itself (``c = 1/(2N)`` strict,
  ``2/(2N+1)`` inclusive, the uniform query row's weight on token ``x_k``). Only the first
  three groups depend on ``k``; the later pairs enter through suffix sums over ``i > k``. The
  normaliser ``Z_k`` and the sum of squares ``Σ_s w2[s]²`` are such sums, formed as one
  reverse cumulative log-sum-exp of ``O(T)`` terms; then ``‖a2e‖² = Σ_s w2[s]² +
  2 w2[2k] w2[q]`` (the query key folds onto the item's token). ``u_i`` and ``v_i`` fall with
  ``i``, so the largest later score (for the head's contrast) is pair ``k+1``'s when
  ``β2 ≥ 0`` and pair ``N−1``'s when ``β2 < 0``. Everything is a sum of non-negative terms in
  log space, so ``L`` and ``∇L`` stay finite at ``|θ| ~ 10³``.
  Cross-entropy does not reduce this way: its log-sum-exp over tokens reads
  ``exp(γ3 e^{score − log Z_k})``, which is not a suffix sum of terms free of ``k``, so it
  takes the ``O(T²)`` form.

Padding follows :mod:`induction_ode.loss`: left-padded to ``T = 2 n_pad + 1`` with a static
``n_pad ≥ N`` and ``N`` possibly traced; pad positions and padded pairs are masked out.

Only ``θ[2], θ[4], θ[17]`` are read. So at a θ that is zero elsewhere the loss and its
gradient in α3, β2, γ3 equal the general form's, but the gradient in the 16 others is 0 here,
while the general form's is not (it is the force that would move them were they free). The
ODE freezes them, so it needs only the three; :class:`ReducedModel` is the model whose loss
is this form, and :func:`program_model` swaps it in for the compiled programs exactly when
``Model.free == KEY_PARAMS``, there is no clamp, and θ(0) is zero off the three.
"""

from __future__ import annotations

import functools
from dataclasses import fields
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .loss import Forward, masked_softmax, pair_losses, query_weights
from .model import Model
from .positions import with_query
from .subspace import KEY_INDEX, KEY_PARAMS
from .summaries import QuerySummary, sinusoidal_layer1, sinusoidal_summary, summary_mse


def _padding(n_pairs, n_pad: int):
    """``(idx (T,), off, n, valid (T,))`` of the left-padded coordinates."""
    idx = jnp.arange(2 * n_pad + 1)
    n = jnp.asarray(n_pairs)
    off = 2 * (n_pad - n)
    return idx, off, n, idx >= off


class PairedRows(NamedTuple):
    """The paired code's layer-1 rows, for each padded pair ``i`` (``(n_pad,)`` arrays; padded
    pairs are computed as pair 0, finite).

    Attributes:
        label: ``e^{α3}/(e^{α3} + m_i)``, label row ``2i+1`` on its item.
        later_label: ``v_i = 1/(e^{α3} + m_i)``, label row ``2i+1`` on any other key.
        later_item: ``u_i``, item row ``2i`` on any key (``1/(2i)`` strict, ``1/(2i+1)``).
        item: ``d_i``, item row ``2i`` on itself (``[i = 0]`` strict, ``u_i`` inclusive).
        query: ``c``, the query's row on token ``x_k`` (``1/(2N)`` strict, ``2/(2N+1)``).
    """

    label: jax.Array
    later_label: jax.Array
    later_item: jax.Array
    item: jax.Array
    query: jax.Array


def paired_rows(a3, n_pairs, n_pad: int, *, strict: bool) -> PairedRows:
    """:class:`PairedRows` from ``α3``, ``O(N)``; stable at ``|α3| ~ 10³`` (log space)."""
    dtype = a3.dtype
    n = jnp.asarray(n_pairs)
    i = jnp.maximum(jnp.arange(n_pad) - (n_pad - n), 0).astype(dtype)
    own = 0.0 if strict else 1.0  # a row attends to itself (inclusive)
    m = 2 * i + own  # keys of label row 2i+1 besides its item
    log_den = jnp.where(m > 0, jnp.logaddexp(a3, jnp.log(jnp.maximum(m, 1.0))), a3)
    later_item = 1.0 / jnp.maximum(2 * i + own, 1.0)
    item = jnp.where(i == 0, 1.0, 0.0) if strict else later_item
    query = jnp.broadcast_to((1.0 if strict else 2.0) / (2 * n + own).astype(dtype), i.shape)
    return PairedRows(jnp.exp(a3 - log_den), jnp.exp(-log_den), later_item, item, query)


def _sinusoidal_key_weights(a3, n_pairs, n_pad: int, strict: bool):
    """:func:`key_weights` of the sinusoidal code.

    Row ``t``'s scores ``α3 sin ω(t−s)`` depend on ``d = t − s`` alone, so its log-normaliser
    is a prefix log-sum-exp over ``d`` of ``h_d = α3 sin ωd`` (``d = 1 … t``, or ``0 … t``
    inclusive; row 0, strict, attends to itself: 0). The weight of row ``s`` on item ``2k`` is
    ``exp(h_{s−2k} − log Z_s)`` for ``s − 2k ≥ 1`` (``≥ 0`` inclusive), with
    ``sin ω(s − 2k)`` from the rank-2 form; in padded indices ``s − 2k = j − 2p``.
    """
    dtype = a3.dtype
    q = 2 * n_pad
    idx, off, n, _ = _padding(n_pairs, n_pad)
    omega = jnp.pi / (2 * n + 1).astype(dtype)
    sigma, log_z = sinusoidal_layer1(a3, n, n_pad, strict)  # by real row
    h = a3 * sigma  # h_d, d = 0 … T−1
    first = 1 if strict else 0
    t = idx - off  # real positions (negative: padding)
    log_z = jnp.where(t >= first, log_z[jnp.clip(t, 0, q)], 0.0)  # (T,) by padded index
    pair = jnp.arange(n_pad)
    angle_j, angle_p = omega * idx[:q].astype(dtype), 2 * omega * pair.astype(dtype)
    cos_j, sin_j, cos_p, sin_p = jnp.cos(angle_j), jnp.sin(angle_j), jnp.cos(angle_p), jnp.sin(angle_p)
    sin_gap = sin_j[None, :] * cos_p[:, None] - cos_j[None, :] * sin_p[:, None]  # sin ω(s − 2k)
    gap = idx[None, :q] - 2 * pair[:, None]  # s − 2k
    # Keys that do not see the item, pads and padded pairs get exp(−inf) = 0, with a zero
    # gradient. A padded pair's "item" lies before position 0, at a gap beyond row s's
    # normaliser (d ≤ s): its terms would be no weights but up to e^{2|α3|}, which overflow
    # the float32 Jacobian (NaN from |α3| ≈ 19 at N = 64 padded to 128) though masked later.
    real = pair >= n_pad - n
    sees = (gap >= first) & (t[None, :q] >= 0) & real[:, None]
    on_item = jnp.exp(jnp.where(sees, a3 * sin_gap - log_z[None, :q], -jnp.inf))
    if strict:  # row 0 attends to itself: weight 1 on item 0
        on_item = on_item + ((gap == 0) & (t[None, :q] == 0)).astype(dtype)
    on_query = jnp.exp(jnp.where(real, h[q - 2 * pair] - log_z[q], -jnp.inf))
    if not strict:  # the query attends to itself, token x_k
        on_query = on_query + jnp.exp(-log_z[q])
    return on_item, on_query


def key_weights(theta, n_pairs, n_pad: int, *, positions: str, strict: bool):
    """The layer-1 weights that layer 2 reads, for each padded pair ``k``: ``W1[s, 2k]`` of
    every context key ``s`` (row ``s`` on the query's item), ``(n_pad, T−1)``, and the query's
    own weight on token ``x_k``, ``(n_pad,)``. ``O(T²)``; no ``T×T`` matrix is formed."""
    a3 = theta[KEY_INDEX[0]]
    if positions == "sinusoidal":
        return _sinusoidal_key_weights(a3, n_pairs, n_pad, strict)
    r = paired_rows(a3, n_pairs, n_pad, strict=strict)
    q = 2 * n_pad
    j, two_p = jnp.arange(q)[None, :], 2 * jnp.arange(n_pad)[:, None]
    later = jnp.stack([r.later_item, r.later_label], axis=1).reshape(q)  # key j: pair j // 2
    on_item = jnp.where(
        j > two_p + 1,
        later[None, :],
        jnp.where(j == two_p + 1, r.label[:, None], jnp.where(j == two_p, r.item[:, None], 0.0)),
    )
    return on_item, r.query


def reduced_forward(theta, n_pairs, n_pad: int, *, layer1_mask: str, positions: str) -> Forward:
    """Layer 2 and the readout with only ``θ[2], θ[4], θ[17]`` (α3, β2, γ3) read; ``O(T²)``.

    Args and padding as in :func:`~induction_ode.loss.closed_form_forward` (no clamps).

    Returns:
        A :class:`~induction_ode.loss.Forward` whose ``layer1`` and ``layer1_query`` are
        ``None`` (layer 1 enters only through :func:`key_weights`).
    """
    b2, g3 = theta[KEY_INDEX[1]], theta[KEY_INDEX[2]]
    q = 2 * n_pad
    idx, _, n, valid = _padding(n_pairs, n_pad)
    strict = layer1_mask == "strict"
    on_item, on_query = key_weights(theta, n_pairs, n_pad, positions=positions, strict=strict)
    s2 = b2 * with_query(on_item, on_query)
    w2 = masked_softmax(s2, jnp.broadcast_to(valid, s2.shape))
    pairs = jnp.arange(n_pad)
    item_q = idx[None, :q] == 2 * pairs[:, None]
    yhat = g3 * (w2[:, :q] + w2[:, q:] * item_q)
    return Forward(None, None, w2, yhat, 2 * pairs + 1, pairs >= n_pad - n, valid[:q])


def paired_summary(theta, n_pairs, n_pad: int, *, strict: bool) -> QuerySummary:
    """The :class:`~induction_ode.summaries.QuerySummary` of every padded pair under the paired
    code, ``(n_pad,)`` each, in ``O(T)`` from α3 and β2 (the module doc derives it; padded pairs
    hold finite values)."""
    b2 = theta[KEY_INDEX[1]]
    dtype = theta.dtype
    low = jnp.asarray(-1e30, dtype)  # an empty log-sum: exp(low) = 0, finite in float32 too
    r = paired_rows(theta[KEY_INDEX[0]], n_pairs, n_pad, strict=strict)
    label, later_label, later_item, item, query = (b2 * x for x in r)
    i = jnp.arange(n_pad) - (n_pad - jnp.asarray(n_pairs))
    before = jnp.where(i > 0, jnp.log(jnp.maximum(2 * i, 1).astype(dtype)), low)  # 2k keys of score 0
    # Σ over later pairs i > k of e^{score} and e^{2 score}: exclusive reverse cumulative
    # log-sum-exps (both in one scan).
    per_pair = [jnp.logaddexp(later_item, later_label), jnp.logaddexp(2 * later_item, 2 * later_label)]
    suffix = jax.lax.cumlogsumexp(jnp.stack(per_pair), axis=1, reverse=True)
    later = jnp.concatenate([suffix[:, 1:], jnp.full((2, 1), low, dtype)], axis=1)
    log_z = jax.nn.logsumexp(jnp.stack([before, item, label, later[0], query]), axis=0)
    log_sq = jax.nn.logsumexp(jnp.stack([before, 2 * item, 2 * label, later[1], 2 * query]), axis=0)
    # u_i and v_i fall with i, so the largest later score is pair k+1's for β2 ≥ 0 and pair
    # N−1's (the last padded pair) for β2 < 0.
    pair_max = jnp.maximum(later_item, later_label)
    ahead = jnp.concatenate([pair_max[1:], jnp.full((1,), low, dtype)])
    last = jnp.where(jnp.arange(n_pad) < n_pad - 1, pair_max[-1], low)
    later_max = jnp.where(b2 >= 0, ahead, last)
    runner_up = jnp.max(jnp.stack([jnp.where(i > 0, 0.0, low), item, later_max, query]), axis=0)
    return QuerySummary(log_z, log_sq, label, item, query, runner_up)


@functools.partial(jax.jit, static_argnames=("n_pad", "loss", "layer1_mask", "positions", "query"))
def reduced_loss(
    theta, n_pairs, n_pad: int, *, layer1_mask, positions, query="uniform", loss="mse", vocab_size=None
):
    """The population loss from α3, β2, γ3 alone (the others are taken as 0); ``()``.

    Equal to :func:`~induction_ode.loss.padded_loss` at any θ that is zero off ``KEY_INDEX``.
    With MSE, ``O(T)`` for the paired code and for the sinusoidal code with the last query,
    ``O(T²)`` with no ``N×T`` array for the sinusoidal code with the uniform query
    (:mod:`induction_ode.summaries`); cross-entropy takes the ``O(T²)`` forward. Arguments as
    there (no clamps).
    """
    strict = layer1_mask == "strict"
    if loss == "mse" and positions == "sinusoidal" and query == "last":
        last = sinusoidal_summary(theta, n_pairs, n_pad, strict=strict, pairs="last")
        return summary_mse(last, theta[KEY_INDEX[2]])[0]
    if loss == "mse":
        summarise = paired_summary if positions == "paired" else sinusoidal_summary
        per = summary_mse(summarise(theta, n_pairs, n_pad, strict=strict), theta[KEY_INDEX[2]])
    else:
        fwd = reduced_forward(theta, n_pairs, n_pad, layer1_mask=layer1_mask, positions=positions)
        per = pair_losses(fwd, n_pairs, loss=loss, vocab_size=vocab_size)
    real = jnp.arange(n_pad) >= n_pad - jnp.asarray(n_pairs)
    return jnp.sum(jnp.where(real, per, 0.0) * query_weights(n_pairs, n_pad, query, theta.dtype))


class ReducedModel(Model):
    """A :class:`~induction_ode.model.Model` whose loss is :func:`reduced_loss`.

    Exact only where θ is zero off α3, β2, γ3, which the flow keeps when those three alone
    move from such a start; build it with :func:`program_model`, never by hand.
    """

    reads = KEY_INDEX

    def loss_of(self, theta, n_pairs, n_pad, pattern_clamp=None):
        """:func:`reduced_loss` of this network, loss and query (``pattern_clamp``: ``None``)."""
        if pattern_clamp is not None:
            raise ValueError("the reduced closed form has no pattern clamps")
        options = dict(query=self.query, loss=self.loss, vocab_size=self.vocab_size, **self.network())
        return reduced_loss(theta, n_pairs, n_pad, **options)

    def label_weights(self, theta, n_pairs, n_pad, pattern_clamp=None):
        """As :meth:`Model.label_weights`, from the query summaries (whatever the loss: the
        pattern does not depend on it); ``O(T)`` for the paired code, ``O(T²)`` with no ``N×T``
        array for the sinusoidal one."""
        if pattern_clamp is not None:
            raise ValueError("the reduced closed form has no pattern clamps")
        strict = self.layer1_mask == "strict"
        if self.positions == "paired":
            s = paired_summary(theta, n_pairs, n_pad, strict=strict)
        else:
            s = sinusoidal_summary(theta, n_pairs, n_pad, strict=strict, runner_up=True)
        return jnp.exp(s.label - s.log_z), jnp.exp(s.runner_up - s.log_z)


def program_model(model: Model, theta0=None) -> Model:
    """The static model of a compiled program for ``model`` started at ``theta0``.

    ``model`` with ``free=None`` and ``clamp=None`` (compiled programs take the free mask and
    the clamp as data; the clamp's :func:`~induction_ode.clamp.layout` is part of their key),
    as a :class:`ReducedModel` when ``model.free == KEY_PARAMS``, it has no clamp, and
    ``theta0`` (``None``: zeros) is zero off those three; the plain model otherwise.
    """
    base = model.replace(free=None, clamp=None)
    if model.free != KEY_PARAMS or model.clamp is not None:
        return base
    if theta0 is not None and np.any(np.delete(np.asarray(theta0, np.float64), KEY_INDEX) != 0):
        return base
    return ReducedModel(**{f.name: getattr(base, f.name) for f in fields(base)})
