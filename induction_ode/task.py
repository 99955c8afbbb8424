"""The in-context retrieval task of MODEL.md: sequence layout, positions and a sampler.

A sequence holds ``N`` item-label pairs and a query, ``T = 2N + 1`` positions numbered
``t = 0 … T-1``. Position ``2i`` holds item ``x_i``, position ``2i+1`` label ``y_i`` and
position ``T-1`` the query ``x_k``; the target is ``y_k``. Positions carry one of the codes of
:mod:`induction_ode.positions`, turned by a random element of the code's symmetry group (a
global phase ``φ`` for the sinusoidal code).
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .positions import check_positions, check_query, codes, random_symmetry

jax.config.update("jax_enable_x64", True)  # the core runs in float64

TOKEN_KINDS = ("haar", "signed_perm", "gaussian", "fixed")
PHASE_KINDS = ("uniform", "fixed")


def check_n_pairs(n_pairs) -> int:
    """Return ``n_pairs`` as a Python int, or raise ``ValueError`` if it is not an int ≥ 1."""
    if isinstance(n_pairs, bool):
        raise ValueError(f"n_pairs must be an integer >= 1, got {n_pairs!r}")
    try:
        value = operator.index(n_pairs)
    except TypeError:
        raise ValueError(f"n_pairs must be an integer >= 1, got {n_pairs!r}") from None
    if value < 1:
        raise ValueError(f"n_pairs must be an integer >= 1, got {value}")
    return value


def n_positions(n_pairs: int) -> int:
    """Sequence length ``T = 2N + 1`` (items, labels and the query)."""
    return 2 * n_pairs + 1


class Batch(NamedTuple):
    """A batch of sequences.

    Attributes:
        tokens: ``(B, T, d)`` token vectors, the query token last.
        positions: ``(B, T, P)`` positional codes (``P`` the code's width).
        targets: ``(B, d)`` the label token ``y_k``.
        k: ``(B,)`` int, the queried pair.
        vocab: ``(B, V, d)`` the vocabulary; the context uses its first ``2N`` rows
            (item ``i`` is row ``2i``, label ``i`` row ``2i+1``). Used by the CE loss.
    """

    tokens: jax.Array
    positions: jax.Array
    targets: jax.Array
    k: jax.Array
    vocab: jax.Array


def _assemble(vocab: jax.Array, k: jax.Array, pos: jax.Array, n_pairs: int) -> Batch:
    """Lay a vocabulary out as sequences: context rows ``0 … 2N-1``, then the query ``x_k``."""
    batch_idx = jnp.arange(vocab.shape[0])
    query = vocab[batch_idx, 2 * k]
    tokens = jnp.concatenate([vocab[:, : 2 * n_pairs], query[:, None]], axis=1)
    return Batch(tokens, pos, vocab[batch_idx, 2 * k + 1], k, vocab)


def _haar_frames(key, batch: int, d: int, dtype) -> jax.Array:
    """Haar-random orthogonal ``(B, d, d)`` matrices: the ``Q`` of a Gaussian's QR with ``R``'s
    diagonal positive, by :func:`gram_schmidt`.

    Not ``jnp.linalg.qr``: jaxlib's batched QR kernel on a CPU splits its batch over the intra-op
    thread pool it runs on and blocks until the parts are done, so two such kernels that XLA runs
    at once (these tokens' QR and the paired code's, :func:`~induction_ode.positions.random_symmetry`,
    inside a compiled training loop) can hold both threads of a 2-core pool and wait forever
    (jax 0.10.2, batch 256, d = 16; docs/results.md §12).
    """
    return gram_schmidt(jax.random.normal(key, (batch, d, d), dtype=dtype))


def gram_schmidt(g: jax.Array) -> jax.Array:
    """``Q`` ``(…, n, n)`` of ``g = QR`` (real or complex, full rank) with ``R``'s diagonal real
    and positive: classical Gram–Schmidt over the columns in order, each projected out twice
    (orthonormal to rounding for any well-conditioned ``g``), in a ``fori_loop`` of ``n`` steps.
    Equal to the sign-fixed ``jnp.linalg.qr`` in exact arithmetic."""

    def column(j, q):  # q's columns j … n-1 are still zero, so projecting on all of q is exact
        v = jax.lax.dynamic_index_in_dim(g, j, axis=-1, keepdims=False)
        for _ in range(2):
            v = v - jnp.sum(q * jnp.sum(q.conj() * v[..., :, None], axis=-2)[..., None, :], axis=-1)
        v = v / jnp.sqrt(jnp.sum(jnp.abs(v) ** 2, axis=-1, keepdims=True))
        return jax.lax.dynamic_update_index_in_dim(q, v, j, axis=-1)

    return jax.lax.fori_loop(0, g.shape[-1], column, jnp.zeros_like(g))


def _signed_perm_frames(key, batch: int, d: int, dtype) -> jax.Array:
    """Random signed permutations of the standard basis, ``(B, d, d)``, rows are the tokens."""
    k_perm, k_sign = jax.random.split(key)
    perm = jax.vmap(lambda kk: jax.random.permutation(kk, d))(jax.random.split(k_perm, batch))
    signs = jax.random.rademacher(k_sign, (batch, d), dtype=dtype)
    return jax.nn.one_hot(perm, d, dtype=dtype) * signs[:, :, None]


def sample_batch(
    key,
    batch: int,
    n_pairs: int,
    d: int,
    *,
    vocab_size: int | None = None,
    tokens: str = "haar",
    phase: str = "uniform",
    positions: str = "paired",
    query: str = "uniform",
    dtype=jnp.float64,
) -> Batch:
    """Draw ``batch`` independent sequences of the task.

    Args:
        key: a ``jax.random`` key.
        batch: number of sequences ``B``.
        n_pairs: pairs per sequence ``N``.
        d: token width, ``d ≥ max(2N, V)``.
        vocab_size: ``V`` (default ``2N``); only the CE loss reads it.
        tokens: ``"haar"`` (rows of a Haar orthogonal matrix), ``"signed_perm"`` (a
            random signed permutation of the standard basis), ``"gaussian"`` (i.i.d.
            ``N(0, 1/d)`` entries: not orthonormal, but still O(d)-invariant in distribution)
            or ``"fixed"`` (the standard basis in every sequence: breaks the O(d) symmetry,
            a negative control).
        phase: ``"uniform"`` (the codes turned by a Haar-random symmetry of the code: a
            phase ``φ ~ U[0, 2π)`` for the sinusoidal code, a unitary of size ``N + 1`` for the
            paired one; :func:`~induction_ode.positions.random_symmetry`) or ``"fixed"`` (no
            turn, a negative control that breaks the positional symmetry).
        positions: the code, ``"paired"`` or ``"sinusoidal"``.
        query: ``"uniform"`` (``k`` uniform on ``{0 … N-1}``) or ``"last"`` (``k = N − 1``).

    Returns:
        A :class:`Batch`.
    """
    n_pairs = check_n_pairs(n_pairs)
    vocab_size = 2 * n_pairs if vocab_size is None else vocab_size
    if vocab_size < 2 * n_pairs:
        raise ValueError(f"vocab_size must be >= 2N = {2 * n_pairs}, got {vocab_size}")
    if d < vocab_size:
        raise ValueError(f"d must be >= max(2N, vocab_size) = {vocab_size}, got d={d}")
    if tokens not in TOKEN_KINDS:
        raise ValueError(f"tokens must be one of {TOKEN_KINDS}, got {tokens!r}")
    if phase not in PHASE_KINDS:
        raise ValueError(f"phase must be one of {PHASE_KINDS}, got {phase!r}")
    check_positions(positions)
    check_query(query)
    k_tok, k_phase, k_query = jax.random.split(key, 3)
    if tokens == "haar":
        frames = _haar_frames(k_tok, batch, d, dtype)
        vocab = jnp.swapaxes(frames, -1, -2)[:, :vocab_size]
    elif tokens == "signed_perm":
        vocab = _signed_perm_frames(k_tok, batch, d, dtype)[:, :vocab_size]
    elif tokens == "gaussian":
        vocab = jax.random.normal(k_tok, (batch, vocab_size, d), dtype=dtype) / jnp.sqrt(d)
    else:
        vocab = jnp.broadcast_to(jnp.eye(d, dtype=dtype)[:vocab_size], (batch, vocab_size, d))
    pos = codes(positions, n_pairs, dtype)
    if phase == "uniform":
        pos = jnp.einsum("tp,bqp->btq", pos, random_symmetry(k_phase, positions, n_pairs, batch, dtype))
    else:
        pos = jnp.broadcast_to(pos, (batch, *pos.shape))
    k = jax.random.randint(k_query, (batch,), 0, n_pairs)
    if query == "last":
        k = jnp.full((batch,), n_pairs - 1, k.dtype)
    return _assemble(vocab, k, pos, n_pairs)


def canonical_batch(
    n_pairs: int, *, vocab_size: int | None = None, positions: str = "paired", dtype=jnp.float64
) -> Batch:
    """The ``N`` canonical sequences of MODEL.md, one per query pair ``k``.

    Tokens are standard basis vectors (item ``i`` → ``e_{2i}``, label ``i`` → ``e_{2i+1}``)
    at width ``d = V`` (default ``2N``), positions the code's unturned codes (phase 0). The
    population loss under the uniform query is the plain mean of the per-sequence loss over
    this batch.
    """
    n_pairs = check_n_pairs(n_pairs)
    vocab_size = 2 * n_pairs if vocab_size is None else vocab_size
    vocab = jnp.broadcast_to(jnp.eye(vocab_size, dtype=dtype), (n_pairs, vocab_size, vocab_size))
    pos = codes(positions, n_pairs, dtype)
    pos = jnp.broadcast_to(pos, (n_pairs, *pos.shape))
    return _assemble(vocab, jnp.arange(n_pairs), pos, n_pairs)
