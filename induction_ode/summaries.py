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
masked out. Each per-key table is held as ``BLOCK`` rows, row ``j`` advanced by ``2j``
positions, so that a block reads it with one slice (no gather). Row ``j`` of a block takes
its weights from the block's first row at the same gap,
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
of a reverse pass. **Its Hessian** (the solver's Jacobian, forward over reverse): those six
sums carry their own ``custom_jvp``, ten more sums (:func:`_triangle_pass` at ``order = 2``)
in one pass, where JAX's derivative of the first pass took several passes' time (at T = 8193
the Hessian costs 2.1 gradients instead of 5.8: ``benchmarks/rhs_cost.py``). ``L`` and ``μ`` are prefix
log-sum-exps whose derivatives are written out too (:func:`_tilted_prefix_lse`).
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


@jax.custom_jvp
def _tilted_prefix_lse(a, sigma, base):
    """``Λ_t = log Σ_{d ≤ t} exp(a σ_d + base_d)``, ``(len(σ),)``: a prefix log-sum-exp tilted
    by the scalar ``a`` along ``σ`` (``base`` masks with ``−∞``; ``−∞`` where no term is left).
    Differentiable in ``a`` only: ``σ`` and ``base`` must carry no derivative (``TypeError``).

    Its derivative is written here rather than left to JAX, which differentiates
    ``cumlogsumexp`` through an associative scan whose program is large: with this one the
    reduced sinusoidal gradient at ``T = 8193`` compiles in 3.9 s instead of 9.5 s
    (``benchmarks/rhs_cost.py``), the whole emergence program at ``N = 4096`` in about 22 s
    instead of 57 s (timed by hand), at the same run time. ``∂Λ_t/∂a`` is the tilted mean
    ``Σ σ_d e^{aσ_d + base_d − Λ_t}``: for ``σ ≥ 0`` where ``base`` is finite (the sines of
    :func:`sinusoidal_layer1` up to ``2N``), itself a tilted prefix log-sum-exp, over
    ``base + log σ``. So every order of derivative is a log-sum-exp of non-negative terms."""
    return lax.cumlogsumexp(a * sigma + base)


@functools.partial(_tilted_prefix_lse.defjvp, symbolic_zeros=True)
def _tilted_prefix_lse_jvp(primals, tangents):
    a, sigma, base = primals
    da, d_sigma, d_base = tangents
    if not all(type(t) is jax.custom_derivatives.SymbolicZero for t in (d_sigma, d_base)):
        raise TypeError("_tilted_prefix_lse is differentiable in its tilt only")
    log_z = _tilted_prefix_lse(a, sigma, base)
    if type(da) is jax.custom_derivatives.SymbolicZero:
        return log_z, jnp.zeros_like(log_z)
    positive = sigma > 0  # σ_d = 0 adds nothing to the mean; σ_d < 0 only past 2N (unused)
    log_sigma = jnp.where(positive, jnp.log(jnp.where(positive, sigma, 1.0)), -jnp.inf)
    finite = jnp.isfinite(log_z)
    ratio = _tilted_prefix_lse(a, sigma, base + log_sigma) - jnp.where(finite, log_z, 0.0)
    return log_z, jnp.where(finite, jnp.exp(ratio), 0.0) * da


def sinusoidal_layer1(a3, n_pairs, n_pad: int, strict: bool):
    """``(σ, L)``, each ``(2 n_pad + 1,)``: ``σ_d = sin ωd`` (``ω = π/(2N+1)``) and the
    log-normaliser ``L_t`` of layer-1 row ``t`` (a real position; 0 for row 0 under the strict
    mask, which attends to itself). Entries past ``2N`` are finite and unused. ``∂L_t/∂α3 = μ_t``
    is the mean of ``σ`` under row ``t``'s weights (:func:`_tilted_prefix_lse`)."""
    dtype = a3.dtype
    d = jnp.arange(2 * n_pad + 1)
    omega = jnp.pi / (2 * jnp.asarray(n_pairs) + 1).astype(dtype)
    sigma = jnp.sin(omega * d.astype(dtype))
    read = d >= (1 if strict else 0)
    log_z = _tilted_prefix_lse(a3, sigma, jnp.where(read, 0.0, -jnp.inf).astype(dtype))
    return sigma, jnp.where(read, log_z, 0.0)


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
    and far enough past the end that every block can be read (:func:`_ahead`)."""
    s = jnp.arange(table.shape[0])
    ext = jnp.full(2 * n_pad + 2 * BLOCK, fill, table.dtype)
    return jnp.concatenate([jnp.where(s < 2 * jnp.asarray(n_pairs), table, fill), ext])


def _ahead(table) -> jax.Array:
    """``(BLOCK, len)``: ``[j, x] = table[x + 2j]`` (the last ``2j`` entries of row ``j`` wrap
    round; no block reads them). Key ``s = base + 2j + i`` of a block's row ``j`` (``base =
    2 k0 + 2``) sits at ``[j, base + i]``, so a block reads a table with one slice."""
    return jnp.stack([jnp.roll(table, -2 * j) for j in range(BLOCK)])


def _block_slice(table, start, width: int) -> jax.Array:
    """``(BLOCK, width)``: the block of pairs ``start …``'s window of an :func:`_ahead` table."""
    return lax.dynamic_slice(table, (0, 2 * start + 2), (BLOCK, width))


def _over_rows(block, n_pad: int) -> list[jax.Array]:
    """``block(start, width)`` (a tuple of ``(BLOCK,)`` arrays) over every group's rows;
    returns each output as ``(n_pad,)`` by pair."""
    outs = [
        lax.map(lambda s, w=w: block(s, w), k0 + BLOCK * jnp.arange(rows // BLOCK))
        for k0, rows, w in _groups(n_pad)
    ]
    return [jnp.concatenate([o[i].reshape(-1) for o in outs])[:n_pad] for i in range(len(outs[0]))]


def _inside(table, n_pairs) -> jax.Array:
    """``(BLOCK, len)`` bool, an :func:`_ahead` table for an :func:`_extend`-ed ``table``: the
    key lies in the sequence (``< 2N``)."""
    x = jnp.arange(table.shape[0])[None, :] + 2 * jnp.arange(BLOCK)[:, None]
    return x < 2 * jnp.asarray(n_pairs)


def _triangle_extremes(a3, b2, n_pairs, n_pad: int, strict: bool) -> jax.Array:
    """``(n_pad,)`` the largest score in each pair's triangle (``−∞`` where it is empty)."""
    sigma, log_z = sinusoidal_layer1(a3, n_pairs, n_pad, strict)
    table = _extend(log_z, n_pairs, n_pad, jnp.inf)
    log_z_ahead, inside = _ahead(table), _inside(table, n_pairs)

    def block(start, width):
        read = _block_slice(inside, start, width)
        x = a3 * sigma[None, 2 : 2 + width] - _block_slice(log_z_ahead, start, width)
        high = jnp.max(jnp.where(read, x, -jnp.inf), 1)  # −∞ on an empty row
        low = jnp.min(jnp.where(read, x, jnp.inf), 1)  # +∞ on an empty row
        some = jnp.isfinite(high)
        high, low = jnp.where(some, high, 0.0), jnp.where(some, low, 0.0)
        return (jnp.where(some, jnp.maximum(b2 * jnp.exp(high), b2 * jnp.exp(low)), -jnp.inf),)

    return _over_rows(block, n_pad)[0]


def _row_steps(log_z_table, inside):
    """``(BLOCK, len)``, an :func:`_ahead` table: ``e^{L_s' − L_s}`` at key ``s = s' + 2j`` in
    the sequence (0 past it), the factor that turns a block's first row's weight at a gap into
    row ``j``'s. At most 1 (``L`` grows with ``s``), so it neither overflows nor, where a
    weight matters, underflows."""
    later = jnp.where(inside, _ahead(log_z_table), 0.0)
    return jnp.where(inside, jnp.exp(log_z_table[None, :] - later), 0.0)


def _triangle_pass(a3, b2, m, n_pairs, n_pad: int, strict: bool, order: int):
    """The triangle's sums per pair, each ``(n_pad,)``, for ``p = 1, 2`` (``e_p = e^p``), with
    ``W`` the layer-1 weight, ``δ = σ_d − μ_s`` (``= ∂ log W/∂α3``) and ``ν_s = ∂μ_s/∂α3``:

    - ``order = 0``: ``S_p = Σ e_p``;
    - ``order = 1``: also ``A_p = Σ e_p W``, ``B_p = Σ e_p W δ`` (the gradient's);
    - ``order = 2``: also ``C_p = Σ e_p W²``, ``D_p = Σ e_p W² δ``, ``F_p = Σ e_p W² δ²``,
      ``G_p = Σ e_p W δ²``, ``H_p = Σ e_p W ν`` (the Hessian's);

    in that order, ``p = 1`` before ``p = 2`` (``S_1, S_2, A_1, A_2, …``).

    Row ``j`` of a block starting at pair ``k0`` reads, at gap ``d``, the weight
    ``W = e^{α3σ_d − L_{s'}} · e^{L_{s'} − L_s}`` with ``s' = s − 2j`` the first row's key at the
    same gap: one exponential per column of the block and a tabulated factor per term
    (:func:`_row_steps`), where ``e^{α3σ_d − L_s}`` would take one per term. Every per-key table
    is held advanced by ``2j`` in row ``j`` (:func:`_ahead`), so a block reads it with one slice,
    not a gather."""
    layer1 = functools.partial(sinusoidal_layer1, n_pairs=n_pairs, n_pad=n_pad, strict=strict)
    sigma, log_z = layer1(a3)
    table = _extend(log_z, n_pairs, n_pad, jnp.inf)  # W = 0 past the sequence
    inside = _inside(table, n_pairs)
    steps = _row_steps(table, inside)
    mean = lambda a: jax.jvp(lambda x: layer1(x)[1], (a,), (jnp.ones_like(a),))[1]  # μ_s
    if order >= 1:
        mu_ahead = _ahead(_extend(mean(a3), n_pairs, n_pad, 0.0))
    if order == 2:
        nu_ahead = _ahead(_extend(jax.jvp(mean, (a3,), (jnp.ones_like(a3),))[1], n_pairs, n_pad, 0.0))
    shifts = jnp.concatenate([m, jnp.zeros(BLOCK, m.dtype)])

    def block(start, width):
        sig = sigma[None, 2 : 2 + width]
        first = jnp.exp(a3 * sig - lax.dynamic_slice(table, (2 * start + 2,), (width,)))
        w = first * _block_slice(steps, start, width)
        shift = lax.dynamic_slice(shifts, (start,), (BLOCK,))[:, None]
        e = jnp.exp(b2 * w - shift) * _block_slice(inside, start, width)  # 0 past the sequence
        terms = [e, e * e]
        if order >= 1:
            delta = sig - _block_slice(mu_ahead, start, width)
            ew = [x * w for x in terms]
            ewd = [x * delta for x in ew]
            terms += ew + ewd
        if order == 2:
            ew2 = [x * w for x in ew]
            ew2d = [x * w for x in ewd]
            nu = _block_slice(nu_ahead, start, width)
            terms += ew2 + ew2d + [x * delta for x in ew2d] + [x * delta for x in ewd] + [x * nu for x in ew]
        return tuple(jnp.sum(x, 1) for x in terms)

    return _over_rows(block, n_pad)


@functools.partial(jax.custom_jvp, nondiff_argnums=(4, 5))
def _triangle_sums(a3, b2, m, n_pairs, n_pad: int, strict: bool):
    """``(S_1, S_2)``: ``Σe`` and ``Σe²`` over each pair's triangle, ``e = exp(x − m)``;
    ``(n_pad,)`` each."""
    return tuple(_triangle_pass(a3, b2, m, n_pairs, n_pad, strict, order=0))


@_triangle_sums.defjvp
def _triangle_sums_jvp(n_pad, strict, primals, tangents):
    a3, b2, m, n_pairs = primals
    da, db, dm, _ = tangents
    s1, s2, a1, a2, b1, b2_sum = _triangle_moments(a3, b2, m, n_pairs, n_pad, strict)
    ds1 = db * a1 + b2 * da * b1 - dm * s1
    ds2 = 2 * (db * a2 + b2 * da * b2_sum - dm * s2)
    return (s1, s2), (ds1, ds2)


@functools.partial(jax.custom_jvp, nondiff_argnums=(4, 5))
def _triangle_moments(a3, b2, m, n_pairs, n_pad: int, strict: bool):
    """``(S_1, S_2, A_1, A_2, B_1, B_2)`` of :func:`_triangle_pass`, ``(n_pad,)`` each: the
    gradient's sums, with their own JVP (the Hessian's, one pass of ``order = 2``)."""
    return tuple(_triangle_pass(a3, b2, m, n_pairs, n_pad, strict, order=1))


@_triangle_moments.defjvp
def _triangle_moments_jvp(n_pad, strict, primals, tangents):
    """With ``∂e_p = p e_p (W ∂β2 + β2 W δ ∂α3 − ∂m)``, ``∂W = W δ ∂α3`` and ``∂δ = −ν ∂α3``:
    ``∂S_p = p (A_p ∂β2 + β2 B_p ∂α3 − S_p ∂m)``,
    ``∂A_p = p C_p ∂β2 + (p β2 D_p + B_p) ∂α3 − p A_p ∂m``,
    ``∂B_p = p D_p ∂β2 + (p β2 F_p + G_p − H_p) ∂α3 − p B_p ∂m``."""
    a3, b2, m, n_pairs = primals
    da, db, dm, _ = tangents
    sums = _triangle_pass(a3, b2, m, n_pairs, n_pad, strict, order=2)
    s, a, b, c, d, f, g, h = (sums[i : i + 2] for i in range(0, 16, 2))
    ds = [p * (a[i] * db + b2 * b[i] * da - s[i] * dm) for i, p in enumerate((1, 2))]
    d_a = [p * c[i] * db + (p * b2 * d[i] + b[i]) * da - p * a[i] * dm for i, p in enumerate((1, 2))]
    d_b = [p * d[i] * db + (p * b2 * f[i] + g[i] - h[i]) * da - p * b[i] * dm for i, p in enumerate((1, 2))]
    return (*s, *a, *b), (*ds, *d_a, *d_b)


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
