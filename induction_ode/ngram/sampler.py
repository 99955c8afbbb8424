"""Sequences of an n-gram Markov chain whose kernel is new in every sequence (NGRAM.md, "Task").

A sequence has its own kernel ``π``: for each of the ``S^(n−1)`` parent contexts an independent
``Dirichlet(α·1_S)`` law of the next token. ``x_1 … x_{n−1}`` are i.i.d. uniform on ``[S]``
(not the stationary law: the authors' choice, kept), then ``x_i ~ π(· | parents)`` for
``i = n … L+1``. The model reads ``x_1 … x_L`` and predicts ``x_{L+1}``.

Contexts are numbered by their parents: the context of ``x_i`` is
``Σ_{k=1}^{n−1} x_{i−k} · S^(k−1)`` (the parent at offset ``k`` is digit ``k−1`` in base ``S``).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .. import task as _task  # noqa: F401  (enables float64)
from ..validation import check


def check_int(value, name: str, low: int) -> int:
    """``value`` as an ``int``; ``ValueError`` naming ``name`` unless it is an integer >= ``low``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}") from None
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value}")
    return value


@dataclass(frozen=True)
class NGramTask:
    """The data distribution (hashable: usable as a jit static argument).

    Attributes:
        vocab_size: ``S ≥ 2`` tokens.
        order: ``n ≥ 2``; a token depends on its ``n − 1`` parents at offsets ``1 … n−1``.
        length: ``L > n`` input tokens; the target is token ``L + 1``.
        alpha: Dirichlet concentration ``α > 0``.
    """

    vocab_size: int = 3
    order: int = 3
    length: int = 100
    alpha: float = 0.1

    def __post_init__(self):
        check_int(self.vocab_size, "the vocabulary size S", 2)
        check_int(self.order, "the order n", 2)
        length = check_int(self.length, "the length L", 1)
        if length <= self.order:
            raise ValueError(f"the length L must be > n = {self.order}, got L = {length}")
        check("alpha", self.alpha)

    @property
    def n_contexts(self) -> int:
        """``S^(n−1)`` parent contexts."""
        return self.vocab_size ** (self.order - 1)


class NGramSample(NamedTuple):
    """A set of sequences with their kernels.

    Attributes:
        tokens: ``(B, L+1)`` int32: ``x_1 … x_{L+1}`` (the inputs, then the target).
        kernels: ``(B, S^(n−1), S)`` each sequence's ``π(x | context)``.
    """

    tokens: jax.Array
    kernels: jax.Array

    @property
    def inputs(self) -> jax.Array:
        """``(B, L)`` the model's input tokens ``x_1 … x_L``."""
        return self.tokens[:, :-1]

    @property
    def targets(self) -> jax.Array:
        """``(B,)`` the target ``x_{L+1}``."""
        return self.tokens[:, -1]

    @property
    def reachable(self) -> jax.Array:
        """``(B,)`` bool: the target occurs among the inputs. Every model of NGRAM.md predicts
        a mixture of input tokens, so an unreachable target has ``ŷ_y = 0`` for all parameters."""
        return jnp.any(self.inputs == self.targets[:, None], axis=1)


def context_index(parents: jax.Array, vocab_size: int) -> jax.Array:
    """Context index, shape ``parents.shape[:-1]``; ``parents[..., k−1]`` is the token at offset ``k``."""
    weights = vocab_size ** jnp.arange(parents.shape[-1])
    return jnp.sum(parents * weights, axis=-1)


def sample_kernels(key, task: NGramTask, num: int) -> jax.Array:
    """``num`` kernels, ``(num, S^(n−1), S)``, rows i.i.d. ``Dirichlet(α·1_S)`` (float64)."""
    conc = jnp.full((task.vocab_size,), task.alpha, jnp.float64)
    return jax.random.dirichlet(key, conc, shape=(num, task.n_contexts), dtype=jnp.float64)


def sample_chains(key, task: NGramTask, kernels: jax.Array) -> jax.Array:
    """One chain per kernel: ``(B, L+1)`` int32 tokens ``x_1 … x_{L+1}``.

    ``x_1 … x_{n−1}`` uniform, then each token drawn from its kernel's row for its parents.
    """
    num = kernels.shape[0]
    p = task.order - 1
    k0, k1 = jax.random.split(key)
    start = jax.random.randint(k0, (num, p), 0, task.vocab_size, dtype=jnp.int32)
    log_k = jnp.log(kernels)  # log 0 = −inf: that token is never drawn
    rows = jnp.arange(num)

    def step(window, k):  # window[:, j] is the token at offset p − j
        ctx = context_index(window[:, ::-1], task.vocab_size)
        x = jax.random.categorical(k, log_k[rows, ctx], axis=-1).astype(jnp.int32)
        return jnp.concatenate([window[:, 1:], x[:, None]], axis=1), x

    _, rest = jax.lax.scan(step, start, jax.random.split(k1, task.length + 1 - p))
    return jnp.concatenate([start, rest.T], axis=1)


@functools.partial(jax.jit, static_argnums=(1, 2))
def sample(key, task: NGramTask, num: int) -> NGramSample:
    """``num`` sequences, each with a fresh kernel (jitted; ``task`` and ``num`` static)."""
    kk, kc = jax.random.split(key)
    kernels = sample_kernels(kk, task, num)
    return NGramSample(sample_chains(kc, task, kernels), kernels)


def fixed_sample(task: NGramTask, num: int, seed: int = 0) -> NGramSample:
    """The seeded sample that stands in for the population (common random numbers)."""
    return sample(jax.random.key(seed), task, num)


def transition_counts(tokens: jax.Array, task: NGramTask) -> jax.Array:
    """Counts of (context, next token) along each chain, ``(B, S^(n−1), S)``, over ``x_n … x_{L+1}``."""
    p = task.order - 1
    length = tokens.shape[1]
    parents = jnp.stack([tokens[:, p - k : length - k] for k in range(1, p + 1)], axis=-1)
    ctx = context_index(parents, task.vocab_size)
    flat = ctx * task.vocab_size + tokens[:, p:]
    counts = jax.vmap(lambda f: jnp.bincount(f, length=task.n_contexts * task.vocab_size))(flat)
    return counts.reshape(tokens.shape[0], task.n_contexts, task.vocab_size)
