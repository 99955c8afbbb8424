"""The explicit disentangled two-layer attention-only network of MODEL.md, and its trainer.

This is the full-weight model that the 19-parameter ODE stands for. Weights are a
:class:`~induction_ode.subspace.Weights` pytree at any token width ``d ≥ 2N`` and the
positional width ``P`` of the code (2 sinusoidal, ``2N + 2`` paired).
"""

from __future__ import annotations

import functools
import inspect
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .options import check_option, check_precision
from .positions import check_positions, width
from .subspace import Weights, embed, project, weight_shapes, weights_norm
from .task import Batch, check_n_pairs, sample_batch

LOSSES = ("mse", "ce")
OPTIMIZERS = ("sgd", "adam")
LAYER1_MASKS = ("strict", "inclusive")
"""Layer-1 attention sets of MODEL.md: ``"strict"`` (default), position ``t`` attends to
``s < t`` and position 0 to itself; ``"inclusive"``, ``t`` attends to ``s ≤ t``."""


def check_layer1_mask(layer1_mask: str) -> str:
    """Return ``layer1_mask`` if it is one of :data:`LAYER1_MASKS`; ``ValueError`` otherwise."""
    return check_option("layer1_mask", layer1_mask, LAYER1_MASKS)


def check_loss(loss: str) -> str:
    """Return ``loss`` if it is one of :data:`LOSSES`; ``ValueError`` otherwise."""
    return check_option("loss", loss, LOSSES)


def init_weights(d: int, p: int = 2, *, key=None, scale: float = 0.0, dtype=jnp.float64) -> Weights:
    """Zero weights at widths ``d``, ``P``, or i.i.d. ``N(0, scale²)`` entries when ``scale > 0``."""
    shapes = weight_shapes(d, p)
    if scale == 0.0:
        return Weights(*(jnp.zeros(s, dtype) for s in shapes))
    if key is None:
        raise ValueError("a random initialisation (scale > 0) needs a key")
    keys = jax.random.split(key, 3)
    return Weights(*(scale * jax.random.normal(k, s, dtype) for k, s in zip(keys, shapes)))


def layer1_keys(size: int, layer1_mask: str) -> jax.Array:
    """``(T, T)`` bool: which keys ``s`` row ``t`` of layer 1 attends to (MODEL.md).

    ``"strict"``: ``s < t``, and position 0, which has no earlier position, itself.
    ``"inclusive"``: ``s ≤ t``.
    """
    if layer1_mask == "inclusive":
        return jnp.tril(jnp.ones((size, size), dtype=bool))
    return jnp.tril(jnp.ones((size, size), dtype=bool), k=-1).at[0, 0].set(True)


def _attention(h: jax.Array, a: jax.Array, keys: jax.Array) -> jax.Array:
    """``attn_A(h)_t = Σ_{s ∈ keys[t]} softmax_s(h_tᵀ A h_s) h_s`` for every row; ``h`` is ``(T, D)``."""
    scores = h @ a @ h.T
    return jax.nn.softmax(jnp.where(keys, scores, -jnp.inf), axis=-1) @ h


def forward_one(
    weights: Weights, tokens: jax.Array, pos: jax.Array, layer1_mask: str = "strict"
) -> jax.Array:
    """Readout ``ŷ = W_O h2_{T-1}`` for one sequence: tokens ``(T, d)``, pos ``(T, P)`` → ``(d,)``."""
    h0 = jnp.concatenate([tokens, pos], axis=-1)
    keys = layer1_keys(h0.shape[0], layer1_mask)
    h1 = jnp.concatenate([h0, _attention(h0, weights.A1, keys)], axis=-1)
    scores = h1[-1] @ weights.A2 @ h1.T  # layer 2 is only read at the query, over every s
    h2_query = jnp.concatenate([h1[-1], jax.nn.softmax(scores) @ h1])
    return weights.WO @ h2_query


@functools.partial(jax.jit, static_argnames=("loss", "layer1_mask"))
def batch_losses(
    weights: Weights, batch: Batch, *, loss: str = "mse", layer1_mask: str = "strict"
) -> jax.Array:
    """Per-sequence loss, shape ``(B,)``: ``½‖ŷ − y_k‖²`` or cross-entropy over ``batch.vocab``."""
    yhat = jax.vmap(forward_one, in_axes=(None, 0, 0, None))(
        weights, batch.tokens, batch.positions, layer1_mask
    )
    if loss == "mse":
        return 0.5 * jnp.sum((yhat - batch.targets) ** 2, axis=-1)
    logits = jnp.einsum("bd,bvd->bv", yhat, batch.vocab)
    return jax.nn.logsumexp(logits, axis=-1) - jnp.sum(yhat * batch.targets, axis=-1)


class TrainResult(NamedTuple):
    """Record of a full-weight training run, one row per recorded step.

    Attributes:
        steps: ``(R,)`` step counts (0 = initialisation); ODE time is ``steps * lr``.
        thetas: ``(R, 19)`` projection of the weights onto the subspace.
        off_subspace: ``(R,)`` ``‖W − embed(project(W))‖ / ‖W‖`` (0 where ``W = 0``).
        losses: ``(R,)`` mean loss on a fixed evaluation batch.
        weights: the final weights.
    """

    steps: jax.Array
    thetas: jax.Array
    off_subspace: jax.Array
    losses: jax.Array
    weights: Weights


def off_subspace_fraction(weights: Weights) -> jax.Array:
    """``‖W − embed(project(W))‖_F / ‖W‖_F``, defined as 0 for ``W = 0`` (NaN stays NaN)."""
    _, rest = project(weights)
    total = weights_norm(weights)
    return jnp.where(total == 0, 0.0, weights_norm(rest) / jnp.where(total == 0, 1.0, total))


class _Program(NamedTuple):
    """The pieces of a training run, each a pure function of JAX arrays (vmappable over seeds).

    Attributes:
        start: ``seed_key → (w0, opt_state, eval_batch, train_key)``.
        chunk: ``(w, opt_state, train_key, first_step) → (w, opt_state)``: ``record_every``
            optimiser steps from ``first_step`` on, a fresh batch each.
        record: ``(w, eval_batch) → (theta (19,), off_subspace, loss)``.
    """

    start: object
    chunk: object
    record: object


def _program(n_pairs, d, *, lr, batch, record_every, optimizer, loss, layer1_mask, **options) -> _Program:
    """Check the options of :func:`train` and build its :class:`_Program`."""
    n_pairs = check_n_pairs(n_pairs)
    check_loss(loss)
    check_layer1_mask(layer1_mask)
    p = width(check_positions(options["positions"]), n_pairs)
    init_scale, theta0 = options.pop("init_scale"), options.pop("theta0")
    eval_batch, dtype = options.pop("eval_batch"), check_precision(options.pop("precision"))
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
    if batch < 1 or record_every < 1 or lr <= 0:
        raise ValueError("steps, batch and record_every must be >= 1 and lr > 0")
    opt = optax.sgd(lr) if optimizer == "sgd" else optax.adam(lr)
    sample = dict(n_pairs=n_pairs, d=d, dtype=dtype, **options)  # vocab_size, tokens, phase, positions, query

    def mean_loss(w, data):
        return jnp.mean(batch_losses(w, data, loss=loss, layer1_mask=layer1_mask))

    def start(key):
        k_init, k_eval, k_train = jax.random.split(key, 3)
        w0 = init_weights(d, p, key=k_init, scale=init_scale, dtype=dtype)
        if theta0 is not None:
            w0 = jax.tree.map(jnp.add, w0, embed(jnp.asarray(theta0, dtype), d, p))
        return w0, opt.init(w0), sample_batch(k_eval, eval_batch, **sample), k_train

    def record(w, eval_data):
        return project(w)[0], off_subspace_fraction(w), mean_loss(w, eval_data)

    def chunk(w, state, k_train, first):
        def step(carry, i):
            w, state = carry
            data = sample_batch(jax.random.fold_in(k_train, i), batch, **sample)
            updates, state = opt.update(jax.grad(mean_loss)(w, data), state, w)
            return (optax.apply_updates(w, updates), state), None

        return jax.lax.scan(step, (w, state), first + jnp.arange(record_every))[0]

    return _Program(start, chunk, record)


def train(
    n_pairs: int,
    d: int,
    *,
    steps: int,
    lr: float,
    batch: int,
    seed: int = 0,
    record_every: int = 10,
    optimizer: str = "sgd",
    loss: str = "mse",
    vocab_size: int | None = None,
    init_scale: float = 0.0,
    theta0: jax.Array | None = None,
    tokens: str = "haar",
    phase: str = "uniform",
    eval_batch: int = 4096,
    layer1_mask: str = "strict",
    positions: str = "paired",
    query: str = "uniform",
    precision: str = "float64",
) -> TrainResult:
    """Train the full-weight network with optax, a fresh batch every step.

    With ``optimizer="sgd"`` this is plain gradient descent ``W ← W − lr ∇L_batch``, so step
    ``n`` corresponds to gradient-flow time ``n·lr`` under the ``("weights", d)`` metric.

    Args:
        steps: number of optimiser steps; rounded up to a multiple of ``record_every``.
        theta0: start at ``embed(theta0, d)`` (plus noise if ``init_scale > 0``).
        init_scale: standard deviation of i.i.d. normal initial entries (0: zero init).
        tokens, phase: sampler options (see :func:`~induction_ode.task.sample_batch`); Haar
            tokens (the default) are drawn by :func:`~induction_ode.task.gram_schmidt`, since
            LAPACK's batched QR can deadlock inside the compiled loop on a CPU.
        eval_batch: size of the fixed batch on which the recorded loss is measured.
        layer1_mask: ``"strict"`` (default) or ``"inclusive"`` (MODEL.md).
        positions: the positional code, ``"paired"`` (default) or ``"sinusoidal"``; the
            positional width is :func:`~induction_ode.positions.width`.
        query: ``"uniform"`` (default) or ``"last"``, the pair the query asks for.
        precision: ``"float64"`` (default, the package's) or ``"float32"``: the dtype of the
            weights, the optimiser state and every batch (the batches then draw other random
            numbers, so a float32 run is not the float64 run rounded).

    Returns:
        A :class:`TrainResult`.
    """
    if steps < 1:
        raise ValueError("steps, batch and record_every must be >= 1 and lr > 0")
    options = dict(lr=lr, batch=batch, record_every=record_every, optimizer=optimizer, loss=loss)
    options.update(vocab_size=vocab_size, init_scale=init_scale, theta0=theta0, eval_batch=eval_batch)
    options.update(layer1_mask=layer1_mask, tokens=tokens, phase=phase, positions=positions, query=query)
    options.update(precision=precision)
    prog = _program(n_pairs, d, **options)
    w0, state0, eval_data, k_train = prog.start(jax.random.PRNGKey(seed))
    n_records = -(-steps // record_every)
    starts = jnp.arange(n_records) * record_every

    def chunk(carry, first):
        carry = prog.chunk(*carry, k_train, first)
        return carry, prog.record(carry[0], eval_data)

    @jax.jit
    def run(w, state):
        (w_final, _), recs = jax.lax.scan(chunk, (w, state), starts)
        first = jax.tree.map(lambda x: x[None], prog.record(w, eval_data))
        return w_final, jax.tree.map(lambda a, b: jnp.concatenate([a, b]), first, recs)

    w_final, (thetas, off, losses) = run(w0, state0)
    return TrainResult(jnp.arange(n_records + 1) * record_every, thetas, off, losses, w_final)


def train_seeds(
    n_pairs: int,
    d: int,
    *,
    seeds,
    steps: int,
    lr: float,
    batch: int,
    record_every: int = 10,
    until=None,
    on_chunk=None,
    **options,
) -> TrainResult:
    """:func:`train` for every seed of ``seeds`` at once: one program, vmapped over the seed axis
    of the weights, the optimiser state, the batch keys and the evaluation batch, run one chunk
    of ``record_every`` steps at a time. Seed ``s`` draws what ``train(..., seed=s)`` draws.

    Args:
        seeds: the ``K`` seeds.
        steps: the most optimiser steps (rounded up to a multiple of ``record_every``).
        until: ``until(steps (R,), losses (K, R)) → bool``, asked after every chunk; training
            stops early when it answers ``True``.
        on_chunk: ``on_chunk(step)``, called after every chunk (progress bars).
        options: the other keyword arguments of :func:`train` (not ``seed``).

    Returns:
        A :class:`TrainResult` whose fields gain a leading seed axis ``K`` (``steps`` stays
        ``(R,)``); ``R − 1`` chunks ran.
    """
    if steps < 1:
        raise ValueError("steps, batch and record_every must be >= 1 and lr > 0")
    own = ("seed", "record_every")  # train's keyword defaults, read off its signature
    defaults = {k: p.default for k, p in inspect.signature(train).parameters.items() if k not in own}
    defaults = {k: v for k, v in defaults.items() if v is not inspect.Parameter.empty}
    prog = _program(n_pairs, d, lr=lr, batch=batch, record_every=record_every, **{**defaults, **options})
    keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
    w, state, eval_data, k_train = jax.jit(jax.vmap(prog.start))(keys)
    chunk = jax.jit(jax.vmap(prog.chunk, in_axes=(0, 0, 0, None)))
    record = jax.jit(jax.vmap(prog.record))
    recs = [record(w, eval_data)]
    for c in range(-(-steps // record_every)):
        w, state = chunk(w, state, k_train, c * record_every)
        recs.append(record(w, eval_data))
        if on_chunk is not None:
            on_chunk((c + 1) * record_every)
        done = np.arange(len(recs)) * record_every
        if until is not None and until(done, np.stack([np.asarray(r[2]) for r in recs], axis=1)):
            break
    thetas, off, losses = (jnp.stack(parts, axis=1) for parts in zip(*recs))
    return TrainResult(np.arange(len(recs)) * record_every, thetas, off, losses, w)
