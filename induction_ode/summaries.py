"""The query's layer-2 row summarised per pair, and the sinusoidal code's summary.

The reduced closed form's MSE (:mod:`induction_ode.reduced`, only α3, β2, γ3 nonzero) reads
the query's layer-2 row of pair ``k`` through six numbers, a :class:`QuerySummary`: its
log-normaliser, the log of its sum of squared exponentials, and the scores of the label, the
item and the query key. This module holds that type, the loss it gives
(:func:`summary_mse`), and the summary under the sinusoidal code in ``O(T)`` per pair with no
``N×T`` array (:func:`sinusoidal_summary`); the paired code's is
:func:`induction_ode.reduced.paired_summary`.

**The sinusoidal code.** Row ``t`` of layer 1 scores key ``s ≤ t`` by ``α3 σ_{t−s}``,
``σ_d = sin ωd``, ``ω = π/T``, so its log-normaliser ``L_t`` is a prefix log-sum-exp over
``d`` (:func:`sinusoidal_layer1`), and the query's layer-2 score of context key ``s`` for pair
``k`` is ``x = β2 W1[s, 2k] = β2 exp(α3 σ_d − L_s)``, ``d = s − 2k``. The keys of pair ``k``:

- the ``2k`` keys before its item: score 0;
- its item (``d = 0``): ``β2`` for ``k = 0`` under the strict mask (row 0 attends to
  itself), 0 for ``k > 0``; ``β2 e^{−L_{2k}}`` under the inclusive mask;
- its label (``d = 1``): ``β2 e^{α3 σ_1 − L_{2k+1}}``;
- the query key: ``β2 (e^{α3 σ_{2N−2k} − L_{2N}} + [inclusive] e^{−L_{2N}})``;
- the *triangle*: ``d = 2 … 2N − 1 − 2k``, ``2N − 2 − 2k`` keys.

Only the triangle costs more than ``O(1)`` per pair, ``O(T²)`` in all (``≈ T²/4`` terms), and
only the uniform query needs it: the last pair has none. Its two sums ``Σ e^{x − m}`` and
``Σ e^{2(x − m)}`` are taken row by row (pair ``k`` in row ``k``, ``i = d − 2``), in blocks of
:data:`BLOCK` rows under ``lax.map``, so that no ``N×T`` array is formed. A row has a static
width; its positions past the sequence (``s ≥ 2N``) read ``L = +∞`` (so ``W = 0``) and are
masked out. A block's key positions are one index array, and each table is read with one
gather. Row ``j`` of a block takes its weights from the block's first row at the same gap,
``W_{s,d} = e^{α3σ_d − L_{s−2j}} · e^{L_{s−2j} − L_s}``: an exponential per column and a
tabulated factor ``≤ 1`` per term, not an exponential per term, with no range limit on α3.
The pairs are cut into :data:`GROUPS` groups, each with the width of its first pair, so the
rows hold ``≈ (1 + 1/GROUPS) T²/4`` terms.

The shift ``m`` of pair ``k`` is the largest score outside the triangle (and 0 where a key
scores 0). The triangle's scores lie between 0 and ``β2``, so with ``|β2| ≤``
:data:`SAFE_SCORE` no term overflows and none that matters underflows; beyond it (and for the
runner-up) a first pass takes the triangle's largest and smallest ``α3 σ_d − L_s``.

**Its gradient** (``jax.custom_jvp`` on the triangle's sums): with ``e = e^{x − m}``,
``W = x/β2`` and ``μ_s = ∂L_s/∂α3``, ``∂Σe = Σ e W ∂β2 + β2 Σ e W (σ_d − μ_s) ∂α3 − Σe ∂m``,
and the same with ``e²`` and a factor 2. All six sums come from one pass over the rows, so a
gradient (forward or reverse mode) costs one such pass, not the stored ``N×T`` intermediates
of a reverse pass.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .subspace import KEY_INDEX

BLOCK = 16
"""Triangle rows per ``lax.map`` iteration."""
GROUPS = 8
"""Groups of pairs, each with its own static row width."""
SAFE_SCORE = 300.0
"""Up to this ``|β2|`` the sums need no pass for the triangle's largest score (``e^{2·300}``
is finite)."""


class QuerySummary(NamedTuple):
    """The query's layer-2 row for each pair ``k`` (``(P,)`` arrays; scores and log-sums share
    a shift per pair, so only their differences mean anything).

    Attributes:
        log_z: ``log Z_k``, the log-normaliser.
        log_sq: ``log Σ_s exp(2 score_s)`` (so ``Σ_s w2[s]² = exp(log_sq − 2 log_z)``).
        label, item, query: the scores of the label ``2k+1``, the item ``2k`` and the query.
        runner_up: the largest score of any key but the label (``None`` where not asked for).
    """

    log_z: jax.Array
    log_sq: jax.Array
    label: jax.Array
    item: jax.Array
    query: jax.Array
    runner_up: jax.Array | None


def summary_mse(s: QuerySummary, g3) -> jax.Array:
    """Per-pair MSE ``ℓ_k = ½ (γ3² ‖a2e‖² − 2 γ3 w2[2k+1] + 1)``, with ``‖a2e‖² = Σ_s w2[s]²
    + 2 w2[2k] w2[q]`` (the query key folds onto its item's token); shape of ``s.log_z``."""
    squares = jnp.exp(s.log_sq - 2 * s.log_z) + 2 * jnp.exp(s.item + s.query - 2 * s.log_z)
    return 0.5 * (g3**2 * squares - 2 * g3 * jnp.exp(s.label - s.log_z) + 1.0)


def sinusoidal_layer1(a3, n_pairs, n_pad: int, strict: bool):
    """``(σ, L)``, each ``(2 n_pad + 1,)``: ``σ_d = sin ωd`` (``ω = π/(2N+1)``) and the
    log-normaliser ``L_t`` of layer-1 row ``t`` (a real position; 0 for row 0 under the strict
    mask, which attends to itself). Entries past ``2N`` are finite and unused."""
    dtype = a3.dtype
    d = jnp.arange(2 * n_pad + 1)
    omega = jnp.pi / (2 * jnp.asarray(n_pairs) + 1).astype(dtype)
    sigma = jnp.sin(omega * d.astype(dtype))
    first = 1 if strict else 0
    log_z = lax.cumlogsumexp(jnp.where(d >= first, a3 * sigma, -jnp.inf))
    return sigma, jnp.where(d >= first, log_z, 0.0)


def _groups(n_pad: int) -> list[tuple[int, int, int]]:
    """``(first pair, rows, width)`` of each group: rows a multiple of :data:`BLOCK`, the width
    that of its first pair's triangle at ``N = n_pad``."""
    per_group = -(-n_pad // GROUPS)
    size = -(-per_group // BLOCK) * BLOCK
    return [
        (k0, min(size, -(-(n_pad - k0) // BLOCK) * BLOCK), 2 * n_pad - 2 - 2 * k0)
        for k0 in range(0, n_pad, size)
    ]


def _extend(table, n_pairs, n_pad: int, fill):
    """``table`` (a ``(2 n_pad + 1,)`` array by key position ``s``) with ``fill`` at ``s ≥ 2N``
    and far enough past the end that every triangle row can be read (:func:`_keys`)."""
    s = jnp.arange(table.shape[0])
    ext = jnp.full(2 * n_pad + 2 * BLOCK, fill, table.dtype)
    return jnp.concatenate([jnp.where(s < 2 * jnp.asarray(n_pairs), table, fill), ext])


def _keys(start, width: int) -> jax.Array:
    """``(BLOCK, width)``: the key position ``s = 2(start + j) + 2 + i`` of row ``j``, column
    ``i`` (tables are read with it as one gather, faster on XLA's CPU backend than stacked
    slices)."""
    return 2 * start + 2 + 2 * jnp.arange(BLOCK)[:, None] + jnp.arange(width)[None, :]


def _read(table, keys):
    """``table[keys]`` (``keys`` an index array, or a tuple of them for a table with more axes);
    :func:`_extend` makes every key in bounds."""
    return table.at[keys].get(mode="promise_in_bounds")


def _over_rows(block, n_pad: int) -> list[jax.Array]:
    """``block(start, width)`` (a tuple of ``(BLOCK,)`` arrays) over every group's rows;
    returns each output as ``(n_pad,)`` by pair."""
    outs = [
        lax.map(lambda s, w=w: block(s, w), k0 + BLOCK * jnp.arange(rows // BLOCK))
        for k0, rows, w in _groups(n_pad)
    ]
    return [jnp.concatenate([o[i].reshape(-1) for o in outs])[:n_pad] for i in range(len(outs[0]))]


def _triangle_extremes(a3, b2, n_pairs, n_pad: int, strict: bool) -> jax.Array:
    """``(n_pad,)`` the largest score in each pair's triangle (``−∞`` where it is empty)."""
    sigma, log_z = sinusoidal_layer1(a3, n_pairs, n_pad, strict)
    table = _extend(log_z, n_pairs, n_pad, jnp.inf)
    end = 2 * jnp.asarray(n_pairs)

    def block(start, width):
        keys = _keys(start, width)
        inside = keys < end
        x = a3 * sigma[None, 2 : 2 + width] - _read(table, keys)
        high = jnp.max(jnp.where(inside, x, -jnp.inf), 1)  # −∞ on an empty row
        low = jnp.min(jnp.where(inside, x, jnp.inf), 1)  # +∞ on an empty row
        some = jnp.isfinite(high)
        high, low = jnp.where(some, high, 0.0), jnp.where(some, low, 0.0)
        return (jnp.where(some, jnp.maximum(b2 * jnp.exp(high), b2 * jnp.exp(low)), -jnp.inf),)

    return _over_rows(block, n_pad)[0]


def _row_steps(log_z_table, n_pairs):
    """``(BLOCK, len)``: ``exp(L_{s−2j} − L_s)`` at ``s < 2N`` (0 past the sequence), the factor
    that turns a block's first row's weight at a gap into row ``j``'s. At most 1 (``L`` grows
    with ``s``), so it neither overflows nor, where a weight matters, underflows."""
    s = jnp.arange(log_z_table.shape[0])
    back = jnp.stack([jnp.roll(log_z_table, 2 * j) for j in range(BLOCK)])  # L_{s−2j}; s ≥ 2j read
    inside = s[None, :] < 2 * jnp.asarray(n_pairs)
    return jnp.where(inside, jnp.exp(back - log_z_table[None, :]), 0.0)


def _triangle_pass(a3, b2, m, n_pairs, n_pad: int, strict: bool, derivatives: bool):
    """The triangle's ``Σe`` and ``Σe²`` per pair, and with ``derivatives`` also ``Σ eW``,
    ``Σ e²W``, ``Σ eW (σ_d − μ_s)``, ``Σ e²W (σ_d − μ_s)``; each ``(n_pad,)``.

    Row ``j`` of a block starting at pair ``k0`` reads, at gap ``d``, the weight
    ``W = e^{α3σ_d − L_{s'}} · e^{L_{s'} − L_s}`` with ``s' = s − 2j`` the first row's key at the
    same gap: one exponential per column of the block and a gathered factor per term
    (:func:`_row_steps`), where ``e^{α3σ_d − L_s}`` would take one per term."""
    layer1 = functools.partial(sinusoidal_layer1, n_pairs=n_pairs, n_pad=n_pad, strict=strict)
    sigma, log_z = layer1(a3)
    table = _extend(log_z, n_pairs, n_pad, jnp.inf)  # W = 0 past the sequence
    steps = _row_steps(table, n_pairs)
    end = 2 * jnp.asarray(n_pairs)
    if derivatives:
        mu = jax.jvp(lambda a: layer1(a)[1], (a3,), (jnp.ones_like(a3),))[1]
        mu_table = _extend(mu, n_pairs, n_pad, 0.0)
    shifts = jnp.concatenate([m, jnp.zeros(BLOCK, m.dtype)])
    row = jnp.arange(BLOCK)[:, None]

    def block(start, width):
        keys = _keys(start, width)
        sig = sigma[None, 2 : 2 + width]
        first = jnp.exp(a3 * sig - lax.dynamic_slice(table, (2 * start + 2,), (width,)))
        w = first * _read(steps, (row, keys))
        shift = lax.dynamic_slice(shifts, (start,), (BLOCK,))[:, None]
        e = jnp.exp(b2 * w - shift) * (keys < end)  # finite before the mask: W = 0 there
        e2 = e * e
        if not derivatives:
            return jnp.sum(e, 1), jnp.sum(e2, 1)
        ew, e2w, slope = e * w, e2 * w, sig - _read(mu_table, keys)
        return tuple(jnp.sum(x, 1) for x in (e, e2, ew, e2w, ew * slope, e2w * slope))

    return _over_rows(block, n_pad)


@functools.partial(jax.custom_jvp, nondiff_argnums=(4, 5))
def _triangle_sums(a3, b2, m, n_pairs, n_pad: int, strict: bool):
    """``(Σe, Σe²)`` over each pair's triangle, ``e = exp(x − m)``; ``(n_pad,)`` each."""
    return tuple(_triangle_pass(a3, b2, m, n_pairs, n_pad, strict, derivatives=False))


@_triangle_sums.defjvp
def _triangle_sums_jvp(n_pad, strict, primals, tangents):
    a3, b2, m, n_pairs = primals
    da, db, dm, _ = tangents
    s1, s2, ew, e2w, ews, e2ws = _triangle_pass(a3, b2, m, n_pairs, n_pad, strict, derivatives=True)
    ds1 = db * ew + b2 * da * ews - dm * s1
    ds2 = 2 * (db * e2w + b2 * da * e2ws - dm * s2)
    return (s1, s2), (ds1, ds2)


def sinusoidal_summary(
    theta, n_pairs, n_pad: int, *, strict: bool, pairs: str = "all", runner_up: bool = False
):
    """:class:`QuerySummary` under the sinusoidal code (the module doc derives it).

    Args:
        theta: ``(19,)``; only α3 and β2 are read.
        n_pairs, n_pad: ``N`` (may be traced) and the static padded size ``n_pad ≥ N``.
        strict: the layer-1 mask.
        pairs: ``"all"``: every padded pair, ``(n_pad,)`` in the padded order of
            :mod:`induction_ode.loss` (padded pairs repeat pair 0); ``"last"``: pair
            ``N − 1`` alone, ``(1,)``, in ``O(T)``.
        runner_up: also the largest score but the label's (one more pass for ``"all"``).
    """
    a3, b2 = theta[KEY_INDEX[0]], theta[KEY_INDEX[1]]
    dtype = theta.dtype
    n = jnp.asarray(n_pairs)
    sigma, log_z = sinusoidal_layer1(a3, n, n_pad, strict)
    triangle = pairs == "all" and n_pad > 1  # the last pair has none
    row = jnp.arange(n_pad) if triangle else jnp.atleast_1d(n - 1)  # row r: pair r
    k = jnp.minimum(row, n - 1)
    label = b2 * jnp.exp(a3 * sigma[1] - log_z[2 * k + 1])
    item = jnp.where(k == 0, b2, 0.0) if strict else b2 * jnp.exp(-log_z[2 * k])
    query = b2 * jnp.exp(a3 * sigma[2 * n - 2 * k] - log_z[2 * n])
    if not strict:
        query = query + b2 * jnp.exp(-log_z[2 * n])
    zeros = 2 * k  # keys before the item, score 0
    low = jnp.asarray(-jnp.inf, dtype)
    tri_max = jnp.full_like(label, low)
    if triangle and runner_up:
        tri_max = _triangle_extremes(a3, b2, n, n_pad, strict)
    elif triangle:
        big = jnp.abs(b2) > SAFE_SCORE
        tri_max = lax.cond(big, lambda: _triangle_extremes(a3, b2, n, n_pad, strict), lambda: tri_max)
    outside = jnp.maximum(jnp.maximum(item, query), jnp.where(zeros > 0, 0.0, low))  # all but the label
    m = lax.stop_gradient(jnp.maximum(jnp.maximum(outside, label), tri_max))
    s1 = s2 = jnp.zeros_like(label)
    if triangle:
        s1, s2 = _triangle_sums(a3, b2, m, n, n_pad, strict)
    at_zero = jnp.where(zeros > 0, -m, -jnp.inf)  # m ≥ 0 there
    z = s1 + zeros * jnp.exp(at_zero) + jnp.exp(item - m) + jnp.exp(label - m) + jnp.exp(query - m)
    sq = s2 + zeros * jnp.exp(2 * at_zero)
    sq = sq + jnp.exp(2 * (item - m)) + jnp.exp(2 * (label - m)) + jnp.exp(2 * (query - m))
    best = jnp.maximum(outside, tri_max) - m if runner_up else None
    summary = QuerySummary(jnp.log(z), jnp.log(sq), label - m, item - m, query - m, best)
    if not triangle:
        return summary
    padded = jnp.clip(jnp.arange(n_pad) - (n_pad - n), 0, n_pad - 1)  # padded pair → row
    return jax.tree.map(lambda x: x[padded], summary)
