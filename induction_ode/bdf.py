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
  ``I - c J``, ``c = h / α_k``. ``J`` is re-evaluated only when Newton fails with a stale
  ``J``; a failure with a current ``J`` halves the step. The LU is refactored whenever ``c``
  or ``J`` changes;
* the Newton convergence test of CVODE (Hindmarsh et al. 2005, ACM TOMS 31, 363-396, §2.1),
  not SciPy's: iteration ``m`` stops when ``‖Δ_m‖ · min(1, ρ) ≤ 0.01 / C_k`` (RMS norm
  relative to ``atol + rtol |y|``; ``C_k`` the error constant, so the Newton error is held to
  1% of the local error allowance), where the rate estimate ``ρ ← max(0.3 ρ, ‖Δ_m‖ /
  ‖Δ_{m-1}‖)`` is carried from step to step and reset to 1 with every new LU; it diverges
  when ``‖Δ_m‖ > 2 ‖Δ_{m-1}‖``. SciPy needs a measured rate, so two iterations at least, and
  a tolerance of ``√rtol`` (1e-4 at rtol 1e-8); with the carried rate most steps take one
  gradient (counts in ``benchmarks/solvers.py``). Two choices matter, found with patches
  that were not kept: with the rate carried *without* the reset at each new LU, a stale rate
  let unconverged iterates through and the run fell into thousands of order-2 steps (N = 64
  at CVODE's coefficient 0.1, N = 152 at 0.01); with the reset, 0.1 runs but takes 1.6x the
  steps of 0.01 at N = 152 and 256;
* the local error estimate ``C_k · D^{k+1}``, RMS norm relative to ``atol + rtol |y|``, safety
  factor ``0.9 (2·4 + 1) / (2·4 + n_newton)``, step factors clipped to ``[0.2, 10]``;
* order selection among ``k - 1, k, k + 1`` after ``k + 1`` steps at constant step size;
* Hairer's initial step selection; a dense output that is the polynomial through the last
  ``k + 1`` solution points (as SciPy's ``BdfDenseOutput``);
* a terminal event: the first time ``event(t, y, args) <= 0``, located on the dense output
  by Illinois regula falsi with a bisection fallback to 64 ulps of ``t``.

Batching. The core :func:`_bdf_batched` carries a leading lane axis ``B`` on every piece of
state and calls ``fun``/``jac``/``event`` through ``jax.vmap`` over lanes. Costly work (the
Jacobian, the LU, the event root search) sits behind ``lax.cond`` on a *scalar* predicate
reduced over lanes (``jnp.any``), and its result is merged lane by lane with ``jnp.where``,
so each lane keeps its own Jacobian schedule and its arithmetic does not depend on the other
lanes. Lanes that finish stop changing; the loop runs until all lanes are done.
:func:`bdf_solve` solves one problem (``B = 1``) and, through
``jax.custom_batching.custom_vmap``, batches natively under ``jax.vmap`` (nested ``vmap``
too): its rule calls the core once on all lanes instead of letting ``vmap`` turn every
``lax.cond`` into a ``select`` that would evaluate the Jacobian in every iteration. Values
that ``fun``/``jac``/``event`` close over and that are traced are hoisted into explicit
inputs: the batched ones become lane inputs, the others stay shared (not broadcast).

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
_N_ROWS = MAX_ORDER + 3  # D holds the differences of orders 0 … order + 2
_N_DENSE = MAX_ORDER + 1  # rows of D that the dense output needs
_ROOT_MAXITER = 200  # the root search halves the bracket at least every second iteration

_KAPPA = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])
_GAMMA = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))])
_ALPHA = (1.0 - _KAPPA) * _GAMMA
_ERROR_CONST = _KAPPA * _GAMMA + 1.0 / np.arange(1, MAX_ORDER + 2)

_STAT_NAMES = ("num_steps", "num_accepted", "num_rejected", "num_fev", "num_jev", "num_lu")


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
        t: ``()`` final time reached: ``t1``, the event time, or where the solver stopped.
        y: ``(n,)`` the state at ``t``.
        event: ``()`` bool, the event fired.
        result: ``()`` int32: 0 success (reached ``t1``), 1 event, 2 ``max_steps`` reached,
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


def _bdf_batched(
    fun, jac, event, t0, t1, y0, args, rtol, atol, max_steps: int, first_step=None, shared=None
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
        max_steps: static int, the maximum number of attempted steps per lane and the length
            of the dense buffers.
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
    m_steps = int(max_steps)
    eps = jnp.finfo(dtype).eps
    t0, t1, rtol, atol = (jnp.broadcast_to(jnp.asarray(x, dtype), (n_lanes,)) for x in (t0, t1, rtol, atol))
    gamma, alpha, error_const = (jnp.asarray(c, dtype) for c in (_GAMMA, _ALPHA, _ERROR_CONST))
    gamma_rows = jnp.concatenate([gamma, jnp.zeros(_N_ROWS - _N_DENSE, dtype)])
    eye = jnp.eye(n, dtype=dtype)

    def f_one(t, y, a):
        return jnp.asarray(fun_l(t, y, a), dtype).reshape(n)

    if jac_l is None:
        jac_one = jax.jacfwd(f_one, argnums=1)
    else:

        def jac_one(t, y, a):
            return jnp.asarray(jac_l(t, y, a), dtype).reshape(n, n)

    vfun = jax.vmap(f_one)
    vjac = jax.vmap(jac_one)
    if event_l is not None:
        vevent = jax.vmap(lambda t, y, a: jnp.asarray(event_l(t, y, a), dtype).reshape(()))
    vlu = jax.vmap(jax.scipy.linalg.lu_factor)
    vsolve = jax.vmap(lambda lu, piv, b: jax.scipy.linalg.lu_solve((lu, piv), b))
    store = jax.vmap(lambda buf, i, v: buf.at[i].set(v, mode="drop"))
    one = jnp.ones((n_lanes,), jnp.int32)

    # ---- initial state
    f0 = vfun(t0, y0, args)
    interval = t1 - t0
    live = interval > 0
    if first_step is None:
        # Hairer, Nørsett & Wanner, Sec. II.4, for order 1 (as SciPy's select_initial_step).
        scale = atol[:, None] + jnp.abs(y0) * rtol[:, None]
        d0, d1 = _rms(y0 / scale), _rms(f0 / scale)
        h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
        h0 = jnp.where(live, jnp.minimum(h0, interval), 1.0)
        f1 = vfun(t0 + h0, y0 + h0[:, None] * f0, args)
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
    jac0 = vjac(t0, y0, args)
    d_init = jnp.zeros((n_lanes, _N_ROWS, n), dtype)
    d_init = d_init.at[:, 0].set(y0).at[:, 1].set(f0 * h[:, None])

    done = ~live
    fired0 = jnp.zeros((n_lanes,), bool)
    if event_l is not None:
        fired0 = live & (vevent(t0, y0, args) <= 0)
        done = done | fired0
    result = jnp.where(fired0, EVENT, SUCCESS).astype(jnp.int32)
    zeros_i = jnp.zeros((n_lanes,), jnp.int32)
    state = dict(
        t=t0,
        h=h,
        d=d_init,
        order=one,
        n_equal=zeros_i,
        jac=jac0,
        lu=jnp.zeros((n_lanes, n, n), dtype),
        piv=jnp.zeros((n_lanes, n), jnp.int32),
        lu_valid=jnp.zeros((n_lanes,), bool),
        jac_current=jnp.zeros((n_lanes,), bool),
        crate=jnp.ones((n_lanes,), dtype),
        done=done,
        result=result,
        fired=fired0,
        t_ev=t0,
        y_ev=y0,
        num_steps=zeros_i,
        num_accepted=zeros_i,
        num_rejected=zeros_i,
        num_fev=nfev,
        num_jev=one,
        num_lu=zeros_i,
        count=zeros_i,
        ts=jnp.full((n_lanes, m_steps), jnp.inf, dtype),
        hs=jnp.zeros((n_lanes, m_steps), dtype),
        orders=jnp.zeros((n_lanes, m_steps), jnp.int32),
        ds=jnp.zeros((n_lanes, m_steps, _N_DENSE, n), dtype),
    )
    rows = jnp.arange(_N_ROWS)

    def newton(t_new, y_pred, psi, c, lu, piv, scale, attempt, crate, order):
        """Simplified Newton for ``y = y_pred + d`` with ``d - c f(t_new, y) + psi = 0``."""
        tol = NEWTON_COEF / error_const[order]

        def cond(carry):
            k, _, _, _, _, active, _, _, _ = carry
            return (k < NEWTON_MAXITER) & jnp.any(active)

        def body(carry):
            k, y, dsum, norm_old, crate, active, converged, n_iter, nfev = carry
            f = vfun(t_new, y, args)
            nfev = nfev + active.astype(jnp.int32)
            dy = vsolve(lu, piv, c[:, None] * f - psi - dsum)
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

        init = (
            jnp.int32(0),
            y_pred,
            jnp.zeros_like(y_pred),
            jnp.ones((n_lanes,), dtype),
            crate,
            attempt,
            jnp.zeros((n_lanes,), bool),
            zeros_i,
            zeros_i,
        )
        _, y, dsum, _, crate, _, converged, n_iter, nfev = lax.while_loop(cond, body, init)
        return y, dsum, converged, n_iter, nfev, crate

    def find_root(t_old, t_new, h, order, d6, g_new, fired):
        """Illinois regula falsi with bisection fallback, on the dense output of the step."""
        tol = 64 * eps * jnp.maximum(jnp.abs(t_new), 1.0)

        def g(t):
            return vevent(t, _interpolate(t, t_new, h, order, d6), args)

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
            zeros_i,
            jnp.full((n_lanes,), jnp.inf, dtype),
            fired & ~at_old & (hi - lo > tol),
        )
        _, _, root, _, _, _, _, _ = lax.while_loop(cond, body, init)
        return root, _interpolate(root, t_new, h, order, d6)

    def step(s):
        run = ~s["done"]
        t, h, d, order = s["t"], s["h"], s["d"], s["order"]
        n_equal, lu_valid = s["n_equal"], s["lu_valid"]
        min_step = 10 * (jnp.nextafter(t, jnp.full_like(t, jnp.inf)) - t)
        too_small = run & ~(h >= min_step)  # NaN h too
        attempt = run & ~too_small
        # Do not step past t1: shorten the step and re-interpolate D.
        clip = attempt & (t + h > t1)
        h_clip = jnp.where(clip, t1 - t, h)
        d = _lane_where(clip, _change_d(d, order, h_clip / h), d)
        n_equal = jnp.where(clip, 0, n_equal)
        lu_valid = lu_valid & ~clip
        h = h_clip
        t_new = jnp.where(clip, t1, t + h)

        # LU of I - c J, for the lanes whose c or J changed.
        c = h / alpha[order]
        need_lu = attempt & ~lu_valid

        def refactor(ops):
            lu, piv = ops
            lu_new, piv_new = vlu(eye - c[:, None, None] * s["jac"])
            return _lane_where(need_lu, lu_new, lu), _lane_where(need_lu, piv_new, piv)

        lu, piv = lax.cond(jnp.any(need_lu), refactor, lambda ops: ops, (s["lu"], s["piv"]))
        lu_valid = lu_valid | need_lu
        # A new matrix (new c, or a new J, which always clears lu_valid): measure the rate afresh.
        crate = jnp.where(need_lu, 1.0, s["crate"])

        # Predictor and Newton.
        upto = (rows[None, :] <= order[:, None])[:, :, None]
        y_pred = jnp.sum(jnp.where(upto, d, 0.0), axis=1)
        weights = jnp.where(
            (rows[None, :] >= 1) & (rows[None, :] <= order[:, None]), gamma_rows[None, :], 0.0
        )
        psi = jnp.sum(d * weights[:, :, None], axis=1) / alpha[order][:, None]
        scale = atol[:, None] + rtol[:, None] * jnp.abs(y_pred)
        y_new, dsum, converged, n_iter, nfev, crate = newton(
            t_new, y_pred, psi, c, lu, piv, scale, attempt, crate, order
        )
        newton_fail = attempt & ~converged
        need_jac = newton_fail & ~s["jac_current"]
        halve = newton_fail & s["jac_current"]

        # A stale Jacobian failed: re-evaluate it (for those lanes only) and retry the step.
        def rejac(jac):
            return _lane_where(need_jac, vjac(t_new, y_pred, args), jac)

        jac = lax.cond(jnp.any(need_jac), rejac, lambda jac: jac, s["jac"])
        jac_current = s["jac_current"] | need_jac
        lu_valid = lu_valid & ~need_jac

        # Error test.
        scale_new = atol[:, None] + rtol[:, None] * jnp.abs(y_new)
        error_norm = _rms(error_const[order][:, None] * dsum / scale_new)
        accept = converged & (error_norm <= 1)
        err_reject = converged & ~accept
        safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter.astype(dtype))
        factor_err = jnp.maximum(MIN_FACTOR, safety * error_norm ** (-1.0 / (order + 1)))
        factor_err = jnp.where(jnp.isfinite(factor_err), factor_err, MIN_FACTOR)
        reject = halve | err_reject
        factor = jnp.where(halve, 0.5, factor_err)

        # Accepted step: update the differences (D^{j+1} y_n = D^j y_n - D^j y_{n-1}).
        d_next = jnp.take_along_axis(d, (order + 1)[:, None, None], axis=1)[:, 0]
        d_acc = jnp.where((rows == order[:, None] + 2)[:, :, None], (dsum - d_next)[:, None], d)
        d_acc = jnp.where((rows == order[:, None] + 1)[:, :, None], dsum[:, None], d_acc)
        for i in reversed(range(_N_DENSE)):
            d_acc = d_acc.at[:, i].set(
                jnp.where((i <= order)[:, None], d_acc[:, i] + d_acc[:, i + 1], d_acc[:, i])
            )
        d6 = jnp.where(
            (jnp.arange(_N_DENSE)[None, :] <= order[:, None])[:, :, None], d_acc[:, :_N_DENSE], 0.0
        )
        idx = jnp.where(accept, s["count"], m_steps)  # out of range: dropped
        ts = store(s["ts"], idx, t_new)
        hs = store(s["hs"], idx, h)
        orders = store(s["orders"], idx, order)
        ds = store(s["ds"], idx, d6)
        n_equal_acc = n_equal + 1

        # Order and step size selection after order + 1 steps at constant step size.
        select = accept & (n_equal_acc >= order + 1)
        d_at = lambda k: jnp.take_along_axis(d_acc, k[:, None, None], axis=1)[:, 0]  # noqa
        err_m = jnp.where(
            order > 1,
            _rms(error_const[order - 1][:, None] * d_at(jnp.maximum(order, 1)) / scale_new),
            jnp.inf,
        )
        err_p = jnp.where(
            order < MAX_ORDER,
            _rms(error_const[jnp.minimum(order + 1, MAX_ORDER)][:, None] * d_at(order + 2) / scale_new),
            jnp.inf,
        )
        norms = jnp.stack([err_m, error_norm, err_p], axis=-1)
        expo = -1.0 / (order[:, None] + jnp.arange(3)).astype(dtype)
        factors = norms**expo
        new_order = order + jnp.argmax(factors, axis=-1).astype(jnp.int32) - 1
        factor_sel = jnp.clip(safety * jnp.max(factors, axis=-1), MIN_FACTOR, MAX_FACTOR)

        # Merge the outcomes: one re-interpolation serves a rejection and a selection.
        order_out = jnp.where(select, new_order, order)
        factor_out = jnp.where(select, factor_sel, factor)
        rescale = select | reject
        d_base = _lane_where(accept, d_acc, d)
        d_out = _lane_where(rescale, _change_d(d_base, order_out, factor_out), d_base)
        h_out = jnp.where(rescale, h * factor_out, h)
        n_equal_out = jnp.where(accept & ~select, n_equal_acc, jnp.where(accept | reject, 0, n_equal))
        lu_valid = lu_valid & ~reject & ~select
        jac_current = jac_current & ~accept
        t_out = jnp.where(accept, t_new, t)
        reached = accept & (t_new >= t1)

        num_steps = s["num_steps"] + (accept | reject)
        out = dict(
            t=t_out,
            h=h_out,
            d=d_out,
            order=order_out,
            n_equal=n_equal_out,
            jac=jac,
            lu=lu,
            piv=piv,
            lu_valid=lu_valid,
            jac_current=jac_current,
            crate=crate,
            fired=s["fired"],
            t_ev=s["t_ev"],
            y_ev=s["y_ev"],
            num_steps=num_steps,
            num_accepted=s["num_accepted"] + accept,
            num_rejected=s["num_rejected"] + reject,
            num_fev=s["num_fev"] + nfev,
            num_jev=s["num_jev"] + need_jac,
            num_lu=s["num_lu"] + need_lu,
            count=s["count"] + accept,
            ts=ts,
            hs=hs,
            orders=orders,
            ds=ds,
        )

        fired = jnp.zeros_like(accept)
        if event_l is not None:
            g_new = vevent(t_new, d_acc[:, 0], args)
            fired = accept & (g_new <= 0)

            def locate(ops):
                t_ev, y_ev = ops
                root, y_root = find_root(t, t_new, h, order, d6, g_new, fired)
                return jnp.where(fired, root, t_ev), _lane_where(fired, y_root, y_ev)

            out["t_ev"], out["y_ev"] = lax.cond(
                jnp.any(fired), locate, lambda ops: ops, (s["t_ev"], s["y_ev"])
            )
            out["fired"] = s["fired"] | fired

        result = s["result"]
        result = jnp.where(reached, SUCCESS, result)
        result = jnp.where(fired, EVENT, result)
        result = jnp.where(too_small, FAILURE, result)
        finished = too_small | reached | fired
        over = attempt & ~finished & (num_steps >= m_steps)
        result = jnp.where(over, MAX_STEPS, result)
        out["result"] = result.astype(jnp.int32)
        out["done"] = s["done"] | finished | over
        return out

    state = lax.while_loop(lambda s: jnp.any(~s["done"]), step, state)
    t_final = jnp.where(state["fired"], state["t_ev"], state["t"])
    y_final = _lane_where(state["fired"], state["y_ev"], state["d"][:, 0])
    return BDFSolution(
        t=t_final,
        y=y_final,
        event=state["fired"],
        result=state["result"],
        stats={k: state[k].astype(jnp.int32) for k in _STAT_NAMES},
        count=state["count"],
        ts=state["ts"],
        hs=state["hs"],
        orders=state["orders"],
        ds=state["ds"],
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


def _make_batched(fun_c, jac_c, event_c, sizes, layout, max_steps):
    """The core as a ``custom_vmap`` function of arrays; an outer vmap merges into the lanes."""
    fun, jac, event = _lane_fns(fun_c, jac_c, event_c, sizes, layout)

    @custom_vmap
    def solve(t0, t1, y0, lane, rtol, atol, first_step, shared):
        return _bdf_batched(
            fun, jac, event, t0, t1, y0, lane, rtol, atol, max_steps, first_step=first_step, shared=shared
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
        inner = _make_batched(fun_c, jac_c, event_c, sizes, tuple(new_layout), max_steps)
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
    max_steps = int(max_steps)
    n_consts = len(consts)

    @custom_vmap
    def single(t0, t1, y0, args, rtol, atol, first_step, consts):
        batched = _make_batched(fun_c, jac_c, event_c, sizes, (False,) * n_consts, max_steps)
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
        batched = _make_batched(fun_c, jac_c, event_c, sizes, layout, max_steps)
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
    batched = _make_batched(fun_c, jac_c, event_c, sizes, (False,) * len(consts), int(max_steps))
    return batched(lanes(t0), lanes(t1), y0, (args, []), lanes(rtol), lanes(atol), lanes(first_step), consts)
