"""The two positional codes of MODEL.md ("Positions: two codes"), and the query option.

Each code gives position ``t`` a vector ``c_t`` in a positional space of width ``P`` with a
fixed rotation ``M`` (``MᵀM = I``, ``M² = −I``). The network sees positions only through the
Gram matrices ``C[t,s] = c_tᵀ c_s`` and ``S[t,s] = c_tᵀ M c_s``.

- ``"sinusoidal"`` (``P = 2``, ``M = J``): ``c_t = (cos ωt, sin ωt)``, ``ω = π/T``, so
  ``C = cos ω(t−s)`` and ``S = sin ω(t−s)``, Toeplitz and rank 2 each.
- ``"paired"`` (``P = 2N + 2``): pair ``i`` has the code ``u_i``; its item carries ``u_i``,
  its label ``M u_i = u_{N+1+i}``, and the query ``u_N``. ``M = [[0, −I], [I, 0]]`` on the
  halves ``(u_0…u_N | u_{N+1}…u_{2N+1})``. Then ``C = I`` and ``S`` is zero except
  ``S[2i+1, 2i] = +1`` (a label sees its item) and ``S[2i, 2i+1] = −1``.

Two kinds of functions live here: the explicit codes and their symmetry group, for the
explicit network (:func:`codes`, :func:`random_symmetry`, :func:`rotation`), and the
structured forms the closed form uses in place of dense ``T×T`` positional matrices
(:func:`gram`, :func:`layer2_scores`). The latter work in the closed form's left-padded
coordinates: ``T = 2 n_pad + 1`` indices, the first ``off = 2(n_pad − N)`` of them padding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .options import check_option

POSITIONS = ("sinusoidal", "paired")
"""The positional codes (option ``Model.positions``)."""
QUERIES = ("uniform", "last")
"""Which pair the query asks for (option ``Model.query``): ``"uniform"``, ``k`` uniform on
``{0 … N−1}``; ``"last"``, ``k = N − 1`` only (the assumption of the paper's Theorem 2)."""


def check_positions(positions: str) -> str:
    """Return ``positions`` if it is one of :data:`POSITIONS`; ``ValueError`` otherwise."""
    return check_option("positions", positions, POSITIONS)


def check_query(query: str) -> str:
    """Return ``query`` if it is one of :data:`QUERIES`; ``ValueError`` otherwise."""
    return check_option("query", query, QUERIES)


def width(positions: str, n_pairs):
    """The positional width ``P``: 2 for ``"sinusoidal"``, ``2N + 2`` for ``"paired"``
    (``n_pairs`` may be traced)."""
    return 2 if check_positions(positions) == "sinusoidal" else 2 * n_pairs + 2


def rotation(p: int) -> np.ndarray:
    """``M = [[0, −I], [I, 0]]`` of shape ``(P, P)`` for an even ``P`` (``J`` for ``P = 2``)."""
    if p < 2 or p % 2:
        raise ValueError(f"the positional width must be even and >= 2, got {p}")
    h = p // 2
    m = np.zeros((p, p))
    m[:h, h:] = -np.eye(h)
    m[h:, :h] = np.eye(h)
    return m


def codes(positions: str, n_pairs: int, dtype=jnp.float64) -> jax.Array:
    """The codes ``c_t`` of the ``T = 2N + 1`` positions, shape ``(T, P)`` (phase 0 / no rotation)."""
    size = 2 * n_pairs + 1
    if check_positions(positions) == "sinusoidal":
        angle = jnp.pi / size * jnp.arange(size, dtype=dtype)
        return jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)
    pairs = np.arange(n_pairs)
    basis = np.empty(size, int)
    basis[0:-1:2] = pairs  # item i carries u_i
    basis[1::2] = n_pairs + 1 + pairs  # label i carries M u_i = u_{N+1+i}
    basis[-1] = n_pairs  # the query carries u_N
    return jnp.asarray(np.eye(2 * n_pairs + 2)[basis], dtype)


def random_symmetry(key, positions: str, n_pairs: int, batch: int, dtype=jnp.float64) -> jax.Array:
    """``(B, P, P)`` Haar-random orthogonal matrices that commute with ``M``.

    They leave ``C`` and ``S`` unchanged, and averaging over them is what keeps full-weight
    gradient descent in the subspace (MODEL.md). For ``"sinusoidal"`` they are the rotations
    by a uniform phase ``φ`` (``R c_t = (cos(φ + ωt), sin(φ + ωt))``); for ``"paired"`` the
    real form ``[[Re U, −Im U], [Im U, Re U]]`` of a Haar unitary ``U`` of size ``N + 1``
    (QR of a complex Gaussian with the phase fix).
    """
    if check_positions(positions) == "sinusoidal":
        phi = jax.random.uniform(key, (batch,), dtype=dtype, maxval=2 * jnp.pi)
        c, s = jnp.cos(phi), jnp.sin(phi)
        return jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)
    h = n_pairs + 1
    re, im = jax.random.normal(key, (2, batch, h, h), dtype=dtype)
    q, r = jnp.linalg.qr(re + 1j * im)
    diag = jnp.diagonal(r, axis1=-2, axis2=-1)
    u = q * (diag / jnp.abs(diag))[:, None, :]
    return jnp.concatenate(
        [jnp.concatenate([u.real, -u.imag], -1), jnp.concatenate([u.imag, u.real], -1)], -2
    ).astype(dtype)


def _sinusoidal_features(idx, off, n, dtype) -> jax.Array:
    """``(T, 2)`` codes of the padded indices (pads get codes too; they are masked later)."""
    omega = jnp.pi / (2 * n + 1).astype(dtype)
    angle = omega * (idx - off).astype(dtype)
    return jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)


def _bilinear(u: jax.Array, v: jax.Array, a, b) -> jax.Array:
    """``uᵀ (a I₂ + b J) v`` for 2-vectors in the last axis (broadcasting)."""
    dot = u[..., 0] * v[..., 0] + u[..., 1] * v[..., 1]
    cross = u[..., 1] * v[..., 0] - u[..., 0] * v[..., 1]
    return a * dot + b * cross


def _pair_matrix(idx) -> jax.Array:
    """``(T, T)`` the paired code's ``S`` in padded coordinates (``off`` is even, so parity of
    ``idx`` is parity of ``t``): ``+1`` at (label, its item), ``−1`` at (item, its label)."""
    row, col = idx[:, None], idx[None, :]
    last = idx[-1]
    label_sees_item = (row % 2 == 1) & (col == row - 1)
    item_sees_label = (row % 2 == 0) & (col == row + 1) & (row < last)
    return label_sees_item.astype(jnp.float32) - item_sees_label.astype(jnp.float32)


def gram(positions: str, idx, off, n, a, b) -> jax.Array:
    """``a C + b S`` in padded coordinates, shape ``(T, T)`` (the layer-1 positional scores).

    ``"sinusoidal"`` from the rank-2 form (no ``T×T`` cosines); ``"paired"`` as ``a I`` plus
    the two off-diagonal pair entries of ``b S``.
    """
    dtype = jnp.result_type(a)
    if positions == "sinusoidal":
        pos = _sinusoidal_features(idx, off, n, dtype)
        return _bilinear(pos[:, None], pos[None, :], a, b)
    eye = (idx[:, None] == idx[None, :]).astype(dtype)
    return a * eye + b * _pair_matrix(idx).astype(dtype)


def with_query(ctx: jax.Array, last: jax.Array) -> jax.Array:
    """``(n_pad, T)`` from context keys ``(n_pad, T−1)`` and the query's own key ``(n_pad,)``."""
    return jnp.concatenate([ctx, last[:, None]], axis=1)


def item_lift(rho, w_item, alpha1) -> jax.Array:
    """The query's extra layer-1 weight on its own item, ``ρ (e^{α1} − 1)``, from ``ρ`` and
    ``w_item = ρ e^{α1}``: ``w_item (1 − e^{−α1})`` for ``α1 > 0``, ``ρ (e^{α1} − 1)`` else, each a
    product of finite factors at ``|α1| ~ 10³`` (the clips keep the branch not taken finite for
    the gradient)."""
    pos = -w_item * jnp.expm1(-jnp.maximum(alpha1, 0.0))
    return jnp.where(alpha1 > 0, pos, rho * jnp.expm1(jnp.minimum(alpha1, 0.0)))


def layer2_scores(positions: str, idx, off, n, w1, wq, alpha1, b) -> jax.Array:
    """The positional part of the query's layer-2 scores, ``(n_pad, T)`` (key ``T−1``: itself).

    With ``G(x, y) = x I + y M``, ``p`` the positions and ``a1p`` the layer-1-attended
    positions, the sum over the four blocks of MODEL.md's table
    ``p_qᵀ G(β5, β6) p_s + p_qᵀ G(β7, β8) a1p_s + a1p_qᵀ G(β9, β10) p_s + a1p_qᵀ G(β11, β12) a1p_s``.

    Args:
        idx, off, n: padded indices ``(T,)``, the pad offset and ``N``.
        w1: ``(T, T)`` layer-1 pattern of the context rows.
        wq: ``(n_pad, T)`` the query's layer-1 row for each pair ``k``.
        alpha1: α1 (the query's extra score on its own item).
        b: ``(8,)`` β5 … β12.

    ``"sinusoidal"``: through the 2-d codes, ``O(N T)``. ``"paired"``: ``C = I``, and the
    query's code is orthogonal to every other code and to their ``M``-images, so the query's
    layer-1 row is one weight ``ρ_k`` on every context position but its own item (weight
    ``ρ_k e^{α1}``). Every term then reads a few columns of ``w1``, ``O(N T)``:
    ``a1p_qᵀ a1p_s = ρ_k (1 + (e^{α1} − 1) W1[s, 2k])`` (context rows sum to 1) and
    ``a1p_qᵀ M a1p_s = ρ_k (D_s − (e^{α1} − 1) W1[s, 2k+1])``, ``D_s`` row ``s``'s weight on
    items minus its weight on labels. The differences are of weights ≤ 1, so their absolute
    error is that of float rounding, all a score needs.
    """
    q = idx.shape[0] - 1
    if positions == "sinusoidal":
        pos = _sinusoidal_features(idx, off, n, w1.dtype)
        a1p = w1 @ pos  # (T, 2)
        a1pq = wq @ pos  # (n_pad, 2)
        key_a1p = jnp.concatenate([jnp.broadcast_to(a1p[:q], (wq.shape[0], q, 2)), a1pq[:, None]], axis=1)
        return (
            _bilinear(pos[q], pos, b[0], b[1])[None, :]
            + _bilinear(pos[q], key_a1p, b[2], b[3])
            + _bilinear(a1pq[:, None], pos[None], b[4], b[5])
            + _bilinear(a1pq[:, None], key_a1p, b[6], b[7])
        )
    pairs = jnp.arange(wq.shape[0])
    rho = jnp.take_along_axis(wq, (2 * pairs + 1)[:, None], axis=1)[:, 0]  # a label: weight ρ_k
    w_item = jnp.take_along_axis(wq, (2 * pairs)[:, None], axis=1)[:, 0]  # ρ_k e^{α1}
    lift = item_lift(rho, w_item, alpha1)
    on_item = w1[:q, 0:q:2].T  # (n_pad, T−1): W1[s, 2k]
    on_label = w1[:q, 1:q:2].T  # W1[s, 2k+1]
    d_items = jnp.sum(w1[:q, 0:q:2], axis=1) - jnp.sum(w1[:q, 1:q:2], axis=1)  # D_s
    ctx = b[6] * (rho[:, None] + lift[:, None] * on_item) + b[7] * (
        rho[:, None] * d_items[None, :] - lift[:, None] * on_label
    )
    # a1p_qᵀ M p_s: +wq[k, s+1] on an item s, −wq[k, s−1] on a label s.
    parity = idx[:q] % 2
    ms = jnp.where(parity == 0, wq[:, 1 : q + 1], -jnp.concatenate([wq[:, :1], wq[:, : q - 1]], axis=1))
    ctx = ctx + b[4] * wq[:, :q] + b[5] * ms
    wqq = wq[:, q]  # the query's weight on itself (inclusive mask only)
    self_key = b[0] + b[2] * wqq + b[4] * wqq + b[6] * jnp.sum(wq**2, axis=1)
    return with_query(ctx, self_key)
