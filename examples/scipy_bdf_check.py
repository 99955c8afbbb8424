"""Cross-check the emergence of one length with SciPy's BDF (needs the bench extra).

    python examples/scipy_bdf_check.py N strict|inclusive T_END > check.json

Integrates the gradient flow of the default model (identity metric) from θ = 0 with
``scipy.integrate.solve_ivp(method="BDF")`` on the package's jitted gradient and exact Jacobian,
rtol 1e-8, atol 1e-10, with a terminal event at L = ½ L(0) = ¼, up to T_END. Prints the event
time (if any), the counts, the wall time and the loss on 41 points of the dense output.
"""

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.integrate import solve_ivp

from induction_ode.model import Model

n = int(sys.argv[1])
mask = sys.argv[2]
t_end = float(sys.argv[3])
model = Model(layer1_mask=mask)
rhs = jax.jit(lambda y: model.rhs(0.0, y, n, n))
jac = jax.jit(jax.jacfwd(lambda y: model.rhs(0.0, y, n, n)))
loss = jax.jit(lambda y: model.loss_at(0.0, y, n, n))
cnt = dict(f=0, j=0)


def f(t, y):
    cnt["f"] += 1
    return np.asarray(rhs(jnp.asarray(y)))


def j(t, y):
    cnt["j"] += 1
    return np.asarray(jac(jnp.asarray(y)))


def ev(t, y):
    return float(loss(jnp.asarray(y))) - 0.25


ev.terminal = True
t0 = time.time()
sol = solve_ivp(
    f, (0, t_end), np.zeros(19), method="BDF", jac=j, rtol=1e-8, atol=1e-10, events=ev, dense_output=True
)
ts = np.linspace(0, sol.t[-1], 41)
out = dict(
    n=n,
    mask=mask,
    t_event=[float(x) for x in sol.t_events[0]],
    t_last=float(sol.t[-1]),
    steps=int(sol.t.size - 1),
    fev=cnt["f"],
    jev=cnt["j"],
    wall=time.time() - t0,
    losses=[float(loss(jnp.asarray(sol.sol(t)))) for t in ts],
    ts=ts.tolist(),
    y_last=sol.y[:, -1].tolist(),
)
print(json.dumps(out))
