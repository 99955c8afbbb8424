"""The full model of NGRAM.md (the paper's Appendix B): layer 1 with content scores, a value
map and a LayerNorm; layer 2 and the feed-forward features as in the reduced model.

Per head ``h`` and row ``i``, layer 1 attends over offset 0 (the row itself, a fixed logit
``1e−6``) and the head's offsets ``m`` with ``i − m ≥ 0``, with scores
``x̃_iᵀ Q_h K_hᵀ x̃_{i−m} + w_h(m)``; its output is ``u_h(i) = Σ_m attn · x̃_{i−m} O_h``, then
``LN(u) = γ ⊙ (u − mean u)/√(var u + 1e−5) + β`` (one affine map shared by the heads). The
query slot's own input is 0. The kernels are ``κ_h(j) = max(0, ⟨LN u_h(L), LN u_h(j)⟩)``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .model import (
    Architecture,
    Prepared,
    init_params,
    kernels,
    layer2_logits,
    masked_softmax,
    mean_loss,
    pattern_digits,
    predictions,
    prepare,
)

SELF_LOGIT = 1e-6
LN_EPS = 1e-5


class FullParams(NamedTuple):
    """Parameters of the full model (a pytree).

    Attributes:
        W: ``(M, H)`` relative-position scores, as in the reduced model.
        Q, K, O: ``(H, S, S)`` per-head query, key and value maps.
        gamma, beta: ``(S,)`` the LayerNorm's affine map.
        C: ``(n_subsets,)``, a: ``()``, as in the reduced model.
    """

    W: jax.Array
    Q: jax.Array
    K: jax.Array
    O: jax.Array  # noqa: E741  (NGRAM.md's name)
    gamma: jax.Array
    beta: jax.Array
    C: jax.Array
    a: jax.Array


def init_full_params(
    arch: Architecture, *, proj_init=0.01, w_plus=3.0, w_minus=0.1, c_init=0.01, a_init=0.01
) -> FullParams:
    """``Q = K = O = proj_init·I``, ``γ = 1``, ``β = 0``; ``W``, ``C``, ``a`` as :func:`init_params`."""
    red = init_params(arch, w_plus=w_plus, w_minus=w_minus, c_init=c_init, a_init=a_init)
    eye = jnp.broadcast_to(
        proj_init * jnp.eye(arch.vocab_size), (arch.heads, arch.vocab_size, arch.vocab_size)
    )
    ones, zeros = jnp.ones(arch.vocab_size), jnp.zeros(arch.vocab_size)
    return FullParams(red.W, eye, eye, eye, ones, zeros, red.C, red.a)


def layer_norm(u: jax.Array, gamma: jax.Array, beta: jax.Array) -> jax.Array:
    """LayerNorm over the last axis (biased variance, ``ε = 1e−5``), then ``γ ⊙ · + β``."""
    centred = u - jnp.mean(u, axis=-1, keepdims=True)
    return centred / jnp.sqrt(jnp.mean(centred**2, axis=-1, keepdims=True) + LN_EPS) * gamma + beta


def full_table(params: FullParams, arch: Architecture) -> jax.Array:
    """Layer 1 of the full model on every pattern (own token, then the slots): ``(H, P, S)``."""
    digits = pattern_digits(arch, own=True)  # (P, 1 + M)
    present = digits < arch.vocab_size
    x = jnp.asarray(np.eye(arch.vocab_size + 1)[digits][..., : arch.vocab_size])  # (P, 1+M, S)
    qk = jnp.einsum("hst,hrt->hsr", params.Q, params.K)  # Q_h K_hᵀ
    content = jnp.einsum("ps,hsr,pkr->hpk", x[:, 0], qk, x)  # (H, P, 1+M)
    position = jnp.concatenate([jnp.full((arch.heads, 1), SELF_LOGIT), params.W.T], axis=1)  # (H, 1+M)
    valid = jnp.asarray(present).at[:, 0].set(True)  # the row itself is always allowed
    attn = masked_softmax(content + position[:, None, :], valid[None], axis=-1)
    u = jnp.einsum("hpk,pks,hst->hpt", attn, x, params.O)
    return layer_norm(u, params.gamma, params.beta)


def full_logits(params: FullParams, prep: Prepared, arch: Architecture) -> jax.Array:
    """Layer-2 logits ``a·φ(j)`` of every sequence, ``(B, L)``; ``prep`` from ``prepare(…, own=True)``."""
    return layer2_logits(params.C, params.a, kernels(full_table(params, arch), prep), arch)


@functools.partial(jax.jit, static_argnames="arch")
def full_loss(params: FullParams, prep: Prepared, arch: Architecture) -> jax.Array:
    """Mean loss of the full model over a sample prepared with ``own=True``; a scalar (jitted)."""
    return mean_loss(full_logits(params, prep, arch), prep, arch.loss)


@functools.partial(jax.jit, static_argnames="arch")
def full_forward(params: FullParams, tokens: jax.Array, arch: Architecture) -> jax.Array:
    """``ŷ (S,)`` for one sequence ``tokens = x_1 … x_L``; jitted."""
    prep = prepare(tokens[None], jnp.zeros((1,), jnp.int32), arch, own=True)
    return predictions(full_logits(params, prep, arch), prep)[0]
