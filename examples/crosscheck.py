"""Train the full-weight network (N=3, d=8) by gradient descent and compare it with the ODE.

Run: python examples/crosscheck.py   (about 2 minutes on 2 CPU cores)
Prints the summary and writes crosscheck.png in the current directory.
"""

import json
from pathlib import Path

from induction_ode import crosscheck
from induction_ode.plots import crosscheck_figure

check = crosscheck(3, 8)  # batch 32768, 900 steps at lr 1, strict layer-1 mask
summary = {
    k: check.to_json()[k]
    for k in (
        "max_off_subspace_fraction",
        "max_trajectory_rel_error",
        "t_star_ode",
        "t_star_full",
        "t_star_ratio",
        "wall_full",
        "wall_ode",
        "settings",
    )
}
print(json.dumps(summary, indent=2))
print("wrote", crosscheck_figure(check.to_json(), Path("crosscheck.png")))
