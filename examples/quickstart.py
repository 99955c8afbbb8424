"""One trajectory through the library API: when does the induction head of N=8 emerge?

Run: python examples/quickstart.py   (about 20 seconds on 2 CPU cores, mostly compilation)
"""

import numpy as np

import induction_ode as io

e = io.emergence_time(8)
print(f"t* = {e.t_star:.2f} (gradient-flow time), order of half-times: {' < '.join(e.order)}")
traj = io.simulate(8, 2 * e.t_star, ts=np.linspace(0, 2 * e.t_star, 9))
key = [io.PARAM_NAMES.index(name) for name in io.KEY_PARAMS]
for t, loss, theta in zip(traj.ts, traj.losses, traj.thetas):
    a3, b2, g3 = theta[key]
    print(f"t={t:8.1f}  L={loss:.4f}  alpha3={a3:+.3f}  beta2={b2:+.3f}  gamma3={g3:+.3f}")
