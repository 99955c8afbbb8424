"""A variable-order BDF (NDF) integrator for stiff ODEs, in JAX, natively batched.

This is our own implementation of the NDF method of Shampine & Reichelt (1997), "The MATLAB
ODE suite" (SIAM J. Sci. Comput. 18, 1-22), the algorithm behind SciPy's
``solve_ivp(method="BDF")``. We wrote it because diffrax 0.7 has no BDF or Rosenbrock solver,
and the stiff gradient flow of this library needs Jacobian reuse: its Jacobian is an exact
Hessian costing tens of gradient evaluations, and the NDF needs one only when the simplified
Newton iteration stops converging.

The method, in brief:

* numerical differentiation formulas of orders 1-5 (BDF with the ``κ`` coefficients
  ``(-0.1850, -1/9, -0.0823, -0.0415, 0)``) in quasi-constant step size form: the state is the
  array ``D`` of backward differences of the interpolating polynomial at spacing ``h``; a step
  size change by ``factor`` re-interpolates ``D`` (``D ← (R U)ᵀ D``);
* a simplified Newton iteration (at most 4 iterations) with an LU factorisation of
  ``I - c J``, ``c = h / α_k``. ``J`` is re-evaluated when Newton fails with a stale ``J``
  (a failure with a current ``J`` halves the step), and at the end of an accepted step that
  needed ``NEWTON_SLOW`` = 3 iterations or more with a stale one. The LU is refactored
  whenever ``c`` or ``J`` changes;
* the Newton convergence test of CVODE (Hindmarsh et al. 2005, ACM TOMS 31, 363-396, §2.1),
  not SciPy's: iteration ``m`` stops when ``‖Δ_m‖ · min(1, ρ) ≤ 0.01 / C_k`` (RMS norm
  relative to ``atol + rtol |y|``; ``C_k`` the error constant, so the Newton error is held to
  1% of the local error allowance), where the rate estimate ``ρ ← max(0.3 ρ, ‖Δ_m‖ /
  ‖Δ_{m-1}‖)`` is carried from step to step, reset to 1 with every new ``J`` and multiplied
  by ``c_new / c_old`` when the LU is refactored for a larger ``c`` (kept for a smaller
  one); it diverges when ``‖Δ_m‖ > 2 ‖Δ_{m-1}‖``. SciPy needs a measured rate, so two
  iterations at least, and a tolerance of ``√rtol`` (1e-4 at rtol 1e-8); with the carried
  rate most steps take one gradient (counts in ``benchmarks/solvers.py``). Three choices
  matter, found with patches that were not kept: with the rate carried as it is over every
  new LU, a stale rate let unconverged iterates through and the run fell into thousands of
  order-2 steps (N = 64 at CVODE's coefficient 0.1, N = 152 at 0.01; N = 64 at 0.01 when
  only a new ``c`` keeps it, as it does when also scaled down for a smaller ``c``); with a
  reset at every new LU, 0.1 runs but takes 1.6x the steps of 0.01 at N = 152 and 256, and
  0.01 pays a second iteration after every change of ``c`` (one step in five). Carried over
  a larger ``c`` scaled up, with ``J`` re-evaluated after slow steps, N = 64 (paired code,
  strict) takes 1,001 gradients and 7 Jacobians instead of 1,412 and 4, at the same error
  against an rtol 1e-11 run (2.5e-8 against 2.3e-8), in 17% less time;
* the local error estimate ``C_k · D^{k+1}``, RMS norm relative to ``atol + rtol |y|``, safety
  factor ``0.9 (2·4 + 1) / (2·4 + n_newton)``, step factors clipped to ``[0.2, 10]``;
* order selection among ``k - 1, k, k + 1`` after ``k + 1`` steps at constant step size;
* Hairer's initial step selection; a dense output that is the polynomial through the last
  ``k + 1`` solution points (as SciPy's ``BdfDenseOutput``);
* an event: the first time ``event(t, y, args) <= 0``, located on the dense output by
  Illinois regula falsi with a bisection fallback to 64 ulps of ``t``. It ends the solve, or
  the solve continues past it to a multiple of its time (``event_continue``: one solve to
  ``2 t*`` instead of a restart at ``t*``, which would pay a new Jacobian and a new ramp of
  order and step). An event that stays ``<= 0`` once reached may be checked every
  ``event_stride`` accepted steps instead of every step; the step where it first turned is
  then found by bisection over the stored steps, so the root is the same.

Batching. The core :func:`_bdf_batched` carries a leading lane axis ``B`` on every piece of
state and calls ``fun``/``jac``/``event`` through ``jax.vmap`` over lanes (a plain call when
there is one lane). Costly work (the Jacobian, the LU, the event root search) sits behind
``lax.cond`` on a *scalar* predicate reduced over lanes (``jnp.any``), and its result is
merged lane by lane with ``jnp.where``, so each lane keeps its own Jacobian schedule and its
arithmetic does not depend on the other lanes. Lanes that finish stop changing; the loop runs
until all lanes are done.
:func:`bdf_solve` solves one problem (``B = 1``) and, through
``jax.custom_batching.custom_vmap``, batches natively under ``jax.vmap`` (nested ``vmap``
too): its rule calls the core once on all lanes instead of letting ``vmap`` turn every
``lax.cond`` into a ``select`` that would evaluate the Jacobian in every iteration. Values
that ``fun``/``jac``/``event`` close over and that are traced are hoisted into explicit
inputs: the batched ones become lane inputs, the others stay shared (not broadcast).

Layout. The loop carries a :class:`_State` of NamedTuples (position, Newton matrix, dense
buffers, counters); its body :func:`_step` calls the stages, pure functions that each state
their shapes: :func:`_clip_to_end`, :func:`_evaluate_jacobian` (the one call of ``jac``),
:func:`_refactor` (LU), :func:`_predict`, :func:`_newton` (with its convergence test),
:func:`_request_jacobian`,
:func:`_advance_differences`, :func:`_control` (error test, step size and order, with
:func:`_select_order`), :func:`_store_dense` (dense output) and :func:`_locate_event`
(with :func:`_find_root`).

Units: ``t`` is whatever time the ODE is written in; ``y`` has the units of the state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_batching import custom_vmap

jax.config.update("jax_enable_x64", True)  # the library runs in float64

__all__ = ["BDFSolution", "bdf_solve", "bdf_solve_batched", "SUCCESS", "EVENT", "MAX_STEPS", "FAILURE"]

# Result codes.
SUCCESS, EVENT, MAX_STEPS, FAILURE = 0, 1, 2, 3

MAX_ORDER = 5
NEWTON_MAXITER = 4
NEWTON_COEF = 0.01  # Newton stops at this fraction of the local error allowance
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
NEWTON_SLOW = 3  # an accepted step that took this many iterations with a stale J re-evaluates it
_N_ROWS = MAX_ORDER + 3  # D holds the differences of orders 0 … order + 2
_N_DENSE = MAX_ORDER + 1  # rows of D that the dense output needs
_ROOT_MAXITER = 200  # the root search halves the bracket at least every second iteration

_KAPPA = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])
_GAMMA = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))])
_ALPHA = (1.0 - _KAPPA) * _GAMMA
_ERROR_CONST = _KAPPA * _GAMMA + 1.0 / np.arange(1, MAX_ORDER + 2)
_GAMMA_ROWS = np.concatenate([_GAMMA, np.zeros(_N_ROWS - _N_DENSE)])  # γ for each row of D


def _interpolate(t, t_end, h, order, d):
    """The dense output of one step, for any leading batch shape.

    ``t``, ``t_end`` (the step's end), ``h`` (its size): ``(...)``; ``order``: ``(...)`` int;
    ``d``: ``(..., ≥6, n)`` the differences after the step. Returns ``(..., n)``: the
    polynomial of degree ``order`` through ``y`` at ``t_end - j h``, ``j = 0 … order``.
    """
    j = jnp.arange(MAX_ORDER, dtype=d.dtype)
    x = (t[..., None] - (t_end[..., None] - h[..., None] * j)) / (h[..., None] * (j + 1))
    terms = [x[..., 0]]
    for i in range(1, MAX_ORDER):  # cumulative product, unrolled (5 terms)
        terms.append(terms[-1] * x[..., i])
    p = jnp.stack(terms, axis=-1)
    p = jnp.where(j + 1 <= order[..., None], p, 0.0)
    return d[..., 0, :] + jnp.sum(d[..., 1:_N_DENSE, :] * p[..., None], axis=-2)


class BDFSolution(NamedTuple):
    """The result of :func:`bdf_solve`; a pytree (passes through ``jit``, ``vmap``, ``scan``).

    Attributes (shapes for one problem; ``jax.vmap`` adds a leading axis to each):
        t: ``()`` final time reached: ``t1`` (or the end after a continued event), the event
            time of a terminal event, or where the solver stopped.
        y: ``(n,)`` the state at ``t``.
        event: ``()`` bool, the event fired.
        t_event, y_event: ``()``, ``(n,)`` the event's time and state (meaningful where
            ``event``).
        result: ``()`` int32: 0 success (reached the end), 1 terminal event, 2 ``max_steps`` reached,
            3 step size underflow (repeated Newton failures end here too).
        stats: dict of ``()`` int32: ``num_steps`` (attempted), ``num_accepted``,
            ``num_rejected``, ``num_fev`` (calls of ``fun``), ``num_jev`` (Jacobians),
            ``num_lu`` (LU factorisations).
        count: ``()`` int32, the number of accepted steps stored in the dense buffers.
        ts: ``(max_steps,)`` the time at the end of each stored step (padding beyond ``count``).
        hs: ``(max_steps,)`` the size of each stored step.
        orders: ``(max_steps,)`` int32, the order of each stored step.
        ds: ``(max_steps, 6, n)`` the difference array after each step (rows beyond the order
            are zero): the step's interpolant is ``D0 + Σ_j D_j Π_{i<j} (t - t_end + i h) /
            ((i + 1) h)``.
        t0: ``()`` the start time.
        y0: ``(n,)`` the initial state.
    """

    t: jax.Array
    y: jax.Array
    event: jax.Array
    t_event: jax.Array
    y_event: jax.Array
    result: jax.Array
    stats: dict
    count: jax.Array
    ts: jax.Array
    hs: jax.Array
    orders: jax.Array
    ds: jax.Array
    t0: jax.Array
    y0: jax.Array

    def evaluate(self, t) -> jax.Array:
        """The dense BDF interpolant at the scalar time ``t`` in ``[t0, self.t]``; ``(n,)``.

        Returns ``y0`` for ``t <= t0``. The step that contains ``t`` is found by
        ``searchsorted`` over the stored end times. jit- and vmap-able over ``t``; for a
        batched solution, ``jax.vmap`` over the solution too.
        """
        t = jnp.asarray(t, self.ts.dtype)
        m = self.ts.shape[0]
        ends = jnp.where(jnp.arange(m) < self.count, self.ts, jnp.inf)
        i = jnp.clip(jnp.searchsorted(ends, t, side="left"), 0, jnp.maximum(self.count - 1, 0))
        value = _interpolate(t, self.ts[i], self.hs[i], self.orders[i], self.ds[i])
        return jnp.where((t <= self.t0) | (self.count == 0), self.y0, value)


# --------------------------------------------------------------------------------------------
# The batched core. Every array below has a leading lane axis B.


def _rms(x):
    return jnp.sqrt(jnp.mean(jnp.square(x), axis=-1))


def _change_matrix(order, factor):
    """SciPy's ``compute_R`` for each lane, padded to ``(B, 6, 6)`` with zeros beyond ``order``.

    ``R[0, j] = 1``, ``R[i, 0] = 0`` and ``R[i, j] = R[i-1, j] (i - 1 - factor j) / i``.
    """
    dtype = factor.dtype
    j = jnp.arange(_N_DENSE, dtype=dtype)
    row = jnp.ones((factor.shape[0], _N_DENSE), dtype)
    rows = [row]
    for i in range(1, _N_DENSE):
        row = row * jnp.where(j == 0, 0.0, (i - 1 - factor[:, None] * j) / i)
        rows.append(row)
    r = jnp.stack(rows, axis=1)
    k = jnp.arange(_N_DENSE)
    inside = (k[:, None] <= order[:, None, None]) & (k[None, :] <= order[:, None, None])
    return jnp.where(inside, r, 0.0)


def _u_table():
    """``compute_R(k, 1)`` for ``k = 0 … 5``, padded with zeros: ``(6, 6, 6)``."""
    table = np.zeros((_N_DENSE, _N_DENSE, _N_DENSE))
    for k in range(_N_DENSE):
        m = np.zeros((k + 1, k + 1))
        i = np.arange(1, k + 1)[:, None]
        m[1:, 1:] = (i - 1 - np.arange(1, k + 1)) / i
        m[0] = 1
        table[k, : k + 1, : k + 1] = np.cumprod(m, axis=0)
    return table


_U_TABLE = _u_table()


def _change_d(d, order, factor):
    """Re-interpolate the differences ``d`` (B, 8, n) for a step size ``h ← factor · h``."""
    r = _change_matrix(order, factor)
    u = jnp.asarray(_U_TABLE, factor.dtype)[order]
    ru = jnp.sum(r[:, :, :, None] * u[:, None, :, :], axis=2)  # (R U)[i, k]
    new = jnp.sum(ru[:, :, :, None] * d[:, :_N_DENSE, None, :], axis=1)  # Σ_i (RU)[i, k] D[i]
    rows = jnp.arange(_N_DENSE)[None, :, None]
    head = jnp.where(rows <= order[:, None, None], new, d[:, :_N_DENSE])
    return jnp.concatenate([head, d[:, _N_DENSE:]], axis=1)


def _lane_where(mask, new, old):
    """``where`` with a (B,) mask broadcast over the trailing axes of ``new``/``old``."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (new.ndim - 1)), new, old)


# --------------------------------------------------------------------------------------------
# The solver state, carried through the jitted ``lax.while_loop`` of :func:`_bdf_batched`.


class _Problem(NamedTuple):
    """What every stage reads and none changes, for ``B`` lanes of ``n`` unknowns.

    ``fun(t, y, args) -> (B, n)``, ``jac(t, y, args) -> (B, n, n)`` and ``event(t, y, args) ->
    (B,)`` (or None) take ``t``: ``(B,)``, ``y``: ``(B, n)`` and the lane pytree ``args``; they
    are the per-lane callables under ``jax.vmap``, their results in the working dtype.
    ``t0``, ``t1`` (the end unless an event moves it), ``rtol``, ``atol``: ``(B,)``.
    ``event_stride``: static int, the event is checked once this many accepted steps are
    pending; ``event_continue``: static, ``None`` (the event is terminal) or the factor ``r``
    of the end ``t0 + r (t_event - t0)`` that a fired lane continues to.
    """

    fun: Callable
    jac: Callable
    event: Callable | None
    args: Any
    t0: jax.Array
    t1: jax.Array
    rtol: jax.Array
    atol: jax.Array
    event_stride: int = 1
    event_continue: float | None = None


class _Position(NamedTuple):
    """Where each lane stands: ``t``, ``h`` (the next step size): ``(B,)``; ``d``: ``(B, 8, n)``
    the differences of orders ``0 … order + 2`` at spacing ``h`` (``d[:, 0]`` is ``y(t)``);
    ``order``: ``(B,)`` int32 in ``1 … 5``; ``n_equal``: ``(B,)`` int32, the steps taken at
    this ``h`` and order."""

    t: jax.Array
    h: jax.Array
    d: jax.Array
    order: jax.Array
    n_equal: jax.Array


class _Linear(NamedTuple):
    """The Newton matrix of each lane: ``jac``: ``(B, n, n)``; ``lu``, ``piv``: ``(B, n, n)``,
    ``(B, n)`` int32, the LU of ``I - c jac``, meaningful where ``lu_valid`` (``(B,)`` bool;
    cleared whenever ``c`` or ``jac`` changes); ``jac_current``: ``(B,)`` bool, ``jac`` was
    re-evaluated after the last accepted step (false at the start), so a Newton failure halves
    the step instead; ``crate``: ``(B,)`` the Newton convergence-rate estimate, carried from
    step to step, reset to 1 with each new ``jac`` and scaled up with ``c``; ``c_lu``:
    ``(B,)`` the ``c`` of the current LU; ``jac_due``: ``(B,)`` bool, ``jac`` is to be
    evaluated at ``(jac_t, jac_y)`` (``(B,)``, ``(B, n)``) before the next factorisation.

    A requested Jacobian is evaluated at the start of the next attempt
    (:func:`_evaluate_jacobian`), the one place in the program where ``jac`` is called: the
    Jacobian is the costliest function to compile, and one call site compiles it once.
    """

    jac: jax.Array
    lu: jax.Array
    piv: jax.Array
    lu_valid: jax.Array
    jac_current: jax.Array
    crate: jax.Array
    c_lu: jax.Array
    jac_due: jax.Array
    jac_t: jax.Array
    jac_y: jax.Array


class _Dense(NamedTuple):
    """The dense-output buffers, the fields of :class:`BDFSolution` of the same names:
    ``count``: ``(B,)`` int32; ``ts``, ``hs``: ``(B, max_steps)``; ``orders``: ``(B,
    max_steps)`` int32; ``ds``: ``(B, max_steps, 6, n)``. Entries beyond ``count`` are padding."""

    count: jax.Array
    ts: jax.Array
    hs: jax.Array
    orders: jax.Array
    ds: jax.Array


class _Stats(NamedTuple):
    """The counters of ``BDFSolution.stats``, each ``(B,)`` int32."""

    num_steps: jax.Array
    num_accepted: jax.Array
    num_rejected: jax.Array
    num_fev: jax.Array
    num_jev: jax.Array
    num_lu: jax.Array


class _NewtonResult(NamedTuple):
    """The outcome of :func:`_newton`: the iterate ``y`` and the correction ``dsum = y -
    y_pred`` (``(B, n)``); ``converged``: ``(B,)`` bool; ``n_iter``, ``nfev``: ``(B,)`` int32,
    the iterations and calls of ``fun`` per lane."""

    y: jax.Array
    dsum: jax.Array
    converged: jax.Array
    n_iter: jax.Array
    nfev: jax.Array


class _State(NamedTuple):
    """The loop carry. ``t1``: ``(B,)`` the end (moved by a continued event); ``done``,
    ``fired``: ``(B,)`` bool (a lane that is done stops changing); ``result``: ``(B,)`` int32
    result code; ``t_ev``, ``y_ev``: ``(B,)``, ``(B, n)`` the event (meaningful where
    ``fired``); ``checked``: ``(B,)`` int32, the stored steps known to end with the event
    ``> 0``."""

    pos: _Position
    linear: _Linear
    dense: _Dense
    stats: _Stats
    t1: jax.Array
    done: jax.Array
    result: jax.Array
    fired: jax.Array
    t_ev: jax.Array
    y_ev: jax.Array
    checked: jax.Array


# --------------------------------------------------------------------------------------------
# The initial state and the stages of a step (:func:`_step`). Every array has the lane axis B.


def _error_scale(prob: _Problem, y):
    """``atol + rtol |y|``, ``(B, n)`` for ``y``: ``(B, n)``: the scale of every RMS norm."""
    return prob.atol[:, None] + prob.rtol[:, None] * jnp.abs(y)


def _initial_state(prob: _Problem, y0, first_step, max_steps: int) -> _State:
    """The state at ``prob.t0`` and ``y0`` (``(B, n)``): order 1, ``D = (y0, h f0)``, the
    Jacobian at ``t0`` due (no LU yet). ``first_step``: ``(B,)`` or None for Hairer, Nørsett &
    Wanner's selection (Sec. II.4, for order 1, as SciPy's ``select_initial_step``); lanes
    with ``t1 <= t0``, or whose event is ``<= 0`` at ``t0``, start done."""
    n_lanes, n = y0.shape
    dtype = y0.dtype
    t0 = prob.t0
    f0 = prob.fun(t0, y0, prob.args)
    interval = prob.t1 - t0
    live = interval > 0
    one = jnp.ones((n_lanes,), jnp.int32)
    if first_step is None:
        scale = _error_scale(prob, y0)
        d0, d1 = _rms(y0 / scale), _rms(f0 / scale)
        h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
        h0 = jnp.where(live, jnp.minimum(h0, interval), 1.0)
        f1 = prob.fun(t0 + h0, y0 + h0[:, None] * f0, prob.args)
        d2 = _rms((f1 - f0) / scale) / h0
        h1 = jnp.where(
            (d1 <= 1e-15) & (d2 <= 1e-15), jnp.maximum(1e-6, h0 * 1e-3), jnp.sqrt(0.01 / jnp.maximum(d1, d2))
        )
        h = jnp.minimum(jnp.minimum(100 * h0, h1), interval)
        nfev = 2 * one
    else:
        h = jnp.minimum(jnp.broadcast_to(jnp.asarray(first_step, dtype), (n_lanes,)), interval)
        nfev = one
    h = jnp.where(live, h, 1.0)
    d = jnp.zeros((n_lanes, _N_ROWS, n), dtype).at[:, 0].set(y0).at[:, 1].set(f0 * h[:, None])
    fired = jnp.zeros((n_lanes,), bool)
    if prob.event is not None:
        fired = live & (prob.event(t0, y0, prob.args) <= 0)
    # A lane whose event holds at t0 is done, terminal or continued (to t0 + r · 0).
    t1 = prob.t1 if prob.event_continue is None else jnp.where(fired, t0, prob.t1)
    zeros_i = jnp.zeros((n_lanes,), jnp.int32)
    return _State(
        pos=_Position(t=t0, h=h, d=d, order=one, n_equal=zeros_i),
        linear=_Linear(
            jac=jnp.zeros((n_lanes, n, n), dtype),
            lu=jnp.zeros((n_lanes, n, n), dtype),
            piv=jnp.zeros((n_lanes, n), jnp.int32),
            lu_valid=jnp.zeros((n_lanes,), bool),
            jac_current=jnp.zeros((n_lanes,), bool),
            crate=jnp.ones((n_lanes,), dtype),
            c_lu=jnp.ones((n_lanes,), dtype),
            jac_due=jnp.ones((n_lanes,), bool),
            jac_t=t0,
            jac_y=y0,
        ),
        dense=_Dense(
            count=zeros_i,
            ts=jnp.full((n_lanes, max_steps), jnp.inf, dtype),
            hs=jnp.zeros((n_lanes, max_steps), dtype),
            orders=jnp.zeros((n_lanes, max_steps), jnp.int32),
            ds=jnp.zeros((n_lanes, max_steps, _N_DENSE, n), dtype),
        ),
        stats=_Stats(
            num_steps=zeros_i,
            num_accepted=zeros_i,
            num_rejected=zeros_i,
            num_fev=nfev,
            num_jev=zeros_i,
            num_lu=zeros_i,
        ),
        t1=t1,
        done=~live | fired,
        result=jnp.where(fired & (prob.event_continue is None), EVENT, SUCCESS).astype(jnp.int32),
        fired=fired,
        t_ev=t0,
        y_ev=y0,
        checked=zeros_i,
    )


def _clip_to_end(pos: _Position, t1, attempt):
    """Shorten the step of the ``attempt`` lanes (``(B,)`` bool) that would pass ``t1``.

    Returns ``(pos, t_new, clip)``: ``pos`` with ``h = t1 - t``, ``D`` re-interpolated to it
    and ``n_equal = 0`` on the clipped lanes; ``t_new``: ``(B,)`` the end of the step
    (exactly ``t1`` where clipped); ``clip``: ``(B,)`` bool.
    """
    clip = attempt & (pos.t + pos.h > t1)
    h = jnp.where(clip, t1 - pos.t, pos.h)
    d = _lane_where(clip, _change_d(pos.d, pos.order, h / pos.h), pos.d)
    t_new = jnp.where(clip, t1, pos.t + h)
    return pos._replace(h=h, d=d, n_equal=jnp.where(clip, 0, pos.n_equal)), t_new, clip


def _refactor(linear: _Linear, c, need) -> _Linear:
    """The LU of ``I - c J`` (``c``: ``(B,)``) for the lanes that ``need`` it (``(B,)`` bool).

    Behind one ``lax.cond`` on ``any(need)``; the other lanes keep their LU. The refactored
    lanes become ``lu_valid``; their rate estimate is multiplied by ``c / c_lu`` where that
    exceeds 1 (the contraction of the simplified Newton iteration grows at most like ``c``)
    and kept otherwise, at most 1.
    """

    def refactor(ops):
        lu, piv = ops
        eye = jnp.eye(linear.jac.shape[-1], dtype=linear.jac.dtype)
        lu_new, piv_new = jax.vmap(jax.scipy.linalg.lu_factor)(eye - c[:, None, None] * linear.jac)
        return _lane_where(need, lu_new, lu), _lane_where(need, piv_new, piv)

    lu, piv = lax.cond(jnp.any(need), refactor, lambda ops: ops, (linear.lu, linear.piv))
    crate = jnp.where(need, jnp.minimum(1.0, linear.crate * jnp.maximum(1.0, c / linear.c_lu)), linear.crate)
    c_lu = jnp.where(need, c, linear.c_lu)
    return linear._replace(lu=lu, piv=piv, lu_valid=linear.lu_valid | need, crate=crate, c_lu=c_lu)


def _request_jacobian(linear: _Linear, need, t, y) -> _Linear:
    """Ask for the Jacobian at ``(t, y)`` (``(B,)``, ``(B, n)``) for the lanes that ``need`` it
    (``(B,)`` bool); :func:`_evaluate_jacobian` computes it before their next attempt.

    Those lanes become ``jac_current``, lose their LU (``lu_valid`` cleared), so that the next
    attempt refactors, and restart their rate estimate at 1.
    """
    return linear._replace(
        jac_current=linear.jac_current | need,
        lu_valid=linear.lu_valid & ~need,
        crate=jnp.where(need, 1.0, linear.crate),
        jac_due=linear.jac_due | need,
        jac_t=jnp.where(need, t, linear.jac_t),
        jac_y=_lane_where(need, y, linear.jac_y),
    )


def _evaluate_jacobian(prob: _Problem, linear: _Linear, attempt) -> tuple[_Linear, jax.Array]:
    """The due Jacobians of the ``attempt`` lanes (``(B,)`` bool), behind one ``lax.cond``.

    Returns ``(linear, evaluated)``: ``jac`` replaced and ``jac_due`` cleared on those lanes,
    and ``evaluated``: ``(B,)`` bool, the lanes whose Jacobian was evaluated.
    """
    evaluated = attempt & linear.jac_due

    def evaluate(jac):
        return _lane_where(evaluated, prob.jac(linear.jac_t, linear.jac_y, prob.args), jac)

    jac = lax.cond(jnp.any(evaluated), evaluate, lambda jac: jac, linear.jac)
    return linear._replace(jac=jac, jac_due=linear.jac_due & ~evaluated), evaluated


def _predict(d, order):
    """The predictor and the constant part of the corrector equation.

    ``d``: ``(B, 8, n)`` the differences at the step's spacing; ``order``: ``(B,)`` int32.
    Returns ``(y_pred, psi)``, each ``(B, n)``: ``y_pred = Σ_{j ≤ k} D_j`` and ``psi = Σ_{1
    ≤ j ≤ k} γ_j D_j / α_k``, so that the corrector solves ``d - c f(t_new, y_pred + d) + psi
    = 0`` for the correction ``d``.
    """
    rows = jnp.arange(_N_ROWS)
    upto = (rows[None, :] <= order[:, None])[:, :, None]
    y_pred = jnp.sum(jnp.where(upto, d, 0.0), axis=1)
    gamma = jnp.asarray(_GAMMA_ROWS, d.dtype)
    weights = jnp.where((rows[None, :] >= 1) & (rows[None, :] <= order[:, None]), gamma[None, :], 0.0)
    psi = jnp.sum(d * weights[:, :, None], axis=1) / jnp.asarray(_ALPHA, d.dtype)[order][:, None]
    return y_pred, psi


def _newton(prob: _Problem, linear: _Linear, t_new, y_pred, psi, c, scale, attempt, order):
    """Simplified Newton for ``y = y_pred + d`` with ``d - c f(t_new, y) + psi = 0``.

    At most ``NEWTON_MAXITER`` iterations with ``linear``'s LU, on the ``attempt`` lanes
    (``(B,)`` bool). CVODE's test (module docstring): a lane converges when ``‖Δ‖ min(1,
    ρ) ≤ NEWTON_COEF / C_k``, RMS norm of ``Δ / scale`` (``scale``: ``(B, n)``); it fails on a
    rate ``> 2`` or a non-finite ``f`` or ``Δ``. ``t_new``, ``c``: ``(B,)``; ``y_pred``,
    ``psi``: ``(B, n)``; ``order``: ``(B,)`` int32.

    Returns ``(_NewtonResult, linear)``, ``linear`` with the updated ``crate``.
    """
    n_lanes = y_pred.shape[0]
    tol = NEWTON_COEF / jnp.asarray(_ERROR_CONST, y_pred.dtype)[order]
    solve = jax.vmap(lambda lu, piv, b: jax.scipy.linalg.lu_solve((lu, piv), b))

    def cond(carry):
        k, _, _, _, _, active, _, _, _ = carry
        return (k < NEWTON_MAXITER) & jnp.any(active)

    def body(carry):
        k, y, dsum, norm_old, crate, active, converged, n_iter, nfev = carry
        f = prob.fun(t_new, y, prob.args)
        nfev = nfev + active.astype(jnp.int32)
        dy = solve(linear.lu, linear.piv, c[:, None] * f - psi - dsum)
        dy_norm = _rms(dy / scale)
        # The rate estimate carries over from earlier steps (CVODE); the first correction
        # of a step can pass when the carried rate says the iteration contracts fast.
        rate = dy_norm / norm_old
        has_rate = k > 0
        crate = jnp.where(active & has_rate, jnp.maximum(0.3 * crate, rate), crate)
        diverging = has_rate & (rate > 2)
        bad = ~jnp.all(jnp.isfinite(f), axis=-1) | ~jnp.isfinite(dy_norm) | diverging
        step = active & ~bad
        y = _lane_where(step, y + dy, y)
        dsum = _lane_where(step, dsum + dy, dsum)
        conv = step & (dy_norm * jnp.minimum(1.0, crate) <= tol)
        n_iter = jnp.where(active, k + 1, n_iter)
        norm_old = jnp.where(step, dy_norm, norm_old)
        return (k + 1, y, dsum, norm_old, crate, active & step & ~conv, converged | conv, n_iter, nfev)

    zeros_i = jnp.zeros((n_lanes,), jnp.int32)
    init = (
        jnp.int32(0),
        y_pred,
        jnp.zeros_like(y_pred),
        jnp.ones((n_lanes,), y_pred.dtype),
        linear.crate,
        attempt,
        jnp.zeros((n_lanes,), bool),
        zeros_i,
        zeros_i,
    )
    _, y, dsum, _, crate, _, converged, n_iter, nfev = lax.while_loop(cond, body, init)
    return _NewtonResult(y, dsum, converged, n_iter, nfev), linear._replace(crate=crate)


def _advance_differences(d, dsum, order):
    """The differences after an accepted step: ``(B, 8, n)`` from ``d`` (``(B, 8, n)``, before
    the step) and the Newton correction ``dsum`` (``(B, n)``); ``order``: ``(B,)`` int32.

    ``D_{k+2} ← dsum - D_{k+1}``, ``D_{k+1} ← dsum``, then ``D_j ← D_j + D_{j+1}`` for ``j = k
    … 0`` (``∇^{j+1} y_n = ∇^j y_n - ∇^j y_{n-1}``); ``[:, 0]`` is the new ``y``. Rows beyond
    ``k + 2`` are left as they were.
    """
    rows = jnp.arange(_N_ROWS)
    d_next = jnp.take_along_axis(d, (order + 1)[:, None, None], axis=1)[:, 0]
    d_acc = jnp.where((rows == order[:, None] + 2)[:, :, None], (dsum - d_next)[:, None], d)
    d_acc = jnp.where((rows == order[:, None] + 1)[:, :, None], dsum[:, None], d_acc)
    for i in reversed(range(_N_DENSE)):
        d_acc = d_acc.at[:, i].set(
            jnp.where((i <= order)[:, None], d_acc[:, i] + d_acc[:, i + 1], d_acc[:, i])
        )
    return d_acc


def _select_order(d_acc, order, error_norm, scale, safety):
    """The order among ``k - 1, k, k + 1`` that allows the largest step, and that step factor.

    ``d_acc``: ``(B, 8, n)`` the differences after the accepted step; ``order``: ``(B,)``
    int32; ``error_norm``: ``(B,)`` the error estimate at order ``k``; ``scale``: ``(B, n)``
    ``atol + rtol |y_new|``; ``safety``: ``(B,)``. Returns ``(new_order, factor)``, ``(B,)``
    int32 and ``(B,)`` in ``[MIN_FACTOR, MAX_FACTOR]``.
    """
    error_const = jnp.asarray(_ERROR_CONST, d_acc.dtype)
    d_at = lambda k: jnp.take_along_axis(d_acc, k[:, None, None], axis=1)[:, 0]  # noqa: E731
    err_m = jnp.where(
        order > 1,
        _rms(error_const[order - 1][:, None] * d_at(jnp.maximum(order, 1)) / scale),
        jnp.inf,
    )
    err_p = jnp.where(
        order < MAX_ORDER,
        _rms(error_const[jnp.minimum(order + 1, MAX_ORDER)][:, None] * d_at(order + 2) / scale),
        jnp.inf,
    )
    norms = jnp.stack([err_m, error_norm, err_p], axis=-1)
    expo = -1.0 / (order[:, None] + jnp.arange(3)).astype(d_acc.dtype)
    factors = norms**expo
    new_order = order + jnp.argmax(factors, axis=-1).astype(jnp.int32) - 1
    return new_order, jnp.clip(safety * jnp.max(factors, axis=-1), MIN_FACTOR, MAX_FACTOR)


def _control(prob: _Problem, pos: _Position, t_new, d_acc, newton: _NewtonResult, halve):
    """The error test and the step size and order for the next attempt.

    ``pos``: this attempt (``h`` already clipped to ``t1``); ``t_new``: ``(B,)`` its end;
    ``d_acc``: ``(B, 8, n)`` the differences were it accepted; ``newton``: the corrector's
    outcome; ``halve``: ``(B,)`` bool, Newton failed with a current Jacobian. The local error
    is ``C_k dsum`` in the RMS norm relative to ``atol + rtol |y|``; a converged step passes
    when it is ``≤ 1``.

    Returns ``(pos, accept, reject, select)`` (each mask ``(B,)`` bool): an accepted lane
    moves to ``t_new`` with ``d_acc``; a rejected one (error test failed, or ``halve``) stays
    with ``h`` shrunk; after ``order + 1`` accepted steps at one ``h`` a lane ``select``-s
    order and step (:func:`_select_order`). ``D`` is re-interpolated once for either change.
    Lanes neither accepted nor rejected (Newton failed with a stale Jacobian, or not
    attempting) keep ``pos``.
    """
    order = pos.order
    dtype = d_acc.dtype
    scale = _error_scale(prob, newton.y)
    error_norm = _rms(jnp.asarray(_ERROR_CONST, dtype)[order][:, None] * newton.dsum / scale)
    accept = newton.converged & (error_norm <= 1)
    safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + newton.n_iter.astype(dtype))
    factor_err = jnp.maximum(MIN_FACTOR, safety * error_norm ** (-1.0 / (order + 1)))
    factor_err = jnp.where(jnp.isfinite(factor_err), factor_err, MIN_FACTOR)
    reject = halve | (newton.converged & ~accept)
    factor = jnp.where(halve, 0.5, factor_err)

    n_equal_acc = pos.n_equal + 1
    select = accept & (n_equal_acc >= order + 1)
    new_order, factor_sel = _select_order(d_acc, order, error_norm, scale, safety)
    order_out = jnp.where(select, new_order, order)
    factor_out = jnp.where(select, factor_sel, factor)
    rescale = select | reject
    d_base = _lane_where(accept, d_acc, pos.d)
    new = _Position(
        t=jnp.where(accept, t_new, pos.t),
        h=jnp.where(rescale, pos.h * factor_out, pos.h),
        d=_lane_where(rescale, _change_d(d_base, order_out, factor_out), d_base),
        order=order_out,
        n_equal=jnp.where(accept & ~select, n_equal_acc, jnp.where(accept | reject, 0, pos.n_equal)),
    )
    return new, accept, reject, select


def _store_dense(dense: _Dense, accept, t_new, h, order, d_acc):
    """Append the accepted steps (``accept``: ``(B,)`` bool) to the dense buffers.

    ``t_new``, ``h``: ``(B,)`` the step's end and size; ``order``: ``(B,)`` int32; ``d_acc``:
    ``(B, 8, n)`` the differences after it, of which the rows that the interpolant uses are
    stored (zero beyond ``order``). Returns the new buffers. A lane whose buffer is full drops
    the step.
    """
    d6 = jnp.where((jnp.arange(_N_DENSE)[None, :] <= order[:, None])[:, :, None], d_acc[:, :_N_DENSE], 0.0)
    idx = jnp.where(accept, dense.count, dense.ts.shape[1])  # out of range: dropped
    store = jax.vmap(lambda buf, i, v: buf.at[i].set(v, mode="drop"))
    return _Dense(
        count=dense.count + accept,
        ts=store(dense.ts, idx, t_new),
        hs=store(dense.hs, idx, h),
        orders=store(dense.orders, idx, order),
        ds=store(dense.ds, idx, d6),
    )


def _find_root(prob: _Problem, t_old, t_new, h, order, d6, g_new, fired):
    """The event time in the step ``[t_old, t_new]`` of the ``fired`` lanes, and the state there.

    Illinois regula falsi with a bisection fallback on the step's interpolant (``h``,
    ``order``, ``d6``: ``(B,)``, ``(B,)`` int32, ``(B, 6, n)``), to ``64 ulp(t_new)``;
    ``g_new``: ``(B,)`` the event at ``t_new`` (``<= 0``). Returns ``(B,)`` and ``(B, n)``
    (meaningless on the other lanes).
    """
    n_lanes = t_new.shape[0]
    tol = 64 * jnp.finfo(t_new.dtype).eps * jnp.maximum(jnp.abs(t_new), 1.0)

    def g(t):
        return prob.event(t, _interpolate(t, t_new, h, order, d6), prob.args)

    g_old = g(t_old)
    # g_old > 0 up to roundoff; if not, the root is t_old itself.
    at_old = g_old <= 0
    lo = t_old
    hi = jnp.where(at_old, t_old, t_new)

    def cond(carry):
        it, _, _, _, _, _, _, active = carry
        return (it < _ROOT_MAXITER) & jnp.any(active)

    def body(carry):
        it, a, b, ga, gb, side, width_old, active = carry
        width = b - a
        secant = (a * gb - b * ga) / (gb - ga)
        bisect = (width > 0.5 * width_old) | ~jnp.isfinite(secant)
        tm = jnp.where(bisect, 0.5 * (a + b), secant)
        tm = jnp.clip(tm, a + 0.25 * tol, b - 0.25 * tol)
        gm = g(tm)
        left = gm > 0  # the root is right of tm
        new_a = jnp.where(left, tm, a)
        new_b = jnp.where(left, b, tm)
        new_ga = jnp.where(left, gm, jnp.where(side == 1, 0.5 * ga, ga))
        new_gb = jnp.where(left, jnp.where(side == -1, 0.5 * gb, gb), gm)
        new_side = jnp.where(left, -1, 1)
        keep = ~active
        a, b = jnp.where(keep, a, new_a), jnp.where(keep, b, new_b)
        ga, gb = jnp.where(keep, ga, new_ga), jnp.where(keep, gb, new_gb)
        side = jnp.where(keep, side, new_side)
        width_old = jnp.where(keep, width_old, width)
        return it + 1, a, b, ga, gb, side, width_old, active & (b - a > tol)

    init = (
        jnp.int32(0),
        lo,
        hi,
        g_old,
        g_new,
        jnp.zeros((n_lanes,), jnp.int32),
        jnp.full((n_lanes,), jnp.inf, t_new.dtype),
        fired & ~at_old & (hi - lo > tol),
    )
    _, _, root, _, _, _, _, _ = lax.while_loop(cond, body, init)
    return root, _interpolate(root, t_new, h, order, d6)


def _locate_event(prob: _Problem, s: _State, dense: _Dense, ending):
    """The event on the stored steps not yet checked, for the lanes not yet fired.

    A lane checks once ``prob.event_stride`` accepted steps are pending, or when it ends
    (``ending``: ``(B,)`` bool): the event at the end of its last stored step, behind one
    ``lax.cond``. Where that is ``<= 0``, bisection over the pending steps' ends finds the
    first step that ends with it ``<= 0`` (none with a stride of 1), and :func:`_find_root`
    the root in that step's interpolant. ``dense``: the buffers after this step. Returns
    ``(fired, t_ev, y_ev, checked)``: ``(B,)`` bool, the event fired now; ``s.t_ev``,
    ``s.y_ev`` with the root and the state there on those lanes; the new ``checked``.
    Without an event, nothing fires.
    """
    if prob.event is None:
        return jnp.zeros_like(ending), s.t_ev, s.y_ev, s.checked
    pending = dense.count - s.checked
    check = ~s.fired & (pending > 0) & ((pending >= prob.event_stride) | ending)
    at = jax.vmap(lambda buf, i: buf[jnp.maximum(i, 0)])  # stored step i of each lane

    def g_end(i):
        return prob.event(at(dense.ts, i), at(dense.ds, i)[:, 0], prob.args)

    def locate(ops):
        t_ev, y_ev = ops
        last = dense.count - 1
        g_last = g_end(last)
        fired = check & (g_last <= 0)

        def split(carry):  # (lo, hi]: lo ends with the event > 0 (-1: t0), hi with <= 0
            lo, hi, g_hi = carry
            mid = (lo + hi) // 2
            g_mid = g_end(mid)
            live = fired & (hi - lo > 1)
            left = live & (g_mid <= 0)
            return jnp.where(live & ~left, mid, lo), jnp.where(left, mid, hi), jnp.where(left, g_mid, g_hi)

        init = (s.checked - 1, last, g_last)
        _, j, g_j = lax.while_loop(lambda c: jnp.any(fired & (c[1] - c[0] > 1)), split, init)
        t_old = jnp.where(j > 0, at(dense.ts, j - 1), prob.t0)
        step = (at(dense.ts, j), at(dense.hs, j), at(dense.orders, j), at(dense.ds, j))
        root, y_root = _find_root(prob, t_old, *step, g_j, fired)
        return fired, jnp.where(fired, root, t_ev), _lane_where(fired, y_root, y_ev)

    def skip(ops):
        return (jnp.zeros_like(check), *ops)

    fired, t_ev, y_ev = lax.cond(jnp.any(check), locate, skip, (s.t_ev, s.y_ev))
    return fired, t_ev, y_ev, jnp.where(check, dense.count, s.checked)


def _step(prob: _Problem, s: _State) -> _State:
    """One attempted step on every lane that is not done; done lanes do not change.

    A step: stop on a step below ``10 ulp(t)``; clip it to ``t1``; evaluate a due Jacobian;
    refactor where ``c = h / α_k`` or ``J`` changed; predict and correct (Newton); the error
    test, the next ``h`` and order; where Newton failed with a stale Jacobian, ask for a new
    one and retry at the same ``h`` (neither accepted nor rejected), and where it converged
    slowly with one, ask for one at the new point; then the dense output and the event. A lane
    ends on ``t1``, its event, a too small step (``FAILURE``) or ``max_steps`` attempts.
    ``s``: the loop carry; returns the next one, of the same shapes (see :class:`_State`).
    """
    pos, linear = s.pos, s.linear
    run = ~s.done
    t, order = pos.t, pos.order
    min_step = 10 * (jnp.nextafter(t, jnp.full_like(t, jnp.inf)) - t)
    too_small = run & ~(pos.h >= min_step)  # NaN h too
    attempt = run & ~too_small
    pos, t_new, clip = _clip_to_end(pos, s.t1, attempt)
    linear = linear._replace(lu_valid=linear.lu_valid & ~clip)
    linear, jac_evaluated = _evaluate_jacobian(prob, linear, attempt)

    c = pos.h / jnp.asarray(_ALPHA, pos.h.dtype)[order]
    need_lu = attempt & ~linear.lu_valid
    linear = _refactor(linear, c, need_lu)
    y_pred, psi = _predict(pos.d, order)
    scale = _error_scale(prob, y_pred)
    newton, linear = _newton(prob, linear, t_new, y_pred, psi, c, scale, attempt, order)
    newton_fail = attempt & ~newton.converged
    halve = newton_fail & linear.jac_current

    d_acc = _advance_differences(pos.d, newton.dsum, order)
    new, accept, reject, select = _control(prob, pos, t_new, d_acc, newton, halve)
    # A new Jacobian where Newton failed with a stale one (at the predictor; the step is
    # retried) or converged slowly with one (at the accepted point, for the next step).
    slow = accept & ~linear.jac_current & (newton.n_iter >= NEWTON_SLOW)
    need_jac = (newton_fail & ~linear.jac_current) | slow
    linear = linear._replace(
        lu_valid=linear.lu_valid & ~reject & ~select, jac_current=linear.jac_current & ~accept
    )
    linear = _request_jacobian(linear, need_jac, t_new, _lane_where(slow, newton.y, y_pred))
    dense = _store_dense(s.dense, accept, t_new, pos.h, order, d_acc)

    stats = s.stats
    num_steps = stats.num_steps + (accept | reject)
    out_of_steps = attempt & (num_steps >= dense.ts.shape[1])
    ending = too_small | (accept & (t_new >= s.t1)) | out_of_steps
    fired, t_ev, y_ev, checked = _locate_event(prob, s, dense, ending)
    t1, terminal = s.t1, fired
    if prob.event_continue is not None:  # a fired lane goes on to its new end instead
        t1 = jnp.where(fired, prob.t0 + prob.event_continue * (t_ev - prob.t0), t1)
        terminal = jnp.zeros_like(fired)
    reached = accept & (t_new >= t1)
    result = jnp.where(reached, SUCCESS, s.result)
    result = jnp.where(terminal, EVENT, result)
    result = jnp.where(too_small, FAILURE, result)
    finished = too_small | reached | terminal
    over = out_of_steps & ~finished
    result = jnp.where(over, MAX_STEPS, result)
    return _State(
        pos=new,
        linear=linear,
        dense=dense,
        stats=_Stats(
            num_steps=num_steps,
            num_accepted=stats.num_accepted + accept,
            num_rejected=stats.num_rejected + reject,
            num_fev=stats.num_fev + newton.nfev,
            num_jev=stats.num_jev + jac_evaluated,
            num_lu=stats.num_lu + need_lu,
        ),
        t1=t1,
        done=s.done | finished | over,
        result=result.astype(jnp.int32),
        fired=s.fired | fired,
        t_ev=t_ev,
        y_ev=y_ev,
        checked=checked,
    )


class _Config(NamedTuple):
    """The static options of a solve: ``max_steps``, the maximum number of attempted steps
    per lane and the length of the dense buffers; ``event_stride`` and ``event_continue``, as
    in :func:`bdf_solve`."""

    max_steps: int
    event_stride: int = 1
    event_continue: float | None = None


def _config(max_steps, event_stride, event_continue) -> _Config:
    """The checked :class:`_Config`; ``ValueError`` for a stride below 1 or a factor below 1."""
    if int(event_stride) < 1:
        raise ValueError(f"event_stride must be >= 1, got {event_stride}")
    if event_continue is not None and not float(event_continue) >= 1:
        raise ValueError(f"event_continue must be None or >= 1, got {event_continue}")
    return _Config(
        int(max_steps), int(event_stride), None if event_continue is None else float(event_continue)
    )


def _over_lanes(f, n_lanes: int):
    """``f(t, y, args)`` of one lane, called on all ``n_lanes`` lanes: ``jax.vmap`` over them,
    or for a single lane a plain call on lane 0 with the axis put back. A ``vmap`` of size 1
    compiles a batched program that XLA's CPU backend may run slower (the reduced sinusoidal
    gradient at ``T = 8193``: 245 ms batched against 199 ms plain, docs/model.md)."""
    if n_lanes > 1:
        return jax.vmap(f)

    def single(*lanes):
        out = f(*jax.tree.map(lambda x: x[0], lanes))
        return jax.tree.map(lambda x: x[None], out)

    return single


def _bdf_batched(
    fun, jac, event, t0, t1, y0, args, rtol, atol, config: _Config, first_step=None, shared=None
) -> BDFSolution:
    """Solve ``B`` independent problems at once; every input and output has a lane axis.

    Args:
        fun: ``fun(t, y, args) -> (n,)`` for one lane (``fun(t, y, args, shared)`` when
            ``shared`` is given); called through ``jax.vmap`` over lanes.
        jac: ``jac(t, y, args[, shared]) -> (n, n)``, or None for ``jax.jacfwd`` of ``fun``.
        event: ``event(t, y, args[, shared]) -> ()``, or None.
        t0, t1: ``(B,)`` start and end times, ``t1 > t0``.
        y0: ``(B, n)`` initial states; their dtype sets the working precision.
        args: pytree whose leaves have the leading lane axis ``B``.
        rtol, atol: ``(B,)`` tolerances.
        config: the static options.
        first_step: ``(B,)`` initial step sizes, or None for Hairer's selection.
        shared: pytree passed unbatched to every lane's ``fun``/``jac``/``event``, or None.

    Returns:
        A :class:`BDFSolution` whose fields have a leading axis ``B``.
    """
    if shared is not None:
        fun_l = lambda t, y, a: fun(t, y, a, shared)  # noqa: E731
        jac_l = None if jac is None else (lambda t, y, a: jac(t, y, a, shared))
        event_l = None if event is None else (lambda t, y, a: event(t, y, a, shared))
    else:
        fun_l, jac_l, event_l = fun, jac, event
    y0 = jnp.asarray(y0)
    dtype = y0.dtype
    n_lanes, n = y0.shape
    t0, t1, rtol, atol = (jnp.broadcast_to(jnp.asarray(x, dtype), (n_lanes,)) for x in (t0, t1, rtol, atol))

    def f_one(t, y, a):
        return jnp.asarray(fun_l(t, y, a), dtype).reshape(n)

    if jac_l is None:
        jac_one = jax.jacfwd(f_one, argnums=1)
    else:

        def jac_one(t, y, a):
            return jnp.asarray(jac_l(t, y, a), dtype).reshape(n, n)

    vevent = None
    if event_l is not None:
        vevent = _over_lanes(lambda t, y, a: jnp.asarray(event_l(t, y, a), dtype).reshape(()), n_lanes)
    prob = _Problem(
        fun=_over_lanes(f_one, n_lanes),
        jac=_over_lanes(jac_one, n_lanes),
        event=vevent,
        args=args,
        t0=t0,
        t1=t1,
        rtol=rtol,
        atol=atol,
        event_stride=config.event_stride,
        event_continue=config.event_continue,
    )
    state = _initial_state(prob, y0, first_step, config.max_steps)
    state = lax.while_loop(lambda s: jnp.any(~s.done), lambda s: _step(prob, s), state)
    dense = state.dense
    stopped = state.fired & (config.event_continue is None)  # at a terminal event
    return BDFSolution(
        t=jnp.where(stopped, state.t_ev, state.pos.t),
        y=_lane_where(stopped, state.y_ev, state.pos.d[:, 0]),
        event=state.fired,
        t_event=state.t_ev,
        y_event=state.y_ev,
        result=state.result,
        stats={k: v.astype(jnp.int32) for k, v in state.stats._asdict().items()},
        count=dense.count,
        ts=dense.ts,
        hs=dense.hs,
        orders=dense.orders,
        ds=dense.ds,
        t0=t0,
        y0=y0,
    )


# --------------------------------------------------------------------------------------------
# Public entry points and the vmap rules.


def _lane_fns(fun_c, jac_c, event_c, sizes, layout):
    """Per-lane ``fun``/``jac``/``event`` with signature ``(t, y, lane, shared)``.

    ``lane = (args, lane_consts)``; ``shared`` = the unbatched hoisted constants. ``layout[i]``
    says whether hoisted constant ``i`` is a lane input (True) or shared (False); ``sizes``
    are the numbers of constants of ``fun``, ``jac`` and ``event``.
    """
    nf, nj, _ = sizes

    def split(lane_consts, shared):
        lanes, shareds = iter(lane_consts), iter(shared)
        consts = [next(lanes) if is_lane else next(shareds) for is_lane in layout]
        return consts[:nf], consts[nf : nf + nj], consts[nf + nj :]

    def fun(t, y, lane, shared):
        args, lane_consts = lane
        return fun_c(t, y, args, *split(lane_consts, shared)[0])

    def jac(t, y, lane, shared):
        args, lane_consts = lane
        return jac_c(t, y, args, *split(lane_consts, shared)[1])

    def event(t, y, lane, shared):
        args, lane_consts = lane
        return event_c(t, y, args, *split(lane_consts, shared)[2])

    return fun, (None if jac_c is None else jac), (None if event_c is None else event)


def _make_batched(fun_c, jac_c, event_c, sizes, layout, config: _Config):
    """The core as a ``custom_vmap`` function of arrays; an outer vmap merges into the lanes."""
    fun, jac, event = _lane_fns(fun_c, jac_c, event_c, sizes, layout)

    @custom_vmap
    def solve(t0, t1, y0, lane, rtol, atol, first_step, shared):
        return _bdf_batched(
            fun, jac, event, t0, t1, y0, lane, rtol, atol, config, first_step=first_step, shared=shared
        )

    @solve.def_vmap
    def rule(axis_size, in_batched, t0, t1, y0, lane, rtol, atol, first_step, shared):
        n_lanes = y0.shape[-2]

        def lanes_of(x, batched):  # (A, B, ...) → (A·B, ...)
            x = x if batched else jnp.broadcast_to(x, (axis_size,) + x.shape)
            return x.reshape((axis_size * n_lanes,) + x.shape[2:])

        ins = (t0, t1, y0, lane, rtol, atol, first_step)
        merged = [jax.tree.map(lanes_of, x, b) for x, b in zip(ins, in_batched[:7])]
        # Shared constants that this vmap batches become lane constants.
        args, lane_consts = merged[3]
        shared_b = in_batched[7]
        lane_iter, shared_iter = iter(lane_consts), iter(zip(shared, shared_b))
        new_layout, new_lane, new_shared = [], [], []
        for is_lane in layout:
            if is_lane:
                new_layout.append(True)
                new_lane.append(next(lane_iter))
            else:
                value, batched = next(shared_iter)
                if batched:
                    value = jnp.broadcast_to(value[:, None], (axis_size, n_lanes) + value.shape[1:])
                    new_lane.append(value.reshape((axis_size * n_lanes,) + value.shape[2:]))
                else:
                    new_shared.append(value)
                new_layout.append(bool(batched))
        inner = _make_batched(fun_c, jac_c, event_c, sizes, tuple(new_layout), config)
        sol = inner(*merged[:3], (args, new_lane), *merged[4:], new_shared)
        sol = jax.tree.map(lambda x: x.reshape((axis_size, n_lanes) + x.shape[1:]), sol)
        return sol, jax.tree.map(lambda _: True, sol)

    return solve


def _hoist_tracers(f, *example):
    """Closure-convert ``f``: return ``(g, hoisted)`` with ``g(*example, *hoisted) == f(*example)``.

    ``hoisted`` are the tracers (of any dtype) that ``f`` closes over; concrete constants
    stay inside ``g``. Unlike ``jax.closure_convert``, which hoists only floating point
    tracers that might carry a tangent, this hoists every tracer, so that a closure over a
    batched value becomes an explicit (batched) input of the ``custom_vmap`` function.
    """
    closed, out_shape = jax.make_jaxpr(f, return_shape=True)(*example)
    consts = list(closed.consts)
    where = [i for i, c in enumerate(consts) if isinstance(c, jax.core.Tracer)]
    hoisted = [consts[i] for i in where]
    out_tree = jax.tree.structure(out_shape)
    in_tree = jax.tree.structure(example)

    def g(*args_and_hoisted):
        args, values = args_and_hoisted[: len(example)], args_and_hoisted[len(example) :]
        leaves, tree = jax.tree.flatten(tuple(args))
        if tree != in_tree:
            raise TypeError(f"expected inputs with structure {in_tree}, got {tree}")
        filled = list(consts)
        for i, v in zip(where, values):
            filled[i] = v
        out = jax.extend.core.jaxpr_as_fun(jax.extend.core.ClosedJaxpr(closed.jaxpr, filled))(*leaves)
        return jax.tree.unflatten(out_tree, out)

    return g, hoisted


def _prepare(fun, jac, event, t0, t1, y0, args, rtol, atol, first_step, lane_shape):
    """Cast the inputs to ``y0``'s dtype and hoist the traced constants of the callables."""
    y0 = jnp.asarray(y0)
    if not jnp.issubdtype(y0.dtype, jnp.inexact):
        y0 = y0.astype(jnp.result_type(float))
    dtype = y0.dtype
    t0, t1, rtol, atol = (jnp.asarray(x, dtype) for x in (t0, t1, rtol, atol))
    first_step = None if first_step is None else jnp.asarray(first_step, dtype)
    args = jax.tree.map(jnp.asarray, args)
    # Example inputs of one lane, for the closure conversion.
    one = lambda x: x[0] if lane_shape else x  # noqa: E731
    ex_t = t0[0] if t0.ndim else t0
    ex_y, ex_args = one(y0), jax.tree.map(one, args)
    converted = []
    for f in (fun, jac, event):
        if f is None:
            converted.append((None, []))
        else:
            converted.append(_hoist_tracers(f, ex_t, ex_y, ex_args))
    (fun_c, cf), (jac_c, cj), (event_c, ce) = converted
    sizes = (len(cf), len(cj), len(ce))
    consts = list(cf) + list(cj) + list(ce)
    return fun_c, jac_c, event_c, sizes, consts, (t0, t1, y0, args, rtol, atol, first_step)


def bdf_solve(
    fun: Callable,
    t0,
    t1,
    y0,
    args: Any,
    *,
    rtol,
    atol,
    max_steps: int,
    jac: Callable | None = None,
    event: Callable | None = None,
    event_stride: int = 1,
    event_continue: float | None = None,
    first_step=None,
) -> BDFSolution:
    """Integrate ``dy/dt = fun(t, y, args)`` from ``t0`` to ``t1 > t0`` with the NDF method.

    Args:
        fun: ``fun(t, y, args) -> (n,)``, a pure JAX function.
        t0, t1: scalar start and end times (may be traced); ``t1 > t0`` (forward only; a lane
            with ``t1 <= t0`` returns ``y0`` at ``t0`` with result 0 and no steps).
        y0: ``(n,)`` initial state; its dtype (float64 or float32) is the working precision.
        args: any pytree of arrays passed to ``fun``, ``jac`` and ``event``.
        rtol, atol: scalar relative and absolute tolerances (may be traced); the local error
            is kept below ``atol + rtol |y|`` in the RMS norm.
        max_steps: static int: the maximum number of attempted steps, and the length of the
            dense output buffers.
        jac: ``jac(t, y, args) -> (n, n)``, ``∂fun/∂y``; None for ``jax.jacfwd`` of ``fun``.
        event: ``event(t, y, args) -> ()``, or None. The integration ends at the first time
            the event function is ``<= 0`` (it is expected ``> 0`` at ``t0``; if not, the
            solver returns at ``t0`` with ``event=True``).
        event_stride: static int ``≥ 1``: the event is checked at the end of every
            ``event_stride``-th accepted step (and of the last) instead of every step. More
            than 1 only for an event that stays ``<= 0`` once it is: then the step where it
            turned is found by bisection over the stored steps and the root is the one a
            stride of 1 finds, for ``1/event_stride`` of the event evaluations. A terminal
            event then stops the solver up to ``event_stride - 1`` steps past it (the dense
            output covers them).
        event_continue: static, ``None`` (the event ends the solve) or a factor ``r ≥ 1``:
            the solve goes on past the event to ``t0 + r (t_event - t0)``, which replaces
            ``t1``, and the event is not checked again (``result`` 0 at that end; ``t_event``
            and ``y_event`` keep the event).
        first_step: scalar initial step size, or None for Hairer's selection.

    Returns:
        A :class:`BDFSolution` (no lane axis). Under ``jax.vmap`` the solver runs once on
        all lanes (a ``custom_vmap`` rule) and every field gains a leading axis; unbatched
        inputs are broadcast to the lanes. Not differentiable (reverse mode).

    ``num_fev`` counts the calls of ``fun`` per lane: one at ``t0``, one for the initial
    step selection, one per Newton iteration (``jax.jacfwd`` Jacobians are not counted).

    Traced values that the callables close over are hoisted into explicit inputs, so a
    closure over a ``vmap``-ed value works; inputs shared by all lanes stay unbatched.
    """
    fun_c, jac_c, event_c, sizes, consts, ins = _prepare(
        fun, jac, event, t0, t1, y0, args, rtol, atol, first_step, ()
    )
    t0, t1, y0, args, rtol, atol, first_step = ins
    config = _config(max_steps, event_stride, event_continue)
    n_consts = len(consts)

    @custom_vmap
    def single(t0, t1, y0, args, rtol, atol, first_step, consts):
        batched = _make_batched(fun_c, jac_c, event_c, sizes, (False,) * n_consts, config)
        add = lambda x: x[None]  # noqa: E731
        sol = batched(
            add(t0),
            add(t1),
            add(y0),
            (jax.tree.map(add, args), []),
            add(rtol),
            add(atol),
            None if first_step is None else add(first_step),
            consts,
        )
        return jax.tree.map(lambda x: x[0], sol)

    @single.def_vmap
    def rule(axis_size, in_batched, t0, t1, y0, args, rtol, atol, first_step, consts):
        def lanes_of(x, batched):
            return x if batched else jnp.broadcast_to(x, (axis_size,) + x.shape)

        ins = (t0, t1, y0, args, rtol, atol, first_step)
        t0, t1, y0, args, rtol, atol, first_step = (
            jax.tree.map(lanes_of, x, b) for x, b in zip(ins, in_batched[:7])
        )
        layout = tuple(bool(b) for b in in_batched[7])
        lane_consts = [c for c, b in zip(consts, layout) if b]
        shared = [c for c, b in zip(consts, layout) if not b]
        batched = _make_batched(fun_c, jac_c, event_c, sizes, layout, config)
        sol = batched(t0, t1, y0, (args, lane_consts), rtol, atol, first_step, shared)
        return sol, jax.tree.map(lambda _: True, sol)

    return single(t0, t1, y0, args, rtol, atol, first_step, consts)


def bdf_solve_batched(
    fun: Callable,
    t0,
    t1,
    y0,
    args: Any,
    *,
    rtol,
    atol,
    max_steps: int,
    jac: Callable | None = None,
    event: Callable | None = None,
    event_stride: int = 1,
    event_continue: float | None = None,
    first_step=None,
) -> BDFSolution:
    """Solve ``B`` problems at once: the batched form of :func:`bdf_solve`.

    ``y0`` is ``(B, n)``; ``t0``, ``t1``, ``rtol``, ``atol``, ``first_step`` are scalars or
    ``(B,)``; every leaf of ``args`` has the leading axis ``B``. ``fun``, ``jac`` and
    ``event`` are written for one lane, as in :func:`bdf_solve`. Equivalent to
    ``jax.vmap(bdf_solve)``; every field of the result has a leading axis ``B``.
    """
    y0 = jnp.asarray(y0)
    n_lanes = y0.shape[0]
    fun_c, jac_c, event_c, sizes, consts, ins = _prepare(
        fun, jac, event, t0, t1, y0, args, rtol, atol, first_step, (n_lanes,)
    )
    t0, t1, y0, args, rtol, atol, first_step = ins
    lanes = lambda x: None if x is None else jnp.broadcast_to(x, (n_lanes,))  # noqa: E731
    config = _config(max_steps, event_stride, event_continue)
    batched = _make_batched(fun_c, jac_c, event_c, sizes, (False,) * len(consts), config)
    return batched(lanes(t0), lanes(t1), y0, (args, []), lanes(rtol), lanes(atol), lanes(first_step), consts)
