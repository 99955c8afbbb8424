"""Training on the fixed sample: full-batch gradient descent, and its ``lr → 0`` limit, the
gradient flow, integrated with diffrax. Time is gradient-flow time ``t = steps × lr``.

Both work on any parameter pytree and any loss ``loss(params, data) → scalar`` (the reduced
and the full model), and record the parameters and the loss on a time grid. With
``batched=True`` the parameters and the data carry a leading axis (seeds or settings of one
shape) and everything is vmapped over it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from .. import task as _task  # noqa: F401  (enables float64)


class Trajectory(NamedTuple):
    """Parameters and loss on a time grid.

    Attributes:
        ts: ``(R,)`` gradient-flow times (``step × lr`` for gradient descent).
        params: the parameter pytree, each leaf with a leading ``(R,)`` axis (``(n, R, …)``
            when batched).
        losses: ``(R,)`` the training loss at ``ts`` (``(n, R)`` when batched).
        steps: ``(R,)`` int, the step numbers (gradient descent), or ``None`` (flow).
    """

    ts: np.ndarray
    params: Any
    losses: np.ndarray
    steps: np.ndarray | None


def log_grid(last: int, *, dense: int = 100, num: int = 200) -> np.ndarray:
    """Sorted unique integers: all of ``0 … min(dense, last)``, then ``num`` log-spaced to ``last``."""
    head = np.arange(min(dense, last) + 1)
    tail = np.geomspace(max(dense, 1), last, num).round().astype(int) if last > dense else np.array([], int)
    return np.unique(np.concatenate([head, tail]))


def _maybe_vmap(fn, batched: bool, in_axes):
    return jax.vmap(fn, in_axes=in_axes) if batched else fn


@functools.lru_cache(maxsize=8)
def _descent_programs(loss: Callable, batched: bool):
    """Jitted ``advance(params, data, n, lr)`` (``n`` steps) and ``loss``, cached per loss function,
    so that repeated runs with one loss (other learning rates, other data of one shape) compile once."""
    grad = jax.grad(loss)

    def advance(params, data, n, lr):
        step = lambda _, p: jax.tree.map(lambda x, g: x - lr * g, p, grad(p, data))  # noqa: E731
        return jax.lax.fori_loop(0, n, step, params)

    return (
        jax.jit(_maybe_vmap(advance, batched, (0, 0, None, None))),
        jax.jit(_maybe_vmap(loss, batched, (0, 0))),
    )


def gradient_descent(
    loss: Callable,
    params0,
    data,
    *,
    lr: float,
    steps: int,
    save_steps=None,
    batched: bool = False,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Trajectory:
    """Full-batch gradient descent ``θ ← θ − lr ∇loss(θ, data)`` for ``steps`` steps.

    Args:
        loss: ``loss(params, data)``, a scalar.
        save_steps: the step numbers to record (default :func:`log_grid` of ``steps``).
        on_chunk: called as ``on_chunk(step, steps)`` after each recorded step.

    Returns:
        A :class:`Trajectory` at ``ts = save_steps × lr``.
    """
    if not lr > 0:
        raise ValueError(f"the learning rate must be > 0, got {lr}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    save = log_grid(steps) if save_steps is None else np.unique(np.asarray(save_steps, int))
    advance, value = _descent_programs(loss, batched)
    params, done = params0, 0
    saved, losses = [], []
    for s in save:
        if s > done:
            params = advance(params, data, int(s - done), lr)
            done = int(s)
        saved.append(params)
        losses.append(value(params, data))
        if on_chunk is not None:
            on_chunk(done, steps)
    stack = jax.tree.map(lambda *xs: np.stack(xs, axis=1 if batched else 0), *saved)
    losses = np.stack([np.asarray(v) for v in losses], axis=-1)
    return Trajectory(save * lr, stack, losses, save)


def gradient_flow(
    loss: Callable,
    params0,
    data,
    *,
    t_end: float,
    ts=None,
    rtol: float = 1e-7,
    atol: float = 1e-10,
    max_steps: int = 200_000,
    batched: bool = False,
) -> Trajectory:
    """The gradient flow ``dθ/dt = −∇loss(θ, data)`` from ``t = 0`` to ``t_end`` (diffrax, Tsit5,
    adaptive steps with ``rtol``/``atol``).

    Args:
        ts: the times to record (default: 201 evenly spaced up to ``min(t_end, 100)``, then 200
            log-spaced up to ``t_end``).

    Returns:
        A :class:`Trajectory` (``steps`` is ``None``). Raises ``RuntimeError`` if the solver
        fails (for instance after ``max_steps`` steps).
    """
    if not t_end > 0:
        raise ValueError(f"t_end must be > 0, got {t_end}")
    if ts is None:
        early = min(t_end, 100.0)
        ts = np.unique(np.concatenate([np.linspace(0.0, early, 201), np.geomspace(early, t_end, 200)]))
    ts = np.asarray(ts, float)
    grad = jax.grad(loss)

    def solve(params, data):
        term = diffrax.ODETerm(lambda t, y, d: jax.tree.map(jnp.negative, grad(y, d)))
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            0.0,
            float(ts[-1]),
            None,
            params,
            args=data,
            saveat=diffrax.SaveAt(ts=jnp.asarray(ts)),
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            max_steps=max_steps,
            throw=False,
        )
        losses = jax.vmap(loss, in_axes=(0, None))(sol.ys, data)
        return sol.ys, losses, sol.result == diffrax.RESULTS.successful

    ys, losses, ok = jax.jit(_maybe_vmap(solve, batched, (0, 0)))(params0, data)
    if not np.all(np.asarray(ok)):
        raise RuntimeError(f"the gradient flow failed before t = {ts[-1]:g} (max_steps = {max_steps})")
    return Trajectory(ts, jax.tree.map(np.asarray, ys), np.asarray(losses), None)
