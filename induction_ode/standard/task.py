"""The package's in-context retrieval task, for standard transformers.

The layout is that of :mod:`induction_ode.task` (MODEL.md): ``N`` item-label pairs and a
query, ``T = 2N + 1`` positions numbered from 0; position ``2i`` holds item ``x_i``, position
``2i+1`` label ``y_i``, position ``T-1`` the query ``x_k`` (``k`` uniform on ``0 … N-1``);
the target is ``y_k``.

What changes for a standard transformer is what a token is:

- *items* are fixed random class vectors in ``R^item_dim`` (drawn once from the task seed,
  i.i.d. ``N(0, 1/item_dim)``), embedded by a learned linear map, as in Singh et al. (2024);
  ``n_items`` classes are used in training and ``n_heldout`` further classes only in
  evaluation ("held-out items");
- *labels* are discrete tokens ``0 … n_labels-1`` with a learned embedding.

Every sequence draws ``N`` distinct item classes and ``N`` distinct labels and pairs them at
random, so only the context can tell the query's label. Everything is float32.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..task import check_n_pairs, n_positions

DTYPE = jnp.float32


@dataclass(frozen=True)
class Task:
    """Sizes of the task.

    Attributes:
        n_pairs: ``N`` pairs per sequence (``T = 2N + 1``).
        n_labels: label vocabulary ``L ≥ N`` (default ``N``: every label occurs in every
            sequence, so the initial loss is the in-context chance level ``ln N``).
        n_items: item classes used in training (``≥ N``).
        n_heldout: further item classes used only for evaluation (``≥ N``).
        item_dim: width of the class vectors.
        seed: draws the class vectors.
    """

    n_pairs: int = 4
    n_labels: int | None = None
    n_items: int = 64
    n_heldout: int = 64
    item_dim: int = 64
    seed: int = 0

    def __post_init__(self):
        n = check_n_pairs(self.n_pairs)
        if self.n_labels is None:
            object.__setattr__(self, "n_labels", n)
        if self.n_labels < n:
            raise ValueError(f"n_labels must be >= n_pairs = {n}, got {self.n_labels}")
        if self.n_items < n or self.n_heldout < n:
            raise ValueError(f"n_items and n_heldout must be >= n_pairs = {n}")
        if self.item_dim < 1:
            raise ValueError(f"item_dim must be >= 1, got {self.item_dim}")

    @property
    def seq_len(self) -> int:
        return n_positions(self.n_pairs)

    @property
    def chance_loss(self) -> float:
        """``ln N``: the loss of guessing uniformly among the labels in context."""
        return math.log(self.n_pairs)

    def to_json(self) -> dict:
        return asdict(self)

    def class_vectors(self) -> jax.Array:
        """``(n_items + n_heldout, item_dim)``: training classes first, then held-out ones."""
        rng = np.random.default_rng(self.seed)
        vecs = rng.standard_normal((self.n_items + self.n_heldout, self.item_dim)) / math.sqrt(self.item_dim)
        return jnp.asarray(vecs, DTYPE)


def singh_preset(**overrides) -> Task:
    """A Singh-like task: N = 2, 5 labels, 50 training classes of 512-d fixed random vectors.

    Singh et al. use fixed Omniglot image features, one per class; a fixed random vector per
    class is the synthetic stand-in their setup allows (see docs/standard.md).
    """
    settings = dict(n_pairs=2, n_labels=5, n_items=50, n_heldout=50, item_dim=512)
    settings.update(overrides)
    return Task(**settings)


class Sequences(NamedTuple):
    """A batch of sequences.

    Attributes:
        items: ``(B, N+1, item_dim)``: the ``N`` context items, then the query (= item ``k``).
        item_ids: ``(B, N+1)`` their class indices (into :meth:`Task.class_vectors`).
        labels: ``(B, N)`` label ids of the pairs.
        k: ``(B,)`` the queried pair.
        target: ``(B,)`` the label id ``labels[k]``.
    """

    items: jax.Array
    item_ids: jax.Array
    labels: jax.Array
    k: jax.Array
    target: jax.Array


def _distinct(key, batch: int, pool: int, n: int, offset: int = 0) -> jax.Array:
    """``(B, n)`` distinct integers from ``offset … offset + pool - 1`` per row."""
    scores = jax.random.uniform(key, (batch, pool))
    return offset + jnp.argsort(scores, axis=-1)[:, :n].astype(jnp.int32)


def sample(
    task: Task, key, batch: int, *, heldout: bool = False, vectors: jax.Array | None = None
) -> Sequences:
    """Draw ``batch`` fresh sequences; ``heldout=True`` uses only the held-out item classes."""
    vectors = task.class_vectors() if vectors is None else vectors
    k_items, k_labels, k_query = jax.random.split(key, 3)
    n = task.n_pairs
    if heldout:
        ids = _distinct(k_items, batch, task.n_heldout, n, offset=task.n_items)
    else:
        ids = _distinct(k_items, batch, task.n_items, n)
    labels = _distinct(k_labels, batch, task.n_labels, n)
    k = jax.random.randint(k_query, (batch,), 0, n).astype(jnp.int32)
    rows = jnp.arange(batch)
    item_ids = jnp.concatenate([ids, ids[rows, k][:, None]], axis=1)
    return Sequences(vectors[item_ids], item_ids, labels, k, labels[rows, k])


def label_positions(n_pairs: int) -> np.ndarray:
    """Positions ``1, 3, …, 2N-1`` of the labels."""
    return 2 * np.arange(n_pairs) + 1
