"""The paired code's closed form with all 19 pseudo-parameters, ``O(T)`` per pair.

Under the paired code (MODEL.md, "Positions: two codes") the dense closed form of
:mod:`induction_ode.loss` builds ``T×T`` layer-1 patterns and one ``(N×T)·(T×T)`` product, but
the code leaves every layer-1 row with at most four distinct weights, and the query's layer-2
row with one formula for the keys before its pair and one for the keys after it. This module
computes the same :class:`~induction_ode.loss.Forward` (its ``layer2`` and ``yhat``) in
``O(T)`` work and memory per pair, from per-row arrays and one suffix sum. It is written for
this package (no library computes it); the dense form stays its test oracle.

**Layer 1, context rows** (:func:`paired_rows`). Tokens are orthonormal and distinct, ``C = I``
and ``S`` is ``+1`` at (label ``2i+1``, its item ``2i``) alone among causal pairs. So row ``s``
puts one weight ``b_s`` on each of its ``n_s = 2i`` *generic* earlier keys (pair ``i``: ``s =
2i`` or ``2i + 1``), ``ω_s`` on its own item (label rows: score ``α3``), and ``d_s`` on itself
(score ``α1 + α2``; inclusive mask only, and row 0 under the strict mask, which attends to itself
alone). ``n_s b_s + ω_s + d_s = 1``. The previous-token clamp maps ``(b, ω, d)`` of a label
row to ``((1 − c) b, (1 − c) ω + c, (1 − c) d)``, the same structure.

**Layer 1, the query's row.** The query's code ``u_N`` is orthogonal to every code and its
``M``-image, so for pair ``k`` it puts ``ρ`` on every context key but its item ``2k``,
``ρ e^{α1}`` on the item and ``σ = ρ e^{α1 + α2}`` on itself (inclusive only), with
``ρ = 1/(2N − 1 + e^{α1} [+ e^{α1 + α2}])``, the same for every ``k``. In token space it is
``ρ`` everywhere but ``κ = ρ e^{α1} + σ`` on token ``x_k``.

**Layer 2.** With ``W1[s, 2k]`` and ``W1[s, 2k+1]`` the key rows' weights on the query's item
and label (``0`` before them; ``d``, ``ω`` or ``b`` from them on), and ``r_s = 1 − W1[s, 2k]``
written as the sum of the row's other weights, the query's score of context key ``s`` is

``β1 [s = 2k] + β2 W1[s,2k] + β3 a1e_q[s] + β4 (ρ r_s + κ W1[s,2k]) + β9 wq[s] ± β10 wq[s ± 1]
+ β11 (ρ r_s + ρ e^{α1} W1[s,2k]) + β12 (ρ D_s − ρ (e^{α1} − 1) W1[s,2k+1])``,

``D_s`` row ``s``'s weight on items less its weight on labels (``d_s`` for an item row,
``ω_s − d_s`` for a label row), and of the query key itself
``β1 + (β2 + β3) κ + β4 ‖a1e_q‖² + β5 + (β7 + β9) σ + β11 ‖wq‖²`` (the other positional terms
vanish: MODEL.md's table with :func:`~induction_ode.positions.layer2_scores`'s derivation).

**Readout.** ``a2e`` is the layer-2 row in token space. ``a2a1e = Σ_s w2[s] W1[s, :] + w2[q]
a1e_q``: column ``u`` of ``W1`` is ``b_s`` in every row ``s > u`` but row ``u + 1`` when ``u`` is
an item (``ω_{u+1}``), and ``d_u`` on the diagonal, so ``a2a1e[u]`` is one reverse cumulative
sum of ``w2[s] b_s`` plus two terms. Every sum is of non-negative weights ``≤ 1`` (the softmax
is taken stably first), so nothing cancels or overflows at ``|θ| ~ 10³``.

``pairs="last"`` computes pair ``N − 1`` alone (``O(T)`` in all: the query option ``"last"``);
``pairs="all"`` every padded pair (``O(N T)``). Padding follows :mod:`induction_ode.loss`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .loss import Forward, masked_softmax
from .positions import item_lift

PAIRS = ("all", "last")
"""Which pairs :func:`paired_forward` computes."""


class PairedRows(NamedTuple):
    """The paired code's layer-1 context rows, ``(T−1,)`` each, by padded row index (pad rows
    hold finite values).

    Attributes:
        base: ``b_s``, the weight on each generic earlier key (0 where there is none).
        count: ``n_s``, the number of generic keys (``2i`` in pair ``i``).
        item: ``ω_s``, a label row's weight on its own item (0 for item rows).
        own: ``d_s``, the row's weight on itself.
    """

    base: jax.Array
    count: jax.Array
    item: jax.Array
    own: jax.Array


class QueryRow(NamedTuple):
    """The query's layer-1 row (scalars, the same for every pair ``k``).

    Attributes:
        rho: ``ρ``, the weight on each context key but the query's item.
        item: ``ρ e^{α1}``, the weight on the item ``2k``.
        own: ``σ``, the weight on itself (0 under the strict mask).
    """

    rho: jax.Array
    item: jax.Array
    own: jax.Array


@jax.tree_util.register_pytree_node_class
class Entries:
    """θ held as two arrays, read entry by entry: ``theta[i]`` (a static ``int``) is
    ``late[late_index.index(i)]`` for ``i`` in ``late_index`` and the next entry of ``early``
    otherwise; a static slice stacks its entries.

    The structured evaluators read θ only so, so a derivative in ``late`` alone leaves every
    value computed from ``early`` alone without a tangent (JAX prunes it), which one ``(19,)``
    array cannot do: the solver's Hessian (:func:`~induction_ode.forms.split_hessian`).

    Attributes:
        early: ``(19 − m,)``, the other entries in order; late: ``(m,)``.
        late_index: the ``m`` indices of ``late`` in θ, ascending (static).
    """

    def __init__(self, early, late, late_index: tuple[int, ...]):
        self.early, self.late, self.late_index = early, late, late_index

    @property
    def dtype(self):
        return self.early.dtype

    def __getitem__(self, i):
        if isinstance(i, slice):
            return jnp.stack([self[j] for j in range(*i.indices(len(self.early) + len(self.late)))])
        if i in self.late_index:
            return self.late[self.late_index.index(i)]
        return self.early[i - sum(j < i for j in self.late_index)]

    def tree_flatten(self):
        return (self.early, self.late), self.late_index

    @classmethod
    def tree_unflatten(cls, late_index, children):
        return cls(*children, late_index)


def lse(*terms) -> jax.Array:
    """``log Σ exp(terms)`` elementwise, for a few broadcastable arrays of finite entries (the
    shift by their maximum carries no derivative)."""
    terms = jnp.stack(jnp.broadcast_arrays(*terms))
    top = jax.lax.stop_gradient(jnp.max(terms, axis=0))
    return top + jnp.log(jnp.sum(jnp.exp(terms - top), axis=0))


LOW = -1e30
"""The log of an empty sum: ``exp(LOW) = 0``, finite in float32 too."""


def log_rows(theta, n_pairs, n_pad: int, *, strict: bool) -> PairedRows:
    """:class:`PairedRows` in log space (``log b``, ``n``, ``log ω``, ``log d``; :data:`LOW`
    where a weight is 0), from ``α1, α2, α3``; stable at ``|θ| ~ 10³``."""
    dtype = theta.dtype
    low = jnp.asarray(LOW, dtype)
    n = jnp.asarray(n_pairs)
    t = jnp.maximum(jnp.arange(2 * n_pad) - 2 * (n_pad - n), 0)  # real position of each row
    label = t % 2 == 1
    count = (t - t % 2).astype(dtype)  # 2i generic keys
    log_count = jnp.where(count > 0, jnp.log(jnp.maximum(count, 1.0)), low)
    log_item = jnp.where(label, theta[2], low)
    if strict:  # only row 0 attends to itself (score 0: it is alone)
        log_own = jnp.where(t == 0, 0.0, low)
    else:
        log_own = jnp.broadcast_to(theta[0] + theta[1], t.shape)
    log_z = lse(log_count, log_item, log_own)
    log_base = jnp.where(count > 0, -log_z, low)
    return PairedRows(log_base, count, jnp.maximum(log_item - log_z, low), jnp.maximum(log_own - log_z, low))


def paired_rows(theta, n_pairs, n_pad: int, *, strict: bool, prev_clamp=None) -> PairedRows:
    """:class:`PairedRows` of the context rows (:func:`log_rows` exponentiated);
    ``prev_clamp``: the previous-token clamp's strength, or ``None``."""
    logs = log_rows(theta, n_pairs, n_pad, strict=strict)
    base, item, own = jnp.exp(logs.base), jnp.exp(logs.item), jnp.exp(logs.own)
    if prev_clamp is not None:
        label = jnp.arange(base.shape[0]) % 2 == 1  # padding is by whole pairs
        keep = jnp.where(label, 1 - prev_clamp, 1.0)
        base, own = keep * base, keep * own
        item = jnp.where(label, (1 - prev_clamp) * item + prev_clamp, item)
    return PairedRows(base, logs.count, item, own)


def query_row(theta, n_pairs, *, strict: bool) -> QueryRow:
    """:class:`QueryRow` from ``α1, α2`` and ``N`` (log space)."""
    n = jnp.asarray(n_pairs)
    log_rest = jnp.log((2 * n - 1).astype(theta.dtype))  # N ≥ 1: at least one key
    log_own = theta[0] + theta[1]
    log_z = lse(log_rest, theta[0]) if strict else lse(log_rest, theta[0], log_own)
    own = jnp.zeros((), theta.dtype) if strict else jnp.exp(log_own - log_z)
    return QueryRow(jnp.exp(-log_z), jnp.exp(theta[0] - log_z), own)


def key_scores(theta, rows: PairedRows, qr: QueryRow, s, pair) -> jax.Array:
    """The query's layer-2 score of context key ``s`` for padded pair ``pair``, less β1's term
    ``β1 [s = 2k]`` (broadcasting; ``rows``: the rows of the keys ``s``, shaped like ``s``). The
    module doc gives the formula; ``pair = −1`` gives every key the score of a key after the
    pair, ``pair = n_pad`` of one before it. ``θ`` is read entry by entry (:class:`Entries`)."""
    b = [theta[i] for i in range(3, 15)]
    base, count, item, own = rows
    item_at, label_at = 2 * pair, 2 * pair + 1
    is_item, is_label = s == item_at, s == label_at
    after = s > label_at
    on_item = jnp.where(after, base, jnp.where(is_label, item, jnp.where(is_item, own, 0.0)))
    on_label = jnp.where(after, base, jnp.where(is_label, own, 0.0))
    # r_s = 1 − W1[s, 2k] as the sum of the row's other weights.
    rest = jnp.where(
        s < item_at,
        1.0,
        jnp.where(after, (count - 1) * base + item + own, count * base + jnp.where(is_label, own, item)),
    )
    kappa = qr.item + qr.own
    odd = s % 2 == 1  # padding is by whole pairs: padded parity is real parity
    token = jnp.where(is_item, kappa, qr.rho)  # a1e_q · e_s
    wq = jnp.where(is_item, qr.item, qr.rho)  # the query's layer-1 weight on position s
    turned = jnp.where(odd, -jnp.where(is_label, qr.item, qr.rho), qr.rho)  # a1p_qᵀ M p_s
    diff = jnp.where(odd, item - own, own)  # D_s
    return (
        b[1] * on_item
        + b[2] * token
        + b[3] * (qr.rho * rest + kappa * on_item)
        + b[8] * wq
        + b[9] * turned
        + b[10] * (qr.rho * rest + qr.item * on_item)
        + b[11] * (qr.rho * diff - item_lift(qr.rho, qr.item, theta[0]) * on_label)
    )


def scores_before(theta, rows: PairedRows, qr: QueryRow, s) -> tuple[jax.Array, jax.Array]:
    """:func:`key_scores` of context keys ``s`` before the query's pair, as ``shared +
    varying``: ``shared = ρ (β3 + β4 + β9 + β11)``, a scalar, and ``varying = ρ (±β10 + β12
    D_s)`` (``+`` on items, ``−`` on labels; ``D_s`` as in :func:`key_scores`), shaped like
    ``s``. ``varying`` reads α and β10, β12 alone, so the last query's sums
    (:func:`~induction_ode.paired_mse.paired_last_mse`) carry tangents in those alone."""
    b = [theta[i] for i in range(3, 15)]
    odd = s % 2 == 1
    diff = jnp.where(odd, rows.item - rows.own, rows.own)
    shared = qr.rho * (b[2] + b[3] + b[8] + b[10])
    return shared, qr.rho * (jnp.where(odd, -b[9], b[9]) + b[11] * diff)


def query_score(theta, qr: QueryRow, n_pairs) -> jax.Array:
    """The query's layer-2 score of itself (a scalar, the same for every pair)."""
    b = [theta[i] for i in range(3, 15)]
    kappa = qr.item + qr.own
    rest = (2 * jnp.asarray(n_pairs) - 1).astype(theta.dtype)
    norm_token = rest * qr.rho**2 + kappa**2  # ‖a1e_q‖²
    norm_row = rest * qr.rho**2 + qr.item**2 + qr.own**2  # ‖wq‖²
    return b[0] + (b[1] + b[2]) * kappa + b[3] * norm_token + b[4] + (b[6] + b[8]) * qr.own + b[10] * norm_row


def _readout(g, w2, rows: PairedRows, qr: QueryRow, pair, token_valid):
    """``ŷ`` in token coordinates, ``(P, T − 1)``, from the layer-2 rows ``w2`` ``(P, T)``."""
    q = token_valid.shape[0]
    u = jnp.arange(q)[None, :]
    is_item = u == 2 * pair[:, None]
    ctx, w_q = w2[:, :q], w2[:, q:]
    zeros = jnp.zeros((w2.shape[0], 2), w2.dtype)
    # Σ_{s ≥ v} w2[s] b_s for v = u + 2, and row u + 1's weight on column u.
    later = jnp.concatenate([jnp.cumsum((ctx * rows.base)[:, ::-1], axis=1)[:, ::-1], zeros], axis=1)
    next_row = jnp.concatenate([ctx[:, 1:], zeros[:, :1]], axis=1)
    next_weight = jnp.concatenate(
        [jnp.where(u[:, 1:] % 2 == 1, rows.item[None, 1:], rows.base[None, 1:]), jnp.zeros((1, 1), w2.dtype)],
        axis=1,
    )
    a1e_q = jnp.where(is_item, qr.item + qr.own, qr.rho)
    a2a1e = later[:, 2:] + next_row * next_weight + ctx * rows.own + w_q * a1e_q
    a2e = ctx + w_q * is_item
    yhat = g[0] * is_item + g[1] * a1e_q + g[2] * a2e + g[3] * a2a1e
    return jnp.where(token_valid, yhat, 0.0)


def paired_forward(
    theta, n_pairs, n_pad: int, pattern_clamp=None, *, layer1_mask: str, pairs: str = "all"
) -> Forward:
    """The paired code's :class:`~induction_ode.loss.Forward`, all 19 pseudo-parameters.

    Args:
        theta: ``(19,)``; n_pairs: ``N`` (may be traced), ``1 ≤ N ≤ n_pad``; n_pad: static.
        pattern_clamp: ``None`` or ``(3,)`` strengths, as in
            :func:`~induction_ode.loss.closed_form_forward`.
        layer1_mask: ``"strict"`` or ``"inclusive"`` (static).
        pairs: ``"all"``, every padded pair (``P = n_pad``), or ``"last"``, pair ``N − 1`` alone
            (``P = 1``).

    Returns:
        A :class:`~induction_ode.loss.Forward` with ``layer1 = layer1_query = None``,
        ``layer2`` ``(P, T)``, ``yhat`` ``(P, T − 1)``, ``target`` and ``pair_valid`` ``(P,)``.
        ``O(T)`` work and memory per pair.
    """
    strict = layer1_mask == "strict"
    prev = None if pattern_clamp is None else pattern_clamp[0]
    rows = paired_rows(theta, n_pairs, n_pad, strict=strict, prev_clamp=prev)
    qr = query_row(theta, n_pairs, strict=strict)
    pair = jnp.arange(n_pad) if pairs == "all" else jnp.array([n_pad - 1])
    n = jnp.asarray(n_pairs)
    size = 2 * n_pad + 1
    valid = jnp.arange(size) >= 2 * (n_pad - n)
    keys = PairedRows(*(x[None, :] for x in rows))
    s = jnp.arange(2 * n_pad)[None, :]
    ctx = key_scores(theta, keys, qr, s, pair[:, None]) + theta[3] * (s == 2 * pair[:, None])
    s2 = jnp.concatenate([ctx, jnp.broadcast_to(query_score(theta, qr, n_pairs), (pair.shape[0], 1))], axis=1)
    w2 = masked_softmax(s2, jnp.broadcast_to(valid, s2.shape))
    label = 2 * pair + 1
    g = theta[15:19]
    if pattern_clamp is not None:
        w2 = (1 - pattern_clamp[1]) * w2 + pattern_clamp[1] * (jnp.arange(size)[None, :] == label[:, None])
        g = (1 - pattern_clamp[2]) * g + pattern_clamp[2] * jnp.array([0.0, 0.0, 1.0, 0.0], theta.dtype)
    yhat = _readout(g, w2, rows, qr, pair, valid[:-1])
    return Forward(None, None, w2, yhat, label, pair >= n_pad - n, valid[:-1])
