"""Per-head metrics of a standard transformer on the task, and head ablations.

- *Induction strength* of a layer-2 head: the query's attention on the correct label minus
  its mean attention on the other labels in context, averaged over sequences. For N = 2 this
  is Singh et al.'s ``2s − 1``; a uniform pattern gives 0 at any N, a perfect head 1.
- *Previous-token score* of a layer-1 head: a label's attention on the item just before it,
  averaged over the N labels and over sequences (1 for a perfect previous-token head).

Both are computed on the patterns the weights produce (``Forward.learned``), i.e. what the
head has learned underneath any clamp.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .clamps import ablation
from .model import ModelConfig, Params, loss_and_accuracy
from .task import Sequences


def induction_strength(layer2: jax.Array, k: jax.Array) -> jax.Array:
    """``(H,)`` from layer-2 patterns ``(B, H, T, T)`` and the queried pairs ``k`` ``(B,)``."""
    T = layer2.shape[-1]
    n = (T - 1) // 2
    row = layer2[:, :, T - 1, 1 : 2 * n : 2]  # (B, H, N): attention on labels 0 … N-1
    correct = jax.nn.one_hot(k, n, dtype=row.dtype)[:, None, :]
    on_correct = jnp.sum(row * correct, axis=-1)
    others = jnp.sum(row * (1 - correct), axis=-1) / max(n - 1, 1)
    return jnp.mean(on_correct - others, axis=0)


def previous_token_score(layer1: jax.Array) -> jax.Array:
    """``(H,)`` from layer-1 patterns ``(B, H, T, T)``: mean attention of label ``2i+1`` on ``2i``."""
    T = layer1.shape[-1]
    n = (T - 1) // 2
    labels = 2 * np.arange(n) + 1
    return jnp.mean(layer1[:, :, labels, labels - 1], axis=(0, 2))


@functools.partial(jax.jit, static_argnums=1)
def _accuracy(params: Params, cfg: ModelConfig, clamp, batch: Sequences) -> jax.Array:
    return loss_and_accuracy(params, cfg, clamp, batch)[1][0]


def ablation_table(params: Params, cfg: ModelConfig, batch: Sequences) -> dict:
    """Accuracy with only head ``h`` of a layer active, and with head ``h`` removed.

    Removal sets a head's values to zero (Singh et al.'s ablation); "only h" removes every
    other head of the same layer. Returns ``{"full": acc, "layer1": {...}, "layer2": {...},
    "no_layer1": acc, "no_layer2": acc}`` with ``"only"`` and ``"removed"`` lists of length H.
    """
    H = cfg.heads
    acc = lambda c: _accuracy(params, cfg, c, batch)  # noqa: E731
    out = {"full": float(acc(ablation(H)))}
    for layer in (1, 2):
        only, removed = [], []
        for h in range(H):
            rest = tuple(j for j in range(H) if j != h)
            kw_only = {f"layer{layer}": rest}
            kw_removed = {f"layer{layer}": (h,)}
            only.append(float(acc(ablation(H, **kw_only))))
            removed.append(float(acc(ablation(H, **kw_removed))))
        out[f"layer{layer}"] = dict(only=only, removed=removed)
        out[f"no_layer{layer}"] = float(acc(ablation(H, **{f"layer{layer}": tuple(range(H))})))
    return out
