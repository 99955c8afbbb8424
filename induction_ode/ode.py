"""Gradient flow on the 19 pseudo-parameters: vector field, trajectories and emergence.

Time is gradient-flow time: under the ``("weights", d)`` metric, time ``t`` equals
``n·η`` after ``n`` steps of full-weight gradient descent with learning rate ``η``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .bdf import bdf_solve
from .clamp import ClampData, lane_data, layout
from .loss import PATTERN_CLAMPS, check_theta, query_weights
from .memory import check_fits, run_bytes
from .model import Model
from .options import PRECISIONS, check_precision
from .reduced import program_model
from .subspace import KEY_INDEX, KEY_PARAMS, N_PARAMS
from .task import check_n_pairs
from .validation import check, check_values

CPU_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}
"""XLA options for the emergence programs on a CPU: XLA's elemental emitter instead of its
newer fusion emitters. Measured on the 2-core development machine (jax 0.10.2), whole solves
to ``2 t*``, compilation included, each in a fresh process, two runs each (``python
benchmarks/compiler_options.py --repeats 2``): the paired reduced flow at N = 8192 23.9 and
23.9 s against 29.0 and 28.3 s with XLA's defaults; the 19-parameter flow at N = 64 28.5 and
29.3 s against 30.9 and 30.5 s; but the sinusoidal reduced flow at N = 1024 49.0 and 47.6 s
against 43.5 and 46.1 s, where compilation (slower with these options) is most of the time.
Steps and t* agree (to 1e-13)."""

SOLVERS = ("bdf", "tsit5", "kvaerno5")
"""``bdf``: implicit variable-order NDF (:mod:`induction_ode.bdf`), the exact Jacobian reused
over many steps; its step count grows slowly with ``T``. ``tsit5``: explicit, cheap steps; its
step is capped by the readout's relaxation rate (≈ 1), so its step count grows like ``T²``.
``kvaerno5``: implicit (ESDIRK, one Jacobian per step), a nearly constant step count but each
step costs 9–14 explicit ones on a 2-core CPU. ``"auto"`` picks one (:func:`resolve_solver`)."""
AUTO_BDF_FROM = 16
"""``solver="auto"`` runs ``bdf`` when the largest ``N`` is at least this, else ``tsit5``.

Measured on the development machine (2 CPU cores), ``python benchmarks/solvers.py --n-pairs
16,64``, integration to ``2 t*``, run time after compilation: at N = 16, bdf 0.16 s (627 steps,
1,209 gradients, 3 Jacobians) against tsit5 0.76 s (1,114 steps); at N = 64, bdf 2.28 s
(960 steps) against tsit5 49.5 s (6,912 steps; its steps grow like ``T²``). Below N = 16 both
take well under a second, and tsit5's program compiles in a quarter of bdf's time (5 s against
19 s in the same run), so tsit5 is kept there. The same rule is used
on every device: no GPU was available to measure another one."""
EMERGENCE_LEVEL = 0.5
"""The paper's threshold for the emergence of a pseudo-parameter (``T_x``: first ``|x| ≥ 0.5``)."""
EVENT_STRIDE = 16
"""The BDF solver checks the emergence event (``L ≤ ½ L(0)``, a level of the loss the flow
descends, so it stays reached) every this many accepted steps, and finds the step where it
turned by bisection over the stored steps: the same root. Checking every step cost one loss
evaluation (a third of a gradient at N = 64) per step before ``t*``, 10% of the run."""


def resolve_solver(solver: str, n_max: int) -> str:
    """The solver that runs: ``solver`` itself, or for ``"auto"`` the rule of
    :data:`AUTO_BDF_FROM`. ``ValueError`` for an unknown name."""
    if solver == "auto":
        return "bdf" if n_max >= AUTO_BDF_FROM else "tsit5"
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; allowed: auto, {', '.join(SOLVERS)}")
    return solver


def check_model(model, n_max: int) -> Model:
    """``model`` (default :class:`~induction_ode.model.Model`) checked against the largest ``N``."""
    model = Model() if model is None else model
    if not isinstance(model, Model):
        raise ValueError(f"model must be an induction_ode.Model, got {type(model).__name__}")
    return model.check(n_max)


def check_memory(model, n_pairs: int, solver: str, max_steps, precision: str, *, theta0=None, batch=1):
    """:func:`~induction_ode.memory.check_fits` for a run whose largest length is ``n_pairs``:
    ``ValueError`` with the need, the memory available and the largest ``N`` that fits.
    ``solver`` (``"auto"`` resolves per ``N``) and ``max_steps`` (``None``: each ``N``'s
    default) as in :func:`simulate`; ``batch``: the lengths solved at once on one device."""
    itemsize = np.dtype(check_precision(precision)).itemsize
    static = program_model(model, theta0).replace(clamp=model.clamp)  # pattern clamps cost memory

    def need(n):
        chosen = resolve_solver(solver, n)
        return run_bytes(static, n, chosen, step_budget(max_steps, n, chosen), itemsize, batch)

    check_fits(need, n_pairs, "N")


def vector_field(theta, n_pairs: int, *, model: Model | None = None, t=0.0):
    """The gradient-flow vector field ``dθ/dt = −M ∇θ L`` of MODEL.md; shape ``(19,)``.

    ``model`` (default ``Model()``) sets the mask, loss, metric, free set and clamp; ``t``
    matters only for a clamp that switches on later. The identity metric gives ``−∇θ L``;
    ``("weights", d)`` gives ``−(1/n_i) ∂L/∂θ_i``, the image of full-weight gradient flow.
    """
    n_pairs = check_n_pairs(n_pairs)
    model = check_model(model, n_pairs)
    return model.rhs(t, check_theta(theta), n_pairs, n_pairs)


def _field(model, n_pad):
    """The vector field as ``f(t, θ, args)`` with ``args = (n_pairs, free, clamp)``: the length,
    the ``(19,)`` free mask and the clamp (:class:`~induction_ode.clamp.ClampData`, or ``None``)
    are data, so that one compiled program serves any of them."""
    return lambda t, y, args: model.rhs(t, y, args[0], n_pad, free=args[1], clamp=args[2])


def _solve(model, solver, n_pad, theta0, args, t0, t1, rtol, atol, max_steps, saveat, event=None):
    """A diffrax solve (``tsit5`` or ``kvaerno5``) of the model's gradient flow."""
    term = diffrax.ODETerm(_field(model, n_pad))
    dtype = theta0.dtype  # times share the state's precision (diffrax needs one dtype)
    if solver == "tsit5":  # an I controller suits explicit RK; PI(0.3, 0.3) suits ESDIRK
        solver, pcoeff, icoeff = diffrax.Tsit5(), 0.0, 1.0
    else:
        solver, pcoeff, icoeff = diffrax.Kvaerno5(), 0.3, 0.3
    clamp = args[2]  # a clamp switches the field on at t_on: diffrax steps to it
    jump_ts = None if clamp is None else jnp.reshape(clamp.t_on, (1,)).astype(dtype)
    controller = diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=pcoeff, icoeff=icoeff, jump_ts=jump_ts)
    return diffrax.diffeqsolve(
        term,
        solver,
        jnp.asarray(t0, dtype),
        jnp.asarray(t1, dtype),
        None,
        theta0,
        args=args,
        saveat=saveat,
        stepsize_controller=controller,
        event=event,
        max_steps=max_steps,
        throw=False,
    )


class Segment(NamedTuple):
    """One integration with dense output, whatever the solver.

    Attributes:
        interp: the dense solution: ``interp.evaluate(t)`` is θ at a time ``t`` of the segment.
        t, y: where it ended (``t1``, a terminal event, or the end after a continued one),
            ``()`` and ``(19,)``.
        hit: ``()`` bool, the event fired; ``t_event``, ``y_event``: its time and state
            (meaningful where ``hit``).
        ok: ``()`` bool, it reached its end or a terminal event (no step budget or step-size
            failure).
        steps: ``()`` int, steps attempted; ``fev``, ``jev``: gradient and Jacobian
            evaluations, ``-1`` where the solver does not count them (the diffrax solvers).
    """

    interp: object
    t: jax.Array
    y: jax.Array
    hit: jax.Array
    t_event: jax.Array
    y_event: jax.Array
    ok: jax.Array
    steps: jax.Array
    fev: jax.Array
    jev: jax.Array


JACOBIAN_DTYPE = {jnp.dtype(jnp.float64): jnp.float32}
"""The precision of the BDF solver's Jacobian for each state precision (others: the same).

The Jacobian only shapes the Newton matrix ``I − c J``, the iteration's speed, never the
solution it converges to, so a float64 run evaluates its Hessian in float32: half the cost,
relative error 2.0e-9 of the largest entry at N = 64, and the same steps, evaluations and end state
(``python benchmarks/jacobian_precision.py``; numbers in the README, Performance)."""


def _jacobian(model, n_pad):
    """The exact Jacobian of the vector field, ``(19, 19)``: ``−diag(m) H``, with ``m`` the
    metric times the moving mask and ``H`` the Hessian of ``L``
    (:meth:`~induction_ode.model.Model.loss_hessian`: forward-over-reverse, the late entries of
    the structured sums held apart), or for a loss that reads only some entries
    (``model.reads``: α3, β2, γ3 for the reduced closed form) forward-over-reverse of the field
    with one tangent per entry read; in the precision :data:`JACOBIAN_DTYPE` gives and
    returned in the state's."""
    field = _field(model, n_pad)

    def jac(t, y, args):
        low = JACOBIAN_DTYPE.get(jnp.dtype(y.dtype), y.dtype)
        n_pairs, free, clamp = args
        y_low, t_low = y.astype(low), t.astype(low)
        free_low, clamp_low = free.astype(low), jax.tree.map(lambda a: a.astype(low), clamp)
        if model.reads is None:
            scale = model.metric_scale(low, n_pairs) * model.moving(t_low, low, free_low, clamp_low)
            hessian = model.loss_hessian(t_low, y_low, n_pairs, n_pad, clamp_low)
            return (-scale[:, None] * hessian).astype(y.dtype)
        f = lambda z: field(t_low, z, (n_pairs, free_low, clamp_low))  # noqa: E731
        cols = jnp.asarray(model.reads)
        part = jax.jacfwd(lambda z: f(y_low.at[cols].set(z)))(y_low[cols])
        return jnp.zeros((N_PARAMS, N_PARAMS), y.dtype).at[:, cols].set(part.astype(y.dtype))

    return jac


class _Joined(NamedTuple):
    """Two dense solutions joined at ``t_split``: ``evaluate(t)`` reads ``early`` on ``[t0,
    t_split]`` and ``late`` on ``[t_split, t_end]`` (times outside are clipped); ``(19,)``."""

    early: object
    late: object
    t0: jax.Array
    t_split: jax.Array
    t_end: jax.Array

    def evaluate(self, t):
        late = self.late.evaluate(jnp.clip(t, self.t_split, self.t_end))
        return jnp.where(t > self.t_split, late, self.early.evaluate(jnp.clip(t, self.t0, self.t_split)))


def _diffrax_dense(model, solver, n_pad, y0, args, t0, t1, rtol, atol, max_steps, event) -> Segment:
    """A diffrax solve with dense output and an optional terminal event (see :func:`_dense_solve`)."""
    dtype = y0.dtype
    diffrax_event = None
    if event is not None:
        # Bisection to 64 ulps in t. The flow descends the loss the event watches, so the
        # event function is non-increasing and a bracket holds one downward crossing. Under
        # vmap diffrax root-finds on every lane once any lane's event fires; a lane whose event
        # did not fire gets the stand-in ``t_next − t``, which is 0 at the bracket's upper end,
        # and ``flip="detect"`` rejects that bracket ("The root is not contained in [lower,
        # upper]"), aborting the whole batch. Both functions decrease, so the flip is fixed.
        tol = 64 * float(jnp.finfo(dtype).eps)
        diffrax_event = diffrax.Event(
            # In the default float dtype: diffrax pairs this with a Python 0.0 in a lax.cond.
            lambda t, y, args, **_: jnp.asarray(event(t, y, args), float),
            root_finder=optx.Bisection(rtol=tol, atol=tol, flip=True),
            direction=False,  # fire on L − ½ L(0) turning ≤ 0 only
        )
    save = diffrax.SaveAt(t1=True, dense=True)
    sol = _solve(model, solver, n_pad, y0, args, t0, t1, rtol, atol, max_steps, save, diffrax_event)
    hit = jnp.asarray(False)
    if event is not None:
        hit = jnp.all(sol.event_mask) & (sol.result == diffrax.RESULTS.event_occurred)
    ok = (sol.result == diffrax.RESULTS.successful) | hit
    none = jnp.asarray(-1, jnp.int32)
    t, y = sol.ts[-1], sol.ys[-1]
    return Segment(sol.interpolation, t, y, hit, t, y, ok, sol.stats["num_steps"], none, none)


def _diffrax_continued(model, solver, n_pad, y0, args, t0, t1, rtol, atol, max_steps, event, factor):
    """Two diffrax solves, ``[t0, t_event]`` then ``[t_event, t0 + factor (t_event − t0)]``,
    joined (diffrax's events are terminal). One compiled solve serves both (a ``scan``); the
    event is live only in the first and a second without an event runs a dummy unit interval."""
    dtype = y0.dtype

    def piece(carry, _):
        start_y, start, end, live = carry

        def live_event(t, y, a):
            return jnp.where(live, event(t, y, a), 1.0)

        seg = _diffrax_dense(
            model, solver, n_pad, start_y, args, start, end, rtol, atol, max_steps, live_event
        )
        go = live & seg.hit & (seg.t > t0)
        end = jnp.where(go, t0 + factor * (seg.t - t0), seg.t + 1)
        return (seg.y, seg.t, end, jnp.zeros((), bool)), seg

    start = (y0, jnp.asarray(t0, dtype), jnp.asarray(t1, dtype), jnp.ones((), bool))
    _, segs = jax.lax.scan(piece, start, length=2)
    first, second = (jax.tree.map(lambda a, i=i: a[i], segs) for i in range(2))
    go = first.hit & (first.t > t0)
    pick = lambda a, b: jnp.where(go, b, a)  # noqa: E731
    return Segment(
        interp=_Joined(first.interp, second.interp, jnp.asarray(t0, dtype), first.t, pick(first.t, second.t)),
        t=pick(first.t, second.t),
        y=pick(first.y, second.y),
        hit=first.hit,
        t_event=first.t,
        y_event=first.y,
        ok=first.ok & (second.ok | ~go),
        steps=first.steps + jnp.where(go, second.steps, 0),
        fev=first.fev,
        jev=first.jev,
    )


def _dense_solve(
    model, solver, n_pad, y0, args, t0, t1, rtol, atol, max_steps, event=None, event_continue=None
) -> Segment:
    """Integrate from ``t0`` to ``t1`` with dense output; ``args = (n_pairs, free, clamp)``.

    ``event(t, y, args)``: a scalar function, positive at ``t0`` and non-increasing along the
    flow (a level of the loss it descends), or None. The solve stops where it first reaches
    ``≤ 0`` (located by root finding), or with ``event_continue = r`` goes on from there to
    ``t0 + r (t_event − t0)`` in place of ``t1``: one BDF solve (checking the event every
    :data:`EVENT_STRIDE` steps where no clamp can make the field jump), or two diffrax solves.
    """
    dtype = y0.dtype
    t0, t1 = jnp.asarray(t0, dtype), jnp.asarray(t1, dtype)
    if solver != "bdf":
        if event is None or event_continue is None:
            return _diffrax_dense(model, solver, n_pad, y0, args, t0, t1, rtol, atol, max_steps, event)
        return _diffrax_continued(
            model, solver, n_pad, y0, args, t0, t1, rtol, atol, max_steps, event, event_continue
        )
    sol = bdf_solve(
        _field(model, n_pad),
        t0,
        t1,
        y0,
        args,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        jac=_jacobian(model, n_pad),
        event=event,
        event_stride=EVENT_STRIDE if args[2] is None else 1,
        event_continue=event_continue,
    )
    counts = (sol.stats["num_steps"], sol.stats["num_fev"], sol.stats["num_jev"])
    return Segment(sol, sol.t, sol.y, sol.event, sol.t_event, sol.y_event, sol.result <= 1, *counts)


def integrate_to(model, solver, n_pairs, theta0, t_end, rtol, atol, max_steps=None):
    """θ at ``t_end`` from ``theta0`` at 0 (jit-able), and the solver's counts.

    Returns:
        ``(theta (19,), stats)`` with ``stats`` = ``{"num_steps", "num_fev", "num_jev"}``
        (``-1`` where not counted). For benchmarks: no event, no checks.
    """
    n = int(n_pairs)
    max_steps = step_budget(max_steps, n, solver)
    args = (n, model.free_vector(theta0.dtype), model.clamp_data(theta0.dtype))
    seg = _dense_solve(model, solver, n, theta0, args, 0.0, t_end, rtol, atol, max_steps)
    return seg.y, dict(num_steps=seg.steps, num_fev=seg.fev, num_jev=seg.jev)


class Trajectory(NamedTuple):
    """A solution of the ODE on a time grid.

    Attributes:
        ts: ``(S,)`` gradient-flow times.
        thetas: ``(S, 19)`` pseudo-parameters (clamped values where a clamp holds them).
        losses: ``(S,)`` population loss of the dynamics at each time.
        n_pairs: ``N``.
    """

    ts: np.ndarray
    thetas: np.ndarray
    losses: np.ndarray
    n_pairs: int


@functools.partial(jax.jit, static_argnames=("model", "solver", "n_pad", "max_steps"))
def _trajectory_segment(theta0, n_pairs, free, clamp, ts, rtol, atol, *, model, solver, n_pad, max_steps):
    args = (n_pairs, free, clamp)
    if solver == "bdf":  # dense output, read on the grid
        seg = _dense_solve(model, solver, n_pad, theta0, args, ts[0], ts[-1], rtol, atol, max_steps)
        ys = jax.vmap(seg.interp.evaluate)(ts).at[-1].set(seg.y)
        ok = seg.ok
    else:
        saveat = diffrax.SaveAt(ts=ts)
        sol = _solve(model, solver, n_pad, theta0, args, ts[0], ts[-1], rtol, atol, max_steps, saveat)
        ys, ok = sol.ys, sol.result == diffrax.RESULTS.successful
    eff = jax.vmap(lambda t, y: model.effective(t, y, clamp)[0])(ts, ys)
    losses = jax.vmap(lambda t, y: model.loss_at(t, y, n_pairs, n_pad, clamp))(ts, ys)
    return ys, eff, losses, ok


def initial_theta(theta0, dtype):
    """θ(0): zeros, or ``theta0`` checked (:func:`~induction_ode.loss.check_theta`)."""
    return jnp.zeros(N_PARAMS, dtype) if theta0 is None else check_theta(theta0, dtype)


def simulate(
    n_pairs: int,
    t_max: float,
    *,
    model: Model | None = None,
    theta0=None,
    ts=None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    precision: str = "float64",
    solver: str = "auto",
    max_steps: int | None = None,
    chunks: int = 1,
    on_chunk: Callable[[float, float], None] | None = None,
) -> Trajectory:
    """Integrate the gradient flow from ``theta0`` (default 0) to ``t_max``.

    Adaptive BDF (:mod:`induction_ode.bdf`), or Tsit5 / Kvaerno5 with a PID step-size
    controller (diffrax).

    Args:
        model: the ODE (default ``Model()``: strict mask, MSE, identity metric, all free).
        theta0: ``(19,)`` initial pseudo-parameters (default 0).
        ts: increasing save times in ``[0, t_max]``, starting at 0 (default: 401 points).
        rtol, atol: tolerances of the adaptive step-size control.
        precision: ``"float64"`` (default) or ``"float32"``.
        solver: ``"auto"`` (default), ``"bdf"``, ``"tsit5"`` or ``"kvaerno5"`` (see
            :data:`SOLVERS` and :func:`resolve_solver`).
        max_steps: solver step budget (default :func:`default_max_steps`).
        chunks, on_chunk: integrate in ``chunks`` consecutive pieces and call
            ``on_chunk(t_done, t_max)`` after each (for progress bars).

    Returns:
        A :class:`Trajectory`.
    """
    n_pairs = check_n_pairs(n_pairs)
    t_max = check("t_max", t_max)
    check_values(rtol=rtol, atol=atol, max_steps=max_steps, chunks=chunks)
    dtype = check_precision(precision)
    model = check_model(model, n_pairs)
    solver = resolve_solver(solver, n_pairs)
    max_steps = step_budget(max_steps, n_pairs, solver)
    check_memory(model, n_pairs, solver, max_steps, precision, theta0=theta0)
    ts = np.linspace(0.0, t_max, 401) if ts is None else np.asarray(ts, np.float64)
    if ts.ndim != 1 or ts.size < 2 or ts[0] != 0 or np.any(np.diff(ts) <= 0) or ts[-1] > t_max:
        raise ValueError("ts must be an increasing 1-D grid in [0, t_max] starting at 0")
    y = initial_theta(theta0, dtype)
    pieces = np.array_split(np.arange(ts.size), max(1, min(chunks, ts.size - 1)))
    thetas, losses = [], []
    for i, piece in enumerate(pieces):
        seg = ts[np.concatenate([[piece[0] - 1], piece])] if i else ts[piece]
        ys, eff, seg_losses, ok = _trajectory_segment(
            y,
            n_pairs,
            model.free_vector(dtype),
            model.clamp_data(dtype),
            jnp.asarray(seg, dtype),
            rtol,
            atol,
            model=program_model(model, theta0),
            solver=solver,
            n_pad=n_pairs,
            max_steps=max_steps,
        )
        if not bool(ok):
            raise RuntimeError(f"the ODE solver failed before t={seg[-1]:g}; raise max_steps or loosen rtol")
        start = 1 if i else 0
        thetas.append(np.asarray(eff)[start:])
        losses.append(np.asarray(seg_losses)[start:])
        y = ys[-1]
        if on_chunk is not None:
            on_chunk(float(seg[-1]), t_max)
    return Trajectory(ts, np.concatenate(thetas), np.concatenate(losses), n_pairs)


class Emergence(NamedTuple):
    """Emergence of the induction head for one context length.

    Attributes:
        n_pairs: ``N``; ``T = 2N + 1``.
        t_star: first gradient-flow time with ``L(t) ≤ ½ L(0)`` (``nan`` if not reached).
        emerged: whether ``t_star`` was reached before ``t_max``.
        half_times: ``{"alpha3", "beta2", "gamma3"}`` → first time each reaches half of its
            value at ``2 t_star``.
        paper_times: ``{"alpha3", "beta2", "gamma3"}`` → the paper's emergence times ``T_x``
            (Def. 1 as its reviewers describe it): the first time ``|x| ≥ 0.5``, found on the
            dense output of ``[0, 2 t_star]`` (or of ``[0, t_max]`` when no head forms);
            ``nan`` where not reached.
        order: the three names sorted by half-time.
        label_attention: the query's layer-2 weight on the correct label at ``2 t_star``,
            averaged over the query's pairs (all of them, or the last for ``query="last"``).
        label_contrast: at ``2 t_star``, the layer-2 weight on the correct label divided by the
            largest weight on any other position, each averaged over the query's pairs (1 for
            uniform attention; > 1: the label stands out). An average, not a minimum: under the
            strict mask item 0 attends to itself, so for ``k = 0`` it carries the query's own
            token and ties with the label when only α3, β2, γ3 move.
        loss0: the loss at ``t = 0``.
        theta_star: ``(19,)`` θ at ``t_star``; ``theta_end``: θ at ``2 t_star``.
        t_max: the time limit used.
        solver: the solver that ran (``"auto"`` resolved).
        steps: solver steps attempted on ``[0, 2 t_star]``.
        gradient_evals, jacobian_evals: evaluations of ``∇L`` and of the ``19×19`` Jacobian
            (``None`` where the solver does not count them: ``tsit5``, ``kvaerno5``).
        solved: ``False`` when the solver ran out of steps or failed (then ``emerged`` is only
            as good as the part that was integrated; raise ``max_steps``).
    """

    n_pairs: int
    t_star: float
    emerged: bool
    half_times: dict
    paper_times: dict
    order: tuple
    label_attention: float
    label_contrast: float
    loss0: float
    theta_star: np.ndarray
    theta_end: np.ndarray
    t_max: float
    solver: str
    steps: int
    gradient_evals: int | None
    jacobian_evals: int | None
    solved: bool


def _first_crossing(path, t_end, start, target, n_grid=256, n_bisect=64):
    """First time in ``[0, t_end]`` at which each component of ``path(t)`` reaches ``target``.

    ``path`` maps a time to ``(m,)`` values; ``start`` is ``path(0)``; ``target``: ``(m,)``.
    The crossing is bracketed on a uniform grid and refined by bisection (``n_bisect``
    halvings), all components at once. Returns ``(m,)``, ``nan`` where not reached.
    """
    direction = jnp.sign(target - start)
    grid = jnp.linspace(0.0, 1.0, n_grid, dtype=t_end.dtype) * t_end
    vals = jax.vmap(path)(grid)
    reached = (vals - target) * direction >= 0
    first = jnp.argmax(reached, axis=0)
    hi = grid[first]
    lo = grid[jnp.maximum(first - 1, 0)]

    def halve(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        vals_mid = jnp.diagonal(jax.vmap(path)(mid))
        ok = (vals_mid - target) * direction >= 0
        return jnp.where(ok, lo, mid), jnp.where(ok, mid, hi)

    _, hi = jax.lax.fori_loop(0, n_bisect, halve, (lo, hi))
    hi = jnp.where(first == 0, grid[0], hi)
    return jnp.where(jnp.any(reached, axis=0), hi, jnp.nan)


def emergence_core(
    theta0, n_pairs, free, clamp, t_max, rtol, atol, *, model: Model, solver: str, n_pad: int, max_steps: int
):
    """Emergence for one length, as arrays (pure, jit- and vmap-able; ``N`` may be traced).

    ``free`` is the ``(19,)`` 0/1 mask of the pseudo-parameters that move and ``clamp`` the
    :class:`~induction_ode.clamp.ClampData` (or ``None``); they replace ``model.free`` and
    ``model.clamp``, so that removal studies and clamps share compiled programs. One solve from 0:
    the event ``L ≤ ½ L(0)`` gives ``t_star`` and the solve continues to ``2 t_star``.

    Returns a dict: ``t_star``, ``emerged``, ``half_times`` ``(3,)`` (in ``KEY_PARAMS``
    order), ``paper_times`` ``(3,)`` (first time ``|x| ≥`` :data:`EMERGENCE_LEVEL`, on
    ``[0, 2 t_star]``, or the whole integration without a head; ``nan`` where not reached),
    ``label_attention``, ``label_contrast``, ``loss0``, ``theta_star`` ``(19,)``, ``theta_end`` ``(19,)``,
    ``counts`` ``(3,)`` (steps, gradient and Jacobian evaluations; ``-1`` where the solver
    does not count) and ``solved`` (the solver did not run out of steps or fail).
    """
    threshold = 0.5 * model.loss_of(theta0, n_pairs, n_pad)
    loss0 = model.loss_at(0.0, theta0, n_pairs, n_pad, clamp)
    instant = loss0 <= threshold

    def event(t, y, args):
        return model.loss_at(t, y, args[0], n_pad, args[2]) - threshold

    args = (n_pairs, free, clamp)
    seg = _dense_solve(model, solver, n_pad, theta0, args, 0.0, t_max, rtol, atol, max_steps, event, 2.0)
    emerged = instant | seg.hit
    t_star = jnp.where(instant, 0.0, jnp.where(emerged, seg.t_event, jnp.nan))
    theta_star = jnp.where(instant, theta0, jnp.where(seg.hit, seg.y_event, seg.y))
    grown = emerged & (t_star > 0)
    # Where the dense output reaches: [0, 2 t*] after a head, the whole solve without one. A
    # stride-checked event may have let the solver step past 2 t*: read the end off the
    # interpolant there.
    t_end = jnp.where(emerged, 2 * t_star, seg.t)
    theta_end = jnp.where(instant, theta0, jnp.where(seg.t > t_end, seg.interp.evaluate(t_end), seg.y))

    key_idx = jnp.array(KEY_INDEX)

    def path(t):  # the key parameters and their sizes: (6,)
        key = model.effective(t, seg.interp.evaluate(jnp.minimum(t, seg.t)), clamp)[0][key_idx]
        return jnp.concatenate([key, jnp.abs(key)])

    theta_end_eff, strength = model.effective(t_end, theta_end, clamp)
    start_key = model.effective(0.0, theta0, clamp)[0][key_idx]
    starts = jnp.concatenate([start_key, jnp.abs(start_key)])
    level = jnp.full_like(start_key, EMERGENCE_LEVEL)
    crossings = _first_crossing(path, t_end, starts, jnp.concatenate([0.5 * theta_end_eff[key_idx], level]))
    halves = jnp.where(grown, crossings[:3], jnp.where(emerged, 0.0, jnp.nan))
    on_label, runner_up = model.label_weights(theta_end_eff, n_pairs, n_pad, strength)
    asked = query_weights(n_pairs, n_pad, model.query, theta0.dtype)
    label_attention = jnp.sum(on_label * asked)
    runner_up = jnp.sum(runner_up * asked)
    label_contrast = label_attention / jnp.maximum(runner_up, jnp.finfo(theta0.dtype).tiny)
    counts = jnp.stack([seg.steps, seg.fev, seg.jev]).astype(jnp.int32)
    return dict(
        t_star=t_star,
        emerged=emerged,
        half_times=halves,
        paper_times=crossings[3:],
        label_attention=jnp.where(emerged, label_attention, jnp.nan),
        label_contrast=jnp.where(emerged, label_contrast, jnp.nan),
        loss0=loss0,
        theta_star=model.effective(t_star, theta_star, clamp)[0],
        theta_end=theta_end_eff,
        counts=counts,
        solved=seg.ok,
    )


GSPMD_SOLVERS = ("kvaerno5",)
"""Solvers whose sweep program is partitioned by XLA (GSPMD) instead of run under
``jax.shard_map``: lineax's linear solves inside diffrax's ``Kvaerno5`` fail under
``shard_map`` (lineax#185). Checked with jax 0.10.2, diffrax 0.7.2 and lineax 0.1.1 on two
host devices: tracing the kvaerno5 sweep under ``shard_map`` stops in lineax's LU solve with
``ValueError: pytree does not match out_structure``."""


def sharded_program(batched: Callable, mesh: Mesh, solver: str):
    """``batched`` (a function of ``(theta0, n, free, clamp, t_max, rtol, atol)``, vmapped over
    the first five) jitted over the 1-D mesh ``("lengths",)``: the five batched arguments and the
    outputs split over the mesh's positions along their leading axis, ``rtol`` and ``atol``
    replicated.

    Under ``jax.shard_map`` (``bdf``, ``tsit5``) each device runs the vmapped solve on its own
    block of lanes: the loop condition "some lane still running" is local to the device, so no
    collective sits inside the integration loop and a device whose lanes are done stops
    stepping. Under GSPMD (:data:`GSPMD_SOLVERS`) XLA partitions the vmapped loop and its
    condition becomes an all-reduce over the devices at every step.

    ``check_vma=False``: the BDF solver's ``lax.cond`` branches return a per-lane array on one
    side and its unchanged carry on the other, which ``shard_map``'s type check of varying
    values refuses; every output is per-lane (split over the mesh), so the check adds nothing.

    Measured (``benchmarks/sharding.py``, the default model at N = 12…18, bdf, 2 shared CPU
    cores): 4 host devices took 5.67 ms per step under GSPMD and 1.92 ms under ``shard_map``;
    one device 3.11 and 3.38 ms (docs/performance.md).
    """
    lanes, scalar = PartitionSpec("lengths"), PartitionSpec()
    if solver not in GSPMD_SOLVERS:
        specs = dict(in_specs=(lanes,) * 5 + (scalar,) * 2, out_specs=lanes)
        batched = jax.shard_map(batched, mesh=mesh, check_vma=False, **specs)
    lengths, replicated = NamedSharding(mesh, lanes), NamedSharding(mesh, scalar)
    shardings = dict(in_shardings=(lengths,) * 5 + (replicated,) * 2, out_shardings=lengths)
    # keep_unused: an unclamped program ignores its clamp, whose inputs still need a sharding
    return jax.jit(batched, keep_unused=True, **shardings)


@functools.lru_cache(maxsize=64)
def compiled_emergence(
    model: Model,
    solver: str,
    n_pad: int,
    max_steps: int,
    mesh: Mesh,
    size: int,
    dtype_name: str,
    clamp_layout: str | None = None,
):
    """Compile the sweep step for ``size`` lengths padded to ``n_pad``.

    The executable maps ``(theta0 (size, 19), n (size,), free (size, 19), clamp, t_max (size,),
    rtol, atol)`` to the dict of :func:`~induction_ode.ode.emergence_core`, each entry with a
    leading ``size`` axis; ``clamp`` is a :class:`~induction_ode.clamp.ClampData` of
    :func:`~induction_ode.clamp.lane_data` arrays with the leading ``size`` axis, read as
    ``clamp_layout`` says (:func:`~induction_ode.clamp.layout`; ``None``: not at all).
    ``model.free`` and ``model.clamp`` must be ``None``: they are data. A cache miss here is one
    compilation. Single runs, sweeps, removal studies and clamps of one layout share these programs.
    """
    if model.free is not None or model.clamp is not None:
        raise ValueError("compiled_emergence takes free and clamp as data: pass program_model(model)")

    def one(theta0, n, free, clamp, t_max, rtol, atol):
        clamp = None if clamp_layout is None else clamp
        if clamp_layout == "values":
            clamp = clamp._replace(strengths=None)
        static = dict(model=model, solver=solver, n_pad=n_pad, max_steps=max_steps)
        return emergence_core(theta0, n, free, clamp, t_max, rtol, atol, **static)

    program = sharded_program(jax.vmap(one, in_axes=(0, 0, 0, 0, 0, None, None)), mesh, solver)
    dtype = PRECISIONS[dtype_name]
    lanes = lambda *shape: jax.ShapeDtypeStruct((size, *shape), dtype)  # noqa: E731
    shapes = (
        lanes(N_PARAMS),
        jax.ShapeDtypeStruct((size,), jnp.int32),
        lanes(N_PARAMS),
        ClampData(lanes(N_PARAMS), lanes(N_PARAMS), lanes(len(PATTERN_CLAMPS)), lanes()),
        lanes(),
        jax.ShapeDtypeStruct((), dtype),
        jax.ShapeDtypeStruct((), dtype),
    )
    cpu = mesh.devices.flat[0].platform == "cpu"
    return program.lower(*shapes).compile(compiler_options=CPU_COMPILER_OPTIONS if cpu else None)


def default_max_steps(n_pairs: int, solver: str) -> int:
    """Step budget of one solve (``bdf``: ``[0, 2 t_star]``; the diffrax solvers: each of
    ``[0, t_star]`` and ``[t_star, 2 t_star]``): ``max(16384, 2 T²)`` for ``tsit5`` (it needs
    about ``0.6 T²`` steps to reach ``2 t_star``), 16384 for ``kvaerno5`` (about 1,300 at
    ``N = 64``), 8192 for ``bdf`` (its dense output keeps ``8192 × 6 × 19`` numbers per
    length; 742 steps to ``2 t_star`` at ``N = 64``, 982 at ``N = 256``)."""
    solver = resolve_solver(solver, n_pairs)
    if solver == "tsit5":
        return max(16384, 2 * (2 * int(n_pairs) + 1) ** 2)
    return 8192 if solver == "bdf" else 16384


def step_budget(max_steps: int | None, n_max: int, solver: str) -> int:
    """``max_steps``, or :func:`default_max_steps` when ``None``."""
    return default_max_steps(n_max, solver) if max_steps is None else int(max_steps)


def default_t_max(n_pairs: int) -> float:
    """Default time limit ``20 T²``: generous, since the measured ``t_star`` stays below ``2 T²``."""
    return 20.0 * (2 * n_pairs + 1) ** 2


def to_emergence(n_pairs: int, t_max: float, solver: str, arrays: dict) -> Emergence:
    """Convert :func:`emergence_core`'s arrays (one length) to an :class:`Emergence`."""
    steps, fev, jev = (int(v) for v in np.asarray(arrays["counts"]))
    halves = {name: float(v) for name, v in zip(KEY_PARAMS, np.asarray(arrays["half_times"]))}
    paper = {name: float(v) for name, v in zip(KEY_PARAMS, np.asarray(arrays["paper_times"]))}
    order = tuple(sorted(KEY_PARAMS, key=lambda n: (np.nan_to_num(halves[n], nan=np.inf), n)))
    return Emergence(
        n_pairs=int(n_pairs),
        t_star=float(arrays["t_star"]),
        emerged=bool(arrays["emerged"]),
        half_times=halves,
        paper_times=paper,
        order=order,
        label_attention=float(arrays["label_attention"]),
        label_contrast=float(arrays["label_contrast"]),
        loss0=float(arrays["loss0"]),
        theta_star=np.asarray(arrays["theta_star"], np.float64),
        theta_end=np.asarray(arrays["theta_end"], np.float64),
        t_max=float(t_max),
        solver=solver,
        steps=steps,
        gradient_evals=None if fev < 0 else fev,
        jacobian_evals=None if jev < 0 else jev,
        solved=bool(arrays["solved"]),
    )


def emergence_time(
    n_pairs: int,
    t_max: float | None = None,
    *,
    model: Model | None = None,
    theta0=None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    precision: str = "float64",
    solver: str = "auto",
    max_steps: int | None = None,
) -> Emergence:
    """Emergence time ``t_star`` (first time with ``L ≤ ½ L(0)``), found by event root finding.

    ``L(0)`` is the unclamped loss at ``theta0`` (of ``model`` without its clamp), so clamped
    runs are measured against the same bar as unclamped ones. The ODE is then continued to
    ``2 t_star`` to find the half-times of α3, β2 and γ3 (see :class:`Emergence`). ``t_max``
    defaults to :func:`default_t_max`. Other arguments as in :func:`simulate`.
    """
    n_pairs = check_n_pairs(n_pairs)
    t_max = default_t_max(n_pairs) if t_max is None else check("t_max", t_max)
    check_values(rtol=rtol, atol=atol, max_steps=max_steps)
    dtype = check_precision(precision)
    model = check_model(model, n_pairs)
    solver = resolve_solver(solver, n_pairs)
    max_steps = step_budget(max_steps, n_pairs, solver)
    check_memory(model, n_pairs, solver, max_steps, precision, theta0=theta0)
    mesh = Mesh(np.array(jax.local_devices()[:1]), ("lengths",))
    static = program_model(model, theta0)  # the reduced closed form where it is exact
    program = compiled_emergence(static, solver, n_pairs, max_steps, mesh, 1, precision, layout(model.clamp))
    arrays = program(
        initial_theta(theta0, dtype)[None],
        jnp.asarray([n_pairs], jnp.int32),
        model.free_vector(dtype)[None],
        jax.tree.map(lambda a: a[None], lane_data(model.clamp, dtype)),
        jnp.asarray([t_max], dtype),
        jnp.asarray(rtol, dtype),
        jnp.asarray(atol, dtype),
    )
    return to_emergence(n_pairs, t_max, solver, jax.tree.map(lambda a: a[0], arrays))
