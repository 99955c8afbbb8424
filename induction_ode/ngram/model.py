"""The reduced ("simplified") two-layer transformer of NGRAM.md, and the parts the full model shares.

Layer 1 has ``H`` heads with relative-position scores only; each head's output is normalised;
the feed-forward layer multiplies the heads' kernels over the subsets ``S`` it keeps, weighted
by ``c_S = C_S² / Σ_{live} C_S²``; layer 2 is one softmax attention with scale ``a`` whose
values are the input tokens. Shapes for one sequence: ``L`` input tokens, vocabulary ``S``.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import task as _task  # noqa: F401  (enables float64)
from .sampler import check_int

WINDOWS = ("shared", "shifted")
LOSSES = ("ce", "reference-code")
EPS = 1e-7


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class Architecture:
    """The shapes both models share (hashable: a jit static argument).

    Attributes:
        vocab_size: ``S``.
        heads: ``H ≥ 1`` layer-1 heads.
        window: ``"shared"`` (every head sees offsets ``1 … M``, the standard definition) or
            ``"shifted"`` (head ``h`` sees offsets ``h+1 … h+H``, the authors' code; ``M = H``).
        width: ``M``, offsets per head (``None``: ``H``; must be ``H`` for ``"shifted"``).
        degree: ``D``, the largest subset the feed-forward layer keeps, ``1 ≤ D ≤ H``.
        loss: ``"ce"`` (``−log ŷ_y``) or ``"reference-code"`` (cross-entropy of ``ŷ`` taken as logits).
    """

    vocab_size: int = 3
    heads: int = 3
    window: str = "shared"
    width: int | None = None
    degree: int = 2
    loss: str = "ce"

    def __post_init__(self):
        check_int(self.vocab_size, "the vocabulary size S", 2)
        heads = check_int(self.heads, "the number of heads H", 1)
        check_choice(self.window, WINDOWS, "window")
        check_choice(self.loss, LOSSES, "loss")
        if self.width is not None:
            check_int(self.width, "the window width M", 1)
            if self.window == "shifted" and self.width != heads:
                raise ValueError(f"the shifted window has M = H = {heads}, got M = {self.width}")
        degree = check_int(self.degree, "the degree D", 1)
        if degree > heads:
            raise ValueError(f"the degree D must be between 1 and H = {heads}, got D = {degree}")

    @property
    def m(self) -> int:
        """``M``, offsets per head."""
        return self.heads if self.width is None else self.width

    def offsets(self) -> np.ndarray:
        """``(M, H)`` int: the offset of head ``h``'s slot ``k`` (``k+1``, or ``h+k+1`` when shifted)."""
        k = np.arange(self.m)[:, None]
        h = np.arange(self.heads)[None, :]
        return np.broadcast_to(k + 1 + (h if self.window == "shifted" else 0), (self.m, self.heads)).copy()

    @property
    def max_offset(self) -> int:
        return int(self.offsets().max())

    def subsets(self) -> tuple[tuple[int, ...], ...]:
        """Every subset of the components ``{0 = token, 1 … H = heads 0 … H−1}`` with at most
        ``D`` members, by size, then lexicographically (the empty set first)."""
        comps = range(self.heads + 1)
        return tuple(s for r in range(self.degree + 1) for s in itertools.combinations(comps, r))

    def live(self) -> np.ndarray:
        """``(n_subsets,)`` bool: the subset leaves out the token, whose feature is 0 at the query."""
        return np.array([0 not in s for s in self.subsets()])

    def subset_labels(self) -> list[str]:
        """``"∅"``, ``"x"`` (token), ``"h0"``, ``"h0+h1"``, …"""
        name = lambda c: "x" if c == 0 else f"h{c - 1}"  # noqa: E731
        return ["+".join(map(name, s)) or "∅" for s in self.subsets()]

    def membership(self) -> np.ndarray:
        """``(n_live, H)`` bool: which heads each live subset multiplies."""
        live = [s for s in self.subsets() if 0 not in s]
        return np.array([[h + 1 in s for h in range(self.heads)] for s in live], bool).reshape(-1, self.heads)


class ReducedParams(NamedTuple):
    """Parameters of the reduced model (a pytree).

    Attributes:
        W: ``(M, H)`` relative-position scores: ``W[k, h]`` is head ``h``'s score for offset
            ``Architecture.offsets()[k, h]``.
        C: ``(n_subsets,)`` one per subset of ``Architecture.subsets()``, dead ones included
            (they never enter the model, so their gradient is exactly 0).
        a: ``()`` the layer-2 scale.
    """

    W: jax.Array
    C: jax.Array
    a: jax.Array


def init_params(arch: Architecture, *, w_plus=3.0, w_minus=0.1, c_init=0.01, a_init=0.01) -> ReducedParams:
    """The authors' initialisation: ``W = w−`` except ``w_h(h+1) = w+``, every ``C_S = c_init``,
    ``a = a_init``."""
    off = arch.offsets()
    W = np.where(off == np.arange(arch.heads)[None, :] + 1, w_plus, w_minus)
    n = len(arch.subsets())
    return ReducedParams(
        jnp.asarray(W, jnp.float64), jnp.full((n,), c_init, jnp.float64), jnp.asarray(a_init, jnp.float64)
    )


def feature_weights(C: jax.Array, arch: Architecture) -> jax.Array:
    """``c_S = C_S² / Σ_{live} C_S²`` on live subsets, exactly 0 on dead ones; shape ``C.shape``."""
    sq = jnp.where(jnp.asarray(arch.live()), C**2, 0.0)
    return sq / jnp.sum(sq, axis=-1, keepdims=True)


def head_attention(W: jax.Array) -> jax.Array:
    """Each head's layer-1 attention over its ``M`` offsets at a row that sees them all:
    ``softmax_k W[k, h]``; shape ``(H, M)`` (leading batch axes of ``W`` kept)."""
    return jnp.swapaxes(jax.nn.softmax(W, axis=-2), -1, -2)


def _safe_norm(u: jax.Array) -> jax.Array:
    """``‖u‖`` over the last axis, with a finite (zero) gradient at ``u = 0``."""
    sq = jnp.sum(u**2, axis=-1, keepdims=True)
    pos = sq > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)


def masked_softmax(logits: jax.Array, valid: jax.Array, axis: int = -1) -> jax.Array:
    """Softmax over ``axis`` restricted to ``valid`` entries; all zeros where none is valid.
    Finite gradients everywhere (masked entries never reach ``exp``)."""
    big = jnp.where(valid, logits, -jnp.inf)
    top = jnp.max(big, axis=axis, keepdims=True)
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    e = jnp.where(valid, jnp.exp(jnp.where(valid, logits - top, 0.0)), 0.0)
    total = jnp.sum(e, axis=axis, keepdims=True)
    return e / jnp.where(total > 0, total, 1.0)


# Layer 1 reads, at row i, the tokens at a head's offsets (and, in the full model, row i's own
# token). Tokens are one-hot, so its output at a row depends only on that *pattern*: digits
# 0 … S−1 for a token, S for "no token" (an offset before the sequence start, or the query
# slot's own input). The forward pass tabulates layer 1 and the kernels κ over the
# (S+1)^(M [+1]) patterns and gathers them: exact, and far cheaper than row by row.
MAX_PATTERNS = 2048


def n_patterns(arch: Architecture, own: bool) -> int:
    """``(S+1)^M``, or ``(S+1)^(M+1)`` with the row's own token (the full model); ``ValueError``
    above :data:`MAX_PATTERNS`."""
    n_pat = (arch.vocab_size + 1) ** (arch.m + int(own))
    if n_pat > MAX_PATTERNS:
        raise ValueError(
            f"(S+1)^{arch.m + int(own)} = {n_pat} layer-1 patterns; at most "
            f"{MAX_PATTERNS} are supported (lower S or M)"
        )
    return n_pat


def pattern_digits(arch: Architecture, own: bool) -> np.ndarray:
    """``(P, M [+1])`` int: pattern ``p``'s digits, least significant first: the own token
    (when ``own``), then the tokens at slots ``k = 0 … M−1``; ``S`` means "no token"."""
    width = arch.m + int(own)
    base = arch.vocab_size + 1
    p = np.arange(base**width)
    return np.stack([(p // base**k) % base for k in range(width)], axis=-1)


class Prepared(NamedTuple):
    """A sample laid out for the forward pass (data only, computed once by :func:`prepare`).

    Attributes:
        kernel_index: ``(H, B, L)`` int32, ``(h·P + q)·P + k`` with ``q`` head ``h``'s pattern at
            the query row ``L`` and ``k`` its pattern at key row ``j``: where ``κ_h(j)`` sits in
            the flattened ``(H, P, P)`` table of kernels.
        onehot: ``(B, L, S)`` the input tokens ``X``.
        hit: ``(B, L)`` bool, key ``j`` holds the target.
        targets: ``(B,)`` int.
    """

    kernel_index: jax.Array
    onehot: jax.Array
    hit: jax.Array
    targets: jax.Array


@functools.partial(jax.jit, static_argnames=("arch", "own"))
def prepare(inputs: jax.Array, targets: jax.Array, arch: Architecture, *, own: bool = False) -> Prepared:
    """Lay out ``inputs (B, L)`` and ``targets (B,)``; ``own=True`` for the full model (jitted)."""
    n_pat = n_patterns(arch, own)
    b, length = inputs.shape
    nothing = arch.vocab_size
    mo = arch.max_offset
    inputs = jnp.asarray(inputs, jnp.int32)
    # rows i = 0 … L: padded[:, mo + i] is row i's own input (nothing at the query row L)
    padded = jnp.concatenate(
        [jnp.full((b, mo), nothing, jnp.int32), inputs, jnp.full((b, 1), nothing, jnp.int32)], axis=1
    )
    base = arch.vocab_size + 1
    rows = np.arange(length + 1)
    index = []
    for h in range(arch.heads):
        digits = [padded[:, mo + rows]] if own else []
        digits += [padded[:, mo + rows - m] for m in arch.offsets()[:, h]]
        pat = sum(d * base**k for k, d in enumerate(digits))  # (B, L+1)
        index.append((h * n_pat + pat[:, -1:]) * n_pat + pat[:, :-1])
    onehot = jax.nn.one_hot(inputs, arch.vocab_size, dtype=jnp.float64)
    return Prepared(jnp.stack(index), onehot, inputs == targets[:, None], jnp.asarray(targets))


def reduced_table(W: jax.Array, arch: Architecture) -> jax.Array:
    """Layer 1 of the reduced model on every pattern: ``v_h = u_h / (‖u_h‖ + ε)`` with
    ``u_h = Σ_k softmax_k(w_h) X̃(i − m_k)`` over the slots that hold a token; ``(H, P, S)``."""
    digits = pattern_digits(arch, own=False)  # (P, M)
    present = digits < arch.vocab_size
    onehot = np.eye(arch.vocab_size + 1)[digits][..., : arch.vocab_size]  # (P, M, S); "no token" → 0
    p = masked_softmax(W.T[:, None, :], jnp.asarray(present)[None], axis=-1)  # (H, P, M)
    u = jnp.einsum("hpk,pks->hps", p, onehot)
    return u / (_safe_norm(u) + EPS)


def kernels(table: jax.Array, prep: Prepared) -> jax.Array:
    """``κ_h(j) = max(0, ⟨v_h(L), v_h(j)⟩)`` at keys ``j = 0 … L−1``: ``(H, B, L)`` from a
    layer-1 table ``(H, P, S)`` (one flat gather: its gradient is one scatter-add)."""
    gram = jax.nn.relu(jnp.einsum("hps,hqs->hpq", table, table))  # (H, P, P)
    return gram.reshape(-1).at[prep.kernel_index].get(mode="promise_in_bounds")


def layer2_logits(C, a, kappa, arch: Architecture) -> jax.Array:
    """``a · φ(j)`` with ``φ(j) = Σ_{S live} c_S Π_{h∈S} κ_h(j)`` (empty product 1): ``(B, L)``
    from ``κ (H, B, L)``."""
    c = feature_weights(C, arch)
    phi = jnp.zeros(kappa.shape[1:], kappa.dtype)
    for i, subset in enumerate(arch.subsets()):
        if 0 in subset:
            continue  # dead: the token's feature is 0 at the query
        term = jnp.ones_like(phi)
        for comp in subset:
            term = term * kappa[comp - 1]
        phi = phi + c[i] * term
    return a * phi


def reduced_logits(params: ReducedParams, prep: Prepared, arch: Architecture) -> jax.Array:
    """Layer-2 logits ``a·φ(j)`` of every sequence: ``(B, L)``."""
    kappa = kernels(reduced_table(params.W, arch), prep)
    return layer2_logits(params.C, params.a, kappa, arch)


def predictions(logits: jax.Array, prep: Prepared) -> jax.Array:
    """``ŷ = Σ_j softmax(logits)_j X(j)``, a distribution over ``[S]`` per sequence: ``(B, S)``."""
    return jnp.einsum("bj,bjs->bs", jax.nn.softmax(logits, axis=-1), prep.onehot)


def sequence_losses(logits: jax.Array, prep: Prepared, loss: str) -> jax.Array:
    """Per-sequence loss from the layer-2 logits ``(B, L)``; ``(B,)``.

    ``"ce"``: ``−log ŷ_y = logsumexp(all keys) − logsumexp(keys holding y)`` (``+∞`` when no
    key holds ``y``); ``"reference-code"``: ``−ŷ_y + log Σ_k exp ŷ_k``.
    """
    if loss == "ce":
        return jax.nn.logsumexp(logits, axis=-1) - jax.nn.logsumexp(
            jnp.where(prep.hit, logits, -jnp.inf), axis=-1
        )
    y_hat = predictions(logits, prep)
    return jax.nn.logsumexp(y_hat, axis=-1) - jnp.take_along_axis(y_hat, prep.targets[:, None], 1)[:, 0]


def mean_loss(logits: jax.Array, prep: Prepared, loss: str) -> jax.Array:
    """Mean loss over a sample. ``"ce"`` averages over reachable sequences only (an unreachable
    target has loss ``+∞`` for every parameter and no gradient); ``"reference-code"`` over all."""
    losses = sequence_losses(logits, prep, loss)
    if loss == "ce":
        keep = jnp.any(prep.hit, axis=1)
        return jnp.sum(jnp.where(keep, losses, 0.0)) / jnp.sum(keep)
    return jnp.mean(losses)


@functools.partial(jax.jit, static_argnames="arch")
def reduced_loss(params: ReducedParams, prep: Prepared, arch: Architecture) -> jax.Array:
    """Mean loss of the reduced model over a prepared sample; a scalar (jitted)."""
    return mean_loss(reduced_logits(params, prep, arch), prep, arch.loss)


@functools.partial(jax.jit, static_argnames="arch")
def reduced_forward(params: ReducedParams, tokens: jax.Array, arch: Architecture) -> jax.Array:
    """``ŷ (S,)``, the prediction for ``x_{L+1}`` from ``tokens = x_1 … x_L`` (``(L,)``); jitted."""
    prep = prepare(tokens[None], jnp.zeros((1,), jnp.int32), arch)
    return predictions(reduced_logits(params, prep, arch), prep)[0]
