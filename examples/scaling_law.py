"""How does the emergence time grow with context length? One sweep, one fit, one figure.

Run: python examples/scaling_law.py   (about 30 seconds on 2 CPU cores)
Writes scaling_law.png in the current directory.
"""

from pathlib import Path

import induction_ode as io
from induction_ode.plots import scaling_figure
from induction_ode.scaling import fit_power_law, local_exponents

result = io.sweep([2, 4, 8, 16, 32], group_size=1)
fit = fit_power_law(result.seq_len, result.t_star, last=3)
print("T:  ", result.seq_len.tolist())
print("t*: ", [round(t, 2) for t in result.t_star])
print("local exponents:", local_exponents(result.seq_len, result.t_star).round(3).tolist())
print(f"fit over the 3 largest T: t* ~ {fit.c:.3g} T^{fit.p:.3f} ± {fit.p_err:.3f}")
lengths = [dict(seq_len=int(T), t_star=float(t)) for T, t in zip(result.seq_len, result.t_star)]
print("wrote", scaling_figure(dict(lengths=lengths, fit=fit._asdict()), Path("scaling_law.png")))
