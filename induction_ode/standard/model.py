"""A standard two-layer attention-only transformer (Singh et al. 2024), in float32.

Token embedding (items: a linear map of their class vectors, with bias; labels: a table),
then two layers. Each layer has ``H`` heads with their own ``W_Q, W_K, W_V ∈ R^{D×d_h}`` and
``W_O ∈ R^{d_h×D}`` (``d_h = D/H``), an optional pre-LayerNorm, causal softmax attention with
scores ``q·k/√d_h``, and a residual addition; there is no MLP. Then an optional final
LayerNorm and an unembedding to the ``L`` labels. Positions are RoPE on queries and keys
(base 10⁴, Singh's default) or learned absolute embeddings added to the tokens.

Initialisation: embeddings and positions ``N(0, 1)``, ``W_Q, W_K, W_V`` ``N(0, 1/D)``, ``W_O``
``N(0, 1/D)``, LayerNorm gain 1 and bias 0, and a zero unembedding, so that the initial
loss is exactly ``ln L``, as the ODE's zero readout starts at its own chance loss.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .clamps import ClampArrays
from .task import DTYPE, Sequences, Task

POSITIONS = ("rope", "learned")
NEG = -1e9  # finite "−∞": keeps float32 gradients free of NaN


@dataclass(frozen=True)
class ModelConfig:
    """Architecture. Defaults are Singh et al.'s: ``D = 64``, 8 heads, RoPE, pre-LayerNorm."""

    d_model: int = 64
    heads: int = 8
    positions: str = "rope"
    layer_norm: bool = True
    rope_base: float = 1e4

    def __post_init__(self):
        if self.positions not in POSITIONS:
            raise ValueError(f"unknown positions {self.positions!r}; allowed: {', '.join(POSITIONS)}")
        if self.heads < 1 or self.d_model < 1 or self.d_model % self.heads:
            raise ValueError(
                f"d_model must be a positive multiple of heads, got {self.d_model} and {self.heads}"
            )
        if self.positions == "rope" and (self.d_model // self.heads) % 2:
            raise ValueError(
                f"RoPE needs an even head width, got d_model/heads = {self.d_model // self.heads}"
            )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    def to_json(self) -> dict:
        return asdict(self)


class Layer(NamedTuple):
    wq: jax.Array  # (H, D, dh)
    wk: jax.Array
    wv: jax.Array
    wo: jax.Array  # (H, dh, D)
    ln_gain: jax.Array  # (D,)
    ln_bias: jax.Array


class Params(NamedTuple):
    item_w: jax.Array  # (item_dim, D)
    item_b: jax.Array  # (D,)
    label_emb: jax.Array  # (L, D)
    pos: jax.Array | None  # (T, D), learned positions only
    layers: tuple[Layer, Layer]
    ln_gain: jax.Array
    ln_bias: jax.Array
    unembed: jax.Array  # (D, L)


def init_params(key, cfg: ModelConfig, task: Task) -> Params:
    """Random initial weights (see the module docstring)."""
    D, H, dh = cfg.d_model, cfg.heads, cfg.head_dim
    keys = jax.random.split(key, 12)
    normal = lambda k, shape, var: jnp.sqrt(var).astype(DTYPE) * jax.random.normal(k, shape, DTYPE)  # noqa: E731

    def layer(ks):
        return Layer(
            normal(ks[0], (H, D, dh), 1.0 / D),
            normal(ks[1], (H, D, dh), 1.0 / D),
            normal(ks[2], (H, D, dh), 1.0 / D),
            normal(ks[3], (H, dh, D), 1.0 / D),
            jnp.ones(D, DTYPE),
            jnp.zeros(D, DTYPE),
        )

    return Params(
        item_w=normal(keys[0], (task.item_dim, D), 1.0),  # class vectors have norm ≈ 1
        item_b=jnp.zeros(D, DTYPE),
        label_emb=normal(keys[1], (task.n_labels, D), 1.0),
        pos=normal(keys[2], (task.seq_len, D), 1.0) if cfg.positions == "learned" else None,
        layers=(layer(jax.random.split(keys[3], 4)), layer(jax.random.split(keys[4], 4))),
        ln_gain=jnp.ones(D, DTYPE),
        ln_bias=jnp.zeros(D, DTYPE),
        unembed=jnp.zeros((D, task.n_labels), DTYPE),
    )


def _layer_norm(x, gain, bias, on: bool):
    if not on:
        return x
    mu = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + 1e-5) * gain + bias


def rope(x, base: float):
    """Rotate pairs ``(i, i + d_h/2)`` of ``x`` ``(H, T, d_h)`` by ``t · base^(−2i/d_h)``."""
    _, T, dh = x.shape
    half = dh // 2
    freq = base ** (-jnp.arange(half, dtype=DTYPE) * 2.0 / dh)
    angle = jnp.arange(T, dtype=DTYPE)[:, None] * freq[None, :]
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def embed(params: Params, cfg: ModelConfig, items, labels) -> jax.Array:
    """The input residual stream ``(T, D)`` of one sequence (``items`` ``(N+1, item_dim)``)."""
    e_items = items @ params.item_w + params.item_b
    e_labels = params.label_emb[labels]
    n = labels.shape[0]
    pairs = jnp.stack([e_items[:n], e_labels], axis=1).reshape(2 * n, -1)
    x = jnp.concatenate([pairs, e_items[n:]], axis=0)
    if params.pos is not None:
        x = x + params.pos
    return x


def previous_token_pattern(T: int) -> jax.Array:
    """``(T, T)``: row ``t`` attends to ``t − 1``, row 0 to itself."""
    return jnp.eye(T, k=-1, dtype=DTYPE).at[0, 0].set(1.0)


def match_row(T: int, k, strength) -> jax.Array:
    """``(T,)``: weight ``s`` on label ``2k+1``, ``(1−s)/(N−1)`` on each other label (N = 1: all on it)."""
    n = (T - 1) // 2
    is_label = (jnp.arange(T) % 2 == 1) & (jnp.arange(T) < T - 1)
    correct = jnp.arange(T) == 2 * k + 1
    other = (1.0 - strength) / max(n - 1, 1)
    row = jnp.where(correct, strength if n > 1 else 1.0, jnp.where(is_label, other, 0.0))
    return row.astype(DTYPE)


class Forward(NamedTuple):
    """One sequence's forward pass.

    Attributes:
        logits: ``(L,)`` at the query.
        learned: ``(2, H, T, T)`` the patterns the weights compute (before any clamp).
        used: ``(2, H, T, T)`` the patterns that were applied (the clamp where clamped).
        scores2: ``(H, T)`` layer 2's pre-softmax scores of the query row.
    """

    logits: jax.Array
    learned: jax.Array
    used: jax.Array
    scores2: jax.Array


def forward_one(params: Params, cfg: ModelConfig, clamp: ClampArrays, items, labels, k) -> Forward:
    """Forward pass of one sequence under ``clamp`` (already restricted to the current step)."""
    x = embed(params, cfg, items, labels)
    T = x.shape[0]
    causal = jnp.tril(jnp.ones((T, T), bool))
    learned, used, scores = [], [], None
    for li, layer in enumerate(params.layers):
        h = _layer_norm(x, layer.ln_gain, layer.ln_bias, cfg.layer_norm)
        q = jnp.einsum("td,hde->hte", h, layer.wq)
        kk = jnp.einsum("td,hde->hte", h, layer.wk)
        v = jnp.einsum("td,hde->hte", h, layer.wv)
        if cfg.positions == "rope":
            q, kk = rope(q, cfg.rope_base), rope(kk, cfg.rope_base)
        s = jnp.einsum("hte,hse->hts", q, kk) / math.sqrt(cfg.head_dim)
        s = jnp.where(causal, s, NEG)
        pattern = jax.nn.softmax(s, axis=-1)
        if li == 0:
            applied = jnp.where(clamp.previous_token[:, None, None], previous_token_pattern(T), pattern)
        else:
            row = match_row(T, k, clamp.match_strength)
            clamped = pattern.at[:, T - 1, :].set(row)
            applied = jnp.where(clamp.match[:, None, None], clamped, pattern)
            scores = s[:, T - 1, :]
        v = jnp.where(clamp.ablate[li][:, None, None], 0.0, v)
        z = jnp.einsum("hts,hse->hte", applied, v)
        x = x + jnp.einsum("hte,hed->td", z, layer.wo)
        learned.append(pattern)
        used.append(applied)
    out = _layer_norm(x[T - 1], params.ln_gain, params.ln_bias, cfg.layer_norm)
    logits = out @ params.unembed
    logits = jnp.where(
        jnp.any(clamp.copy), _copy_logits(used[1], scores, clamp, labels, logits.shape[0]), logits
    )
    return Forward(logits, jnp.stack(learned), jnp.stack(used), scores)


def _copy_logits(used2, scores2, clamp: ClampArrays, labels, n_labels: int) -> jax.Array:
    """Logits read from the copy heads' query attention on the label positions (others −1e9)."""
    T = used2.shape[-1]
    n = labels.shape[0]
    pos = 2 * jnp.arange(n) + 1
    learned_logp = jax.nn.log_softmax(scores2, axis=-1)[:, pos]  # (H, N), exact for learned rows
    row = used2[:, T - 1, pos]
    clamped_logp = jnp.where(row > 0, jnp.log(jnp.where(row > 0, row, 1.0)), NEG)
    logp = jnp.where(clamp.match[:, None], clamped_logp, learned_logp)
    logp = jnp.where(clamp.copy[:, None], logp, NEG)
    count = jnp.maximum(jnp.sum(clamp.copy), 1)
    mean_logp = jax.nn.logsumexp(logp, axis=0) - jnp.log(count.astype(DTYPE))  # log of the mean pattern
    onehot = jax.nn.one_hot(labels, n_labels, dtype=DTYPE)  # (N, L)
    present = jnp.sum(onehot, axis=0) > 0
    return jnp.where(present, mean_logp @ onehot, NEG)


def forward(params: Params, cfg: ModelConfig, clamp: ClampArrays, batch: Sequences) -> Forward:
    """:func:`forward_one` over a batch (every field gains a leading ``B``)."""
    fn = lambda it, lab, k: forward_one(params, cfg, clamp, it, lab, k)  # noqa: E731
    return jax.vmap(fn)(batch.items, batch.labels, batch.k)


def cross_entropy(logits, target) -> jax.Array:
    """Per-sequence cross-entropy ``(B,)`` on the query's label."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, target[:, None], axis=-1)[:, 0]


def squared_error(logits, target) -> jax.Array:
    """Per-sequence ``½‖logits − e_target‖²`` ``(B,)``: the ODE's MSE, with the logits as its
    linear readout ``ŷ`` (``½`` at the zero initial unembedding)."""
    onehot = jax.nn.one_hot(target, logits.shape[-1], dtype=logits.dtype)
    return 0.5 * jnp.sum((logits - onehot) ** 2, axis=-1)


LOSSES = {"ce": cross_entropy, "mse": squared_error}


def loss_and_accuracy(params, cfg, clamp, batch, loss: str = "ce"):
    """Mean ``loss`` (a key of :data:`LOSSES`) and accuracy over ``batch``, and the forward pass."""
    out = forward(params, cfg, clamp, batch)
    value = jnp.mean(LOSSES[loss](out.logits, batch.target))
    acc = jnp.mean(jnp.argmax(out.logits, axis=-1) == batch.target)
    return value, (acc, out)
