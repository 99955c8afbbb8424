"""The NDF (variable-order BDF) integrator: accuracy, order selection, Jacobian reuse, dense
output, events, native batching under vmap and sharding, and the step budget.

Every solver is jitted once per problem with the tolerance traced, to keep compilation (the
bulk of this file's run time) to one program per problem.
"""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import virtual_devices_env

from induction_ode.bdf import EVENT, FAILURE, MAX_STEPS, SUCCESS, BDFSolution, bdf_solve, bdf_solve_batched

RTOLS = (1e-4, 1e-6, 1e-8)
T_END = 10.0

# The dense output at many times, jitted (op-by-op dispatch would compile each primitive).
_dense = jax.jit(jax.vmap(BDFSolution.evaluate, in_axes=(None, 0)))


def _linear(t, y, a):
    return -a @ y


def _neg(t, y, a):
    return -a


@jax.jit
def _solve_linear(a, y0, rtol):
    """Stiff linear problem with a user Jacobian (the other problems use jax.jacfwd)."""
    return bdf_solve(_linear, 0.0, T_END, y0, a, rtol=rtol, atol=rtol * 1e-3, max_steps=1024, jac=_neg)


def _diag_problem():
    # -diag(1, 1e4) y, with a third decoupled component (rate 1e2) so that both linear
    # problems are 3-dimensional and share one compiled solver.
    a = np.diag([1.0, 1e4, 1e2])
    y0 = np.array([1.0, 1.0, 1.0])
    return a, y0, lambda t: np.exp(-np.diag(a) * t) * y0


def _full_problem():
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    a = q @ np.diag([1.0, 1e4, 1e2]) @ q.T
    a = 0.5 * (a + a.T)
    y0 = np.array([1.0, -0.5, 0.25])
    w, v = np.linalg.eigh(a)
    return a, y0, lambda t: v @ (np.exp(-w * t) * (v.T @ y0))


@pytest.fixture(scope="module")
def linear_runs():
    """{(name, rtol): (solution, exact)} for both stiff linear problems at the three rtols."""
    runs = {}
    for name, problem in (("diag", _diag_problem), ("full", _full_problem)):
        a, y0, exact = problem()
        for rtol in RTOLS:
            runs[name, rtol] = (_solve_linear(a, y0, rtol), exact)
    return runs


# The global error at T_END in units of rtol, measured for each (problem, rtol): the solution has
# decayed to ~e^-10 of |y0| = O(1) there, so the absolute error is far below rtol.
END_ERRORS = {
    ("diag", 1e-4): 0.0018,
    ("diag", 1e-6): 0.0058,
    ("diag", 1e-8): 0.013,
    ("full", 1e-4): 0.00082,
    ("full", 1e-6): 0.0031,
    ("full", 1e-8): 0.0078,
}
# The dense output's largest error on [0, T_END] of the full problem, in units of rtol (measured).
DENSE_ERRORS = {1e-4: 0.062, 1e-6: 0.25, 1e-8: 0.66}


@pytest.mark.parametrize("name", ["diag", "full"])
def test_stiff_linear_converges(linear_runs, name):
    """The error at T_END within 10x of the value measured for each rtol (:data:`END_ERRORS`),
    and falling with rtol."""
    errors = []
    for rtol in RTOLS:
        sol, exact = linear_runs[name, rtol]
        assert int(sol.result) == SUCCESS and float(sol.t) == T_END
        errors.append(np.max(np.abs(np.asarray(sol.y) - exact(T_END))))
        assert errors[-1] < 10 * END_ERRORS[name, rtol] * rtol, (rtol, errors[-1])
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("name", ["diag", "full"])
def test_jacobian_reuse(linear_runs, name):
    for rtol in RTOLS:
        stats = {k: int(v) for k, v in linear_runs[name, rtol][0].stats.items()}
        assert stats["num_steps"] == stats["num_accepted"] + stats["num_rejected"]
        # A constant Jacobian never goes stale: one evaluation (at t0) serves every step.
        assert stats["num_jev"] < stats["num_steps"] / 5
        assert stats["num_jev"] == 1
        assert stats["num_lu"] < stats["num_steps"]  # the LU is kept at constant step size
        assert stats["num_fev"] >= stats["num_steps"]


def test_dense_output_stiff(linear_runs):
    for rtol in RTOLS:
        sol, exact = linear_runs["full", rtol]
        ts = np.linspace(0.0, T_END, 301)
        ys = np.asarray(_dense(sol, ts))
        # The interpolant carries the local error of each step, so it is less accurate than
        # the step ends: within 10x of the measured DENSE_ERRORS.
        assert np.max(np.abs(ys - np.array([exact(t) for t in ts]))) < 10 * DENSE_ERRORS[rtol] * rtol
        np.testing.assert_array_equal(np.asarray(sol.evaluate(sol.t)), np.asarray(sol.y))
        np.testing.assert_array_equal(np.asarray(sol.evaluate(-1.0)), np.asarray(sol.y0))


def _scalar(t, y, a):
    """``y' = -k y + s sin t``; the nonstiff and the event tests share this compiled solver."""
    return -a["k"] * y + a["s"] * jnp.sin(t)


def _below(t, y, a):
    return y[0] - a["level"]


@jax.jit
def _solve_scalar(y0, args, rtol, atol):
    return bdf_solve(_scalar, 0.0, 20.0, y0, args, rtol=rtol, atol=atol, max_steps=1024, event=_below)


def _forced_exact(t):
    return 1.5 * np.exp(-t) + 0.5 * (np.sin(t) - np.cos(t))


FORCED = dict(k=1.0, s=1.0, level=-np.inf)  # the event never fires
DECAY = dict(k=1.0, s=0.0, level=0.5)


def test_nonstiff_order_selection_and_dense_output():
    for rtol in (1e-4, 1e-8):
        sol = _solve_scalar(jnp.array([1.0]), FORCED, rtol, rtol * 1e-2)
        assert int(sol.result) == SUCCESS and not bool(sol.event)
        count = int(sol.count)
        assert count == int(sol.stats["num_accepted"])
        orders = np.asarray(sol.orders[:count])
        # A smooth non-stiff solution drives the order up to 5 (measured: most steps at 5).
        assert orders.max() == 5 and np.mean(orders > 2) > 0.5
        assert np.all(np.diff(np.asarray(sol.ts[:count])) > 0)
        assert np.all(np.isinf(np.asarray(sol.ts[count:])))
        # Error of the end point and of the dense output (measured: 0.58 and 1.8 rtol at rtol
        # 1e-4, 2.6 and 7.6 rtol at 1e-8; the bound is 1.3-17x of them).
        assert abs(float(sol.y[0]) - _forced_exact(20.0)) < 10 * rtol
        ts = np.linspace(0.0, 20.0, 401)
        ys = np.asarray(_dense(sol, ts))[:, 0]
        assert np.max(np.abs(ys - _forced_exact(ts))) < 10 * rtol


def test_event_log2():
    sol = _solve_scalar(jnp.array([1.0]), DECAY, 1e-11, 1e-13)
    assert bool(sol.event) and int(sol.result) == EVENT
    # The root is found to 64 ulps; what is left is the interpolant's error at rtol = 1e-11
    # (measured: 2e-10 relative).
    assert float(sol.t) == pytest.approx(np.log(2.0), rel=1e-9)
    assert float(sol.y[0]) == pytest.approx(0.5, abs=1e-10)
    np.testing.assert_array_equal(np.asarray(sol.evaluate(sol.t)), np.asarray(sol.y))
    # The dense buffers cover [t0, t_event].
    count = int(sol.count)
    assert float(sol.ts[count - 1]) >= float(sol.t) > float(sol.ts[count - 2])
    ts = np.linspace(0.0, float(sol.t), 50)
    np.testing.assert_allclose(np.asarray(_dense(sol, ts))[:, 0], np.exp(-ts), rtol=1e-9)


def test_event_stride_and_continue():
    """An event checked every 4th step finds the root that every step finds (the decay passes
    its level once); continued, the solve goes on to 2 t_event."""
    sol = jax.jit(
        lambda y0, args: bdf_solve(
            _scalar,
            0.0,
            20.0,
            y0,
            args,
            rtol=1e-11,
            atol=1e-13,
            max_steps=1024,
            event=_below,
            event_stride=4,
            event_continue=2.0,
        )
    )(jnp.array([1.0]), DECAY)
    every = _solve_scalar(jnp.array([1.0]), DECAY, 1e-11, 1e-13)
    assert bool(sol.event) and int(sol.result) == SUCCESS
    assert float(sol.t_event) == float(every.t)
    np.testing.assert_array_equal(np.asarray(sol.y_event), np.asarray(every.y))
    assert float(sol.t) == 2 * float(every.t)
    assert float(sol.y[0]) == pytest.approx(0.25, abs=1e-10)
    # The same steps up to the event, then on to the new end.
    n = int(every.count)
    np.testing.assert_array_equal(np.asarray(sol.ts[:n]), np.asarray(every.ts[:n]))
    assert int(sol.count) > n and float(sol.ts[int(sol.count) - 1]) == float(sol.t)


def test_event_at_t0():
    sol = _solve_scalar(jnp.array([0.4]), DECAY, 1e-11, 1e-13)
    assert bool(sol.event) and int(sol.result) == EVENT
    assert float(sol.t) == 0.0 and float(sol.y[0]) == 0.4
    assert int(sol.count) == 0 and int(sol.stats["num_steps"]) == 0


# ---- batching: Van der Pol lanes of different stiffness, some ending by the event.


def _vdp(t, y, mu):
    return jnp.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])


def _vdp_one(y0, mu, level, t1):
    """The event level is closed over (a traced, under vmap batched, constant)."""
    return bdf_solve(
        _vdp, 0.0, t1, y0, mu, rtol=1e-6, atol=1e-8, max_steps=1024, event=lambda t, y, a: y[0] - level
    )


VDP_Y0 = np.array([[2.0, 0.0], [2.0, 0.0], [1.5, 0.3], [2.0, 0.0], [-1.5, 0.0]])
VDP_MU = np.array([1.0, 10.0, 100.0, 1000.0, 30.0])
VDP_LEVEL = np.array([-1.0, -1.0, -1.0, -1.0, -1.0])
VDP_T1 = np.array([3000.0, 3000.0, 3000.0, 500.0, 3000.0])


def _check_same(a: BDFSolution, b: BDFSolution):
    """Batched vs single run: equal up to the roundoff of batched evaluations of fun."""
    np.testing.assert_allclose(np.asarray(a.t), np.asarray(b.t), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(a.y), np.asarray(b.y), rtol=1e-10, atol=1e-12)
    for key in a.stats:
        np.testing.assert_array_equal(np.asarray(a.stats[key]), np.asarray(b.stats[key]), key)
    np.testing.assert_array_equal(np.asarray(a.result), np.asarray(b.result))
    np.testing.assert_array_equal(np.asarray(a.count), np.asarray(b.count))


def test_vmap_keeps_the_conds():
    """Under vmap the custom rule runs the batched core, whose lax.conds (Jacobian, LU, event
    root search) have scalar predicates. Plain batching of the unbatched solver would turn
    each into a select that runs both branches, i.e. a Jacobian in every iteration."""
    lane = (VDP_Y0[0], VDP_MU[0], VDP_LEVEL[0], VDP_T1[0])
    single = str(jax.make_jaxpr(_vdp_one)(*lane))
    batched = str(jax.make_jaxpr(jax.vmap(_vdp_one))(VDP_Y0, VDP_MU, VDP_LEVEL, VDP_T1))
    assert single.count("cond[") == batched.count("cond[") == 3


def test_vmap_equals_single_runs():
    batched = jax.jit(jax.vmap(_vdp_one))(VDP_Y0, VDP_MU, VDP_LEVEL, VDP_T1)
    single = jax.jit(_vdp_one)
    results, jevs = [], []
    for i in range(len(VDP_MU)):
        one = single(VDP_Y0[i], VDP_MU[i], VDP_LEVEL[i], VDP_T1[i])
        _check_same(jax.tree.map(lambda x, i=i: x[i], batched), one)
        results.append(int(one.result))
        jevs.append(int(one.stats["num_jev"]))
    assert results == [EVENT, EVENT, EVENT, SUCCESS, EVENT]
    # Each lane kept its own Jacobian schedule (checked equal above), and they differ.
    assert len(set(jevs)) >= 3, jevs
    # Stiff lane (mu = 1000): the Jacobian is reused over many steps.
    assert jevs[3] < int(batched.stats["num_steps"][3]) / 5
    # The lane whose event holds at t0 returns at once.
    assert float(batched.t[4]) == 0.0 and int(batched.stats["num_steps"][4]) == 0


SHARDED = textwrap.dedent("""
    import json
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import induction_ode.task  # float64
    from induction_ode.bdf import bdf_solve

    def vdp(t, y, mu):
        return jnp.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])

    def one(y0, mu):
        return bdf_solve(vdp, 0.0, 200.0, y0, mu, rtol=1e-6, atol=1e-8, max_steps=1024,
                         event=lambda t, y, a: y[0] + 1.0)

    assert jax.device_count() == 4
    mu = jnp.array([1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 2.0, 20.0])
    y0 = jnp.stack([jnp.full(8, 2.0), jnp.linspace(0.0, 0.5, 8)], axis=1)
    mesh = Mesh(np.array(jax.devices()), ("b",))
    lanes = NamedSharding(mesh, P("b"))
    ref = jax.jit(jax.vmap(one))(y0, mu)
    sharded = jax.jit(jax.vmap(one), in_shardings=(lanes, lanes), out_shardings=lanes)(y0, mu)
    out = {}
    for name, sol in (("sharded", sharded),):
        out[name] = dict(
            t=float(jnp.max(jnp.abs(sol.t - ref.t) / jnp.abs(ref.t))),
            y=float(jnp.max(jnp.abs(sol.y - ref.y))),
            stats=all(bool(jnp.all(sol.stats[k] == ref.stats[k])) for k in ref.stats),
            result=[int(r) for r in sol.result])
    out["ref_result"] = [int(r) for r in ref.result]
    out["devices"] = len(sharded.t.sharding.device_set)
    print(json.dumps(out))
""")


def test_sharded_equals_single_device():
    env = virtual_devices_env(4)
    proc = subprocess.run(
        [sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4
    for name in ("sharded",):
        assert out[name]["t"] < 1e-10 and out[name]["y"] < 1e-10, out
        assert out[name]["stats"], out
        assert out[name]["result"] == out["ref_result"], out
    assert set(out["ref_result"]) == {SUCCESS, EVENT}, out


def test_batched_entry_max_steps_failure_float32():
    """bdf_solve_batched on three float32 lanes: out of steps, success, and a NaN state."""
    a = np.diag([1.0, 1e4]).astype(np.float32)
    y0 = np.array([[1.0, 1.0], [1.0, 1.0], [np.nan, 1.0]], np.float32)
    t1 = np.array([0.5, 1e-4, 0.5], np.float32)  # 0.5 needs ~90 steps, 1e-4 ~16
    sol = jax.jit(
        lambda y0, t1: bdf_solve_batched(
            lambda t, y, _: -jnp.asarray(a) @ y,
            0.0,
            t1,
            y0,
            None,
            rtol=1e-4,
            atol=1e-7,
            max_steps=64,
            jac=lambda t, y, _: -jnp.asarray(a),
        )
    )(y0, t1)
    assert sol.y.dtype == jnp.float32 and sol.ts.dtype == jnp.float32
    assert sol.t.dtype == jnp.float32 and sol.ds.shape == (3, 64, 6, 2)
    assert [int(r) for r in sol.result] == [MAX_STEPS, SUCCESS, FAILURE]
    assert int(sol.stats["num_steps"][0]) == 64 and float(sol.t[0]) < 0.5
    np.testing.assert_array_equal(np.asarray(sol.count), np.asarray(sol.stats["num_accepted"]))
    first = jax.tree.map(lambda x: x[0], sol)
    np.testing.assert_array_equal(np.asarray(first.evaluate(first.t)), np.asarray(first.y))
    # float32 at rtol = 1e-4: the error is tolerance-limited, not roundoff-limited.
    assert float(sol.t[1]) == np.float32(1e-4)
    exact = np.exp(-np.array([1.0, 1e4]) * 1e-4)
    assert np.max(np.abs(np.asarray(sol.y[1]) - exact)) < 10 * 1e-4
    # The NaN lane stops at once, and does not disturb the others.
    assert int(sol.count[2]) == 0
