"""One trajectory through the library API: when does the induction head of N=8 emerge?

Run: python examples/quickstart.py   (about 20 seconds on 2 CPU cores, mostly compilation)
Writes quickstart.png (loss and the three key pseudo-parameters) in the current directory.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import induction_ode as io  # noqa: E402

e = io.emergence_time(8)
print(f"t* = {e.t_star:.2f} (gradient-flow time), order of half-times: {' < '.join(e.order)}")
traj = io.simulate(8, 2 * e.t_star, ts=np.linspace(0, 2 * e.t_star, 201))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
ax1.plot(traj.ts, traj.losses, color="black")
ax1.axvline(e.t_star, color="tab:red", ls="--", label=f"t* = {e.t_star:.1f}")
ax1.set(xlabel="gradient-flow time t", ylabel="population loss L", title="N = 8 (T = 17 tokens)")
ax1.legend()
for name in io.KEY_PARAMS:
    ax2.plot(
        traj.ts,
        traj.thetas[:, io.PARAM_NAMES.index(name)],
        label=f"{name} (half at {e.half_times[name]:.0f})",
    )
ax2.axvline(e.t_star, color="grey", ls="--")
ax2.set(xlabel="gradient-flow time t", ylabel="value", title="the three key pseudo-parameters")
ax2.legend(fontsize=8)
fig.savefig("quickstart.png", dpi=150)
print("wrote quickstart.png")
