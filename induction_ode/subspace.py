"""The 19-dimensional invariant subspace of MODEL.md: names, basis, embedding and projection.

Full weights at token width ``d`` and positional width ``P`` (2 for the sinusoidal code,
``2N + 2`` for the paired one: :func:`~induction_ode.positions.width`) are a :class:`Weights`
pytree, with ``w = d + P``:

- ``A1``: ``(w, w)`` layer-1 query-key matrix over ``h0 = [e; p]``,
- ``A2``: ``(2w, 2w)`` layer-2 query-key matrix over ``h1 = [e, p, a1e, a1p]``,
- ``WO``: ``(d, 4w)`` readout over ``h2 = [e, p, a1e, a1p, a2e, a2p, a2a1e, a2a1p]``.

The subspace is spanned by 19 orthogonal basis matrices ``B_i`` (one per pseudo-parameter),
so ``W = Σ θ_i B_i``. A positional block is ``I_P`` or the code's rotation
``M = [[0, −I], [I, 0]]`` (``J`` for ``P = 2``). ``n_i = ‖B_i‖_F²`` is ``d`` for token blocks
and ``P`` for positional ones.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .positions import rotation

jax.config.update("jax_enable_x64", True)  # the core runs in float64

PARAM_NAMES = (
    ("alpha1", "alpha2", "alpha3")
    + tuple(f"beta{i}" for i in range(1, 13))
    + tuple(f"gamma{i}" for i in range(1, 5))
)
"""The 19 pseudo-parameters, in MODEL.md's order (indices 0 … 18)."""

KEY_PARAMS = ("alpha3", "beta2", "gamma3")
"""Previous-token (α3), match (β2) and copy (γ3): the three that carry the induction head."""

N_PARAMS = len(PARAM_NAMES)
KEY_INDEX = tuple(PARAM_NAMES.index(n) for n in KEY_PARAMS)
"""Indices of ``KEY_PARAMS`` in θ: ``(2, 4, 17)``."""

# (matrix, query/output block, key/input block, kind) for each pseudo-parameter.
# kind: "I" = identity on the token block (norm d), "I2" = positional identity, "J" = M.
_LAYOUT = (
    ("A1", "e", "e", "I"),
    ("A1", "p", "p", "I2"),
    ("A1", "p", "p", "J"),
    ("A2", "e", "e", "I"),
    ("A2", "e", "a1e", "I"),
    ("A2", "a1e", "e", "I"),
    ("A2", "a1e", "a1e", "I"),
    ("A2", "p", "p", "I2"),
    ("A2", "p", "p", "J"),
    ("A2", "p", "a1p", "I2"),
    ("A2", "p", "a1p", "J"),
    ("A2", "a1p", "p", "I2"),
    ("A2", "a1p", "p", "J"),
    ("A2", "a1p", "a1p", "I2"),
    ("A2", "a1p", "a1p", "J"),
    ("WO", "out", "e", "I"),
    ("WO", "out", "a1e", "I"),
    ("WO", "out", "a2e", "I"),
    ("WO", "out", "a2a1e", "I"),
)

class Weights(NamedTuple):
    """Full weights of the disentangled network at width ``d`` (shapes in the module doc)."""

    A1: jax.Array
    A2: jax.Array
    WO: jax.Array


def param_index(name: str) -> int:
    """Index of a pseudo-parameter in ``PARAM_NAMES``; ``ValueError`` for an unknown name."""
    try:
        return PARAM_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown pseudo-parameter {name!r}; allowed: {', '.join(PARAM_NAMES)}") from None


def _block_slices(d: int, p: int) -> dict[str, slice]:
    """Offsets of the named blocks of ``h0``/``h1``/``h2`` (they share a prefix) at widths d, P."""
    w = d + p
    return {
        "e": slice(0, d),
        "p": slice(d, w),
        "a1e": slice(w, w + d),
        "a1p": slice(w + d, 2 * w),
        "a2e": slice(2 * w, 2 * w + d),
        "a2a1e": slice(3 * w, 3 * w + d),
        "out": slice(0, d),
    }


def weight_shapes(d: int, p: int = 2) -> Weights:
    """Shapes of ``A1``, ``A2`` and ``WO`` at token width ``d`` and positional width ``P``."""
    w = d + p
    return Weights((w, w), (2 * w, 2 * w), (d, 4 * w))


def basis(d: int, p: int = 2, dtype=np.float64) -> Weights:
    """The 19 basis matrices at widths ``d`` and ``P``, stacked: each field has shape
    ``(19, *weight_shape)``. Basis ``i`` is zero in the matrices that do not hold θ_i.
    """
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    shapes = weight_shapes(d, p)
    stacks = {name: np.zeros((N_PARAMS, *getattr(shapes, name)), dtype) for name in Weights._fields}
    sl = _block_slices(d, p)
    for i, (mat, rows, cols, kind) in enumerate(_LAYOUT):
        block = {"I": np.eye(d), "I2": np.eye(p), "J": rotation(p)}[kind]
        stacks[mat][i, sl[rows], sl[cols]] = block
    return Weights(**{k: jnp.asarray(v) for k, v in stacks.items()})


TOKEN_BLOCKS = np.array([kind == "I" for (_, _, _, kind) in _LAYOUT])
"""``(19,)`` bool: the pseudo-parameters that sit on token blocks (the rest are positional)."""


def param_norms(d, p=2):
    """``n_i = ‖B_i‖_F²``: ``d`` for token blocks, ``P`` for positional ones. Shape ``(19,)``
    (``d`` and ``P`` may be traced)."""
    return jnp.where(jnp.asarray(TOKEN_BLOCKS), d, p)


def embed(theta: jax.Array, d: int, p: int = 2) -> Weights:
    """Full weights ``W = Σ_i θ_i B_i`` at widths ``d``, ``P`` for a ``(19,)`` pseudo-parameter
    vector."""
    return jax.tree.map(lambda b: jnp.tensordot(theta, b.astype(theta.dtype), axes=1), basis(d, p))


def project(weights: Weights) -> tuple[jax.Array, Weights]:
    """Orthogonal projection onto the subspace.

    The widths are read from the shapes (``P = A1.shape[0] − d``).

    Returns:
        ``(theta, remainder)``: ``theta`` of shape ``(19,)`` with ``θ_i = ⟨W, B_i⟩ / n_i``, and
        the off-subspace part ``W - embed(theta, d)`` as a :class:`Weights`.
    """
    d = weights.WO.shape[0]
    p = weights.A1.shape[0] - d
    b = basis(d, p, np.float64)
    inner = sum(jnp.tensordot(bm.astype(wm.dtype), wm, axes=wm.ndim) for bm, wm in zip(b, weights))
    theta = inner / jnp.asarray(param_norms(d, p), dtype=weights.WO.dtype)
    remainder = jax.tree.map(jnp.subtract, weights, embed(theta, d, p))
    return theta, remainder


def weights_norm(weights: Weights) -> jax.Array:
    """Frobenius norm of all three matrices together."""
    return jnp.sqrt(sum(jnp.sum(w**2) for w in weights))
