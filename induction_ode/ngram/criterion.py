"""The modified χ²-mutual information of NGRAM.md, the theory's criterion for the parent set.

For a set ``S`` of offsets in the window, with ``μ_π`` the stationary law of the chain ``π``,

    Ĩ(S) = E_π Σ_{z_S} μ_π(z_S)² ( Σ_x μ_π(x | z_S)² / μ_π(x) − 1 )
         = E_π [ Σ_{z_S, x} μ_π(z_S, x)² / μ_π(x) − Σ_{z_S} μ_π(z_S)² ],

where ``z_S`` are the tokens at the offsets ``S`` before ``x``. The sums over contexts are
exact (a joint law over ``window + 1`` consecutive tokens, ``S^(window+1)`` entries); the
expectation over ``π`` is a Monte Carlo mean over Dirichlet draws, reported with its standard
error. ``Ĩ(∅) = 0``. The theory predicts ``S* = argmax Ĩ`` over ``|S| ≤ D``.
"""

from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .sampler import NGramTask, check_int, sample_kernels

SQUARINGS = 60
"""``μ = uniform · P^(2^60)``: repeated squaring of the context chain's transition matrix. A
Dirichlet(α) kernel with small ``α`` can mix very slowly; 2^60 steps is far past any mixing
time the float64 entries can express."""


def context_transition(kernel: jax.Array, task: NGramTask) -> jax.Array:
    """``(C, C)`` transition matrix of the chain of contexts (the last ``n − 1`` tokens), ``C = S^(n−1)``.

    Context ``c = Σ_k x_{i−k} S^(k−1)``; after drawing ``x_i = s`` the new context is
    ``(c · S) mod C + s`` (every parent moves one offset further back).
    """
    S, C = task.vocab_size, task.n_contexts
    nxt = (np.arange(C)[:, None] * S) % C + np.arange(S)[None, :]  # (C, S)
    return jnp.zeros((C, C), kernel.dtype).at[np.arange(C)[:, None], nxt].add(kernel)


def stationary(kernel: jax.Array, task: NGramTask) -> jax.Array:
    """Stationary law of the contexts, ``(C,)``, by repeated squaring from the uniform law."""
    P = context_transition(kernel, task)
    P = jax.lax.fori_loop(0, SQUARINGS, lambda _, m: m @ m, P)
    mu = jnp.full((task.n_contexts,), 1.0 / task.n_contexts) @ P
    return mu / jnp.sum(mu)


def window_law(kernel: jax.Array, task: NGramTask, window: int) -> jax.Array:
    """Stationary joint law of ``window + 1`` consecutive tokens, shape ``(S,) * (window + 1)``;
    axis ``m`` is the token at offset ``window − m`` before the last one (the last axis is ``x``)."""
    S, p = task.vocab_size, task.order - 1
    if window < p:
        raise ValueError(f"the window must cover the n − 1 = {p} parents, got {window}")
    # Context index Σ_k x_{−k} S^(k−1): the oldest parent is the most significant digit, so a
    # C-order reshape puts the axes in time order, oldest first.
    joint = stationary(kernel, task).reshape((S,) * p)
    pi = kernel.reshape((S,) * p + (S,))  # axes: oldest parent … newest parent, next token
    for _ in range(window + 1 - p):
        last = joint.ndim
        # multiply by π(next | the last p tokens) along the trailing p axes
        joint = joint[..., None] * pi.reshape((1,) * (last - p) + pi.shape)
    return joint


def offset_subsets(window: int, degree: int) -> tuple[tuple[int, ...], ...]:
    """Subsets of the offsets ``1 … window`` with at most ``degree`` members (the empty set first)."""
    return tuple(s for r in range(degree + 1) for s in itertools.combinations(range(1, window + 1), r))


def chi2_mi_one(kernel: jax.Array, task: NGramTask, window: int, subsets) -> jax.Array:
    """``Ĩ(S)`` of one kernel for each subset of offsets; shape ``(len(subsets),)``."""
    joint = window_law(kernel, task, window)
    axes = joint.ndim
    mu_x = jnp.sum(joint, axis=tuple(range(axes - 1)))
    out = []
    for subset in subsets:
        keep = {window - m for m in subset} | {axes - 1}
        zx = jnp.sum(joint, axis=tuple(a for a in range(axes) if a not in keep))  # (z_S …, x)
        z = jnp.sum(zx, axis=-1)
        out.append(jnp.sum(zx**2 / mu_x) - jnp.sum(z**2))
    return jnp.stack(out)


class Criterion(NamedTuple):
    """Monte Carlo estimate of ``Ĩ(S)`` for every subset of the window's offsets.

    Attributes:
        subsets: tuples of offsets (``()`` the empty set).
        value: ``(n_subsets,)`` the mean over draws of ``π``.
        stderr: ``(n_subsets,)`` its standard error (sample std / √draws).
        draws: the number of kernels drawn.
        margin: ``Ĩ(S*) − Ĩ(runner-up)``; ``margin_err``: its standard error from the paired
            per-draw differences.
    """

    subsets: tuple[tuple[int, ...], ...]
    value: np.ndarray
    stderr: np.ndarray
    draws: int
    margin: float
    margin_err: float

    @property
    def best(self) -> tuple[int, ...]:
        """The predicted ``S* = argmax Ĩ``."""
        return self.subsets[int(np.argmax(self.value))]


@functools.lru_cache(maxsize=16)
def _batched(task: NGramTask, window: int, subsets):
    """The jitted, vmapped ``chi2_mi_one`` (cached, so repeated estimates compile once)."""
    return jax.jit(jax.vmap(lambda k: chi2_mi_one(k, task, window, subsets)))


def chi2_mutual_information(
    task: NGramTask, window: int, degree: int, *, draws: int = 2000, seed: int = 0, chunk: int = 500
) -> Criterion:
    """``Ĩ(S)`` for every ``S ⊆ {1 … window}`` with ``|S| ≤ degree`` (Monte Carlo over ``draws`` kernels)."""
    window = check_int(window, "the window", 1)
    degree = check_int(degree, "the degree D", 1)
    draws = check_int(draws, "draws", 2)
    if (task.vocab_size ** (window + 1)) > 2_000_000:
        raise ValueError(f"S^(window+1) = {task.vocab_size ** (window + 1)} is too large for exact sums")
    subsets = offset_subsets(window, min(degree, window))
    one = _batched(task, window, subsets)
    keys = jax.random.split(jax.random.key(seed), -(-draws // chunk))
    values = []
    for i, key in enumerate(keys):
        n = min(chunk, draws - i * chunk)
        values.append(np.asarray(one(sample_kernels(key, task, n))))
    values = np.concatenate(values)
    mean = values.mean(0)
    first, second = np.argsort(mean)[::-1][:2]
    diff = values[:, first] - values[:, second]
    return Criterion(
        subsets,
        mean,
        values.std(0, ddof=1) / np.sqrt(draws),
        draws,
        float(diff.mean()),
        float(diff.std(ddof=1) / np.sqrt(draws)),
    )
