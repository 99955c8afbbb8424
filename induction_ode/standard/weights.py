"""Weight structure of a trained standard transformer (Musat et al., Figs. 2–3), measured.

Four interpretable blocks, each a matrix of attention scores or logits read off the weights
(row-vector convention: rows are queries or inputs, columns keys or outputs; LayerNorm gains
folded into the adjacent weights, LayerNorm centring and scaling otherwise ignored):

- ``pos_qk``: ``P W_Q¹ W_K¹ᵀ Pᵀ`` (``T × T``; Musat's ``Pᵀ W_K¹ᵀ W_Q¹ P`` transposed so that row
  ``t`` is the query position). Predicted: the subdiagonal ``(t, t−1)``, "each position attends
  to the previous". Learned absolute positions only.
- ``tok_qk``: ``E W_Q¹ W_K¹ᵀ Eᵀ`` over a set of tokens (items, then labels). Predicted: the
  diagonal (the ODE's ``α1·I`` block).
- ``match``: layer 2's score between a query item and the item that layer 1 copied into a
  key position: ``(E W_Q²)(E OV¹ W_K²)ᵀ`` with ``OV¹ = Σ_j ptok_j W_V^{1,j} W_O^{1,j}`` (layer-1
  heads weighted by their previous-token score). Predicted: the diagonal (the ODE's ``β2·I``).
- ``copy``: the OV path from a label's embedding through a layer-2 head to the logits,
  ``E_L W_V² W_O² U`` (``L × L``). Predicted: the diagonal (the ODE's ``γ3·I``).

Each block gets a *structure score*: the fraction of its squared Frobenius norm that lies on
the predicted entries, after removing every row's mean (a softmax ignores a constant per
row). Attention blocks use only the causal entries (key ≤ query). A random matrix scores
about ``#predicted / #entries``; a perfectly structured one scores ``1 − 1/#row entries``
or more.
"""

from __future__ import annotations

import numpy as np

from .model import ModelConfig, Params
from .task import Task

BLOCKS = ("pos_qk", "tok_qk", "match", "copy")
PREDICTED = {"pos_qk": "subdiagonal", "tok_qk": "diagonal", "match": "diagonal", "copy": "diagonal"}


def structure_score(matrix, mask, valid=None) -> float:
    """Fraction of ``‖M̃‖_F²`` on ``mask``, ``M̃`` = ``matrix`` with row means over ``valid`` removed."""
    m = np.asarray(matrix, float)
    valid = np.ones(m.shape, bool) if valid is None else np.asarray(valid, bool)
    counts = np.maximum(valid.sum(axis=1, keepdims=True), 1)
    centred = np.where(valid, m - np.where(valid, m, 0).sum(axis=1, keepdims=True) / counts, 0.0)
    total = np.sum(centred**2)
    return float(np.sum(centred[mask & valid] ** 2) / total) if total > 0 else float("nan")


def _np(params: Params):
    import jax

    return jax.tree.map(lambda a: None if a is None else np.asarray(a, float), params)


def _qk(layer, h, cfg: ModelConfig):
    gain = layer.ln_gain[:, None] if cfg.layer_norm else 1.0
    return (gain * layer.wq[h]) @ (gain * layer.wk[h]).T / np.sqrt(cfg.head_dim)


def _ov(layer, h, cfg: ModelConfig):
    gain = layer.ln_gain[:, None] if cfg.layer_norm else 1.0
    return (gain * layer.wv[h]) @ layer.wo[h]


def weight_blocks(
    params: Params,
    cfg: ModelConfig,
    task: Task,
    *,
    previous_token: np.ndarray,
    n_items: int = 16,
) -> dict:
    """The four blocks for every head: ``{name: (H, rows, cols) array or None}``.

    ``previous_token``: ``(H,)`` layer-1 previous-token scores (weights for ``OV¹``).
    Items are the first ``n_items`` held-out classes.
    """
    p = _np(params)
    l1, l2 = p.layers
    H = cfg.heads
    vectors = np.asarray(task.class_vectors(), float)[task.n_items : task.n_items + n_items]
    e_items = vectors @ p.item_w + p.item_b
    e_tokens = np.concatenate([e_items, p.label_emb])
    weights = np.clip(np.asarray(previous_token, float), 0, None)
    ov1 = sum(w * _ov(l1, j, cfg) for j, w in enumerate(weights))
    out_gain = p.ln_gain[:, None] if cfg.layer_norm else 1.0
    blocks = {
        "pos_qk": None if p.pos is None else np.stack([p.pos @ _qk(l1, h, cfg) @ p.pos.T for h in range(H)]),
        "tok_qk": np.stack([e_tokens @ _qk(l1, h, cfg) @ e_tokens.T for h in range(H)]),
        "match": np.stack([e_items @ _qk(l2, h, cfg) @ (e_items @ ov1).T for h in range(H)]),
        "copy": np.stack([p.label_emb @ _ov(l2, h, cfg) @ (out_gain * p.unembed) for h in range(H)]),
    }
    return blocks


def block_masks(name: str, shape) -> tuple[np.ndarray, np.ndarray | None]:
    """``(predicted, valid)`` boolean masks for a block of ``shape`` (valid ``None``: all)."""
    rows, cols = shape
    if name == "pos_qk":
        return np.eye(rows, cols, k=-1, dtype=bool), np.tril(np.ones(shape, bool))
    return np.eye(rows, cols, dtype=bool), None


def structure(
    params: Params,
    cfg: ModelConfig,
    task: Task,
    *,
    previous_token: np.ndarray,
    induction: np.ndarray,
    n_items: int = 16,
) -> dict:
    """Blocks, per-head structure scores and the headline head of each block.

    The headline head is the layer-1 head with the best previous-token score for ``pos_qk``
    and ``tok_qk``, and the layer-2 head with the best induction strength for ``match`` and
    ``copy``. Returns ``{name: {"predicted", "head", "score", "scores" (H,), "matrix"}}``
    (``None`` for ``pos_qk`` under RoPE).
    """
    blocks = weight_blocks(params, cfg, task, previous_token=previous_token, n_items=n_items)
    best1, best2 = int(np.argmax(previous_token)), int(np.argmax(induction))
    out = {}
    for name, mats in blocks.items():
        if mats is None:
            out[name] = None
            continue
        predicted, valid = block_masks(name, mats.shape[1:])
        scores = [structure_score(m, predicted, valid) for m in mats]
        head = best1 if name in ("pos_qk", "tok_qk") else best2
        out[name] = dict(
            predicted=PREDICTED[name], head=head, score=scores[head], scores=scores, matrix=mats[head]
        )
    return out
