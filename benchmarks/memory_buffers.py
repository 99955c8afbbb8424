"""XLA's buffer sizes of compiled emergence programs: the measurements behind the constants of
``induction_ode/memory.py``. Compiles (does not run) one program per row; prints the model
form, the solver, N, T and the temporary bytes XLA allocates for one length.

    python benchmarks/memory_buffers.py
"""

import jax
import numpy as np
from jax.sharding import Mesh

import induction_ode as io
from induction_ode.ode import compiled_emergence, step_budget
from induction_ode.reduced import program_model
from induction_ode.subspace import KEY_PARAMS

ROWS = [
    (None, "tsit5", 16),
    (None, "tsit5", 48),
    (None, "tsit5", 96),
    (None, "bdf", 16),
    (None, "bdf", 48),
    (None, "bdf", 96),
    (KEY_PARAMS, "bdf", 64),
    (KEY_PARAMS, "bdf", 256),
]

mesh = Mesh(np.array(jax.local_devices()[:1]), ("lengths",))
print("form     solver  N    T    temporary bytes")
for free, solver, n in ROWS:
    model = program_model(io.Model(free=free))
    program = compiled_emergence(model, solver, n, step_budget(None, n, solver), mesh, 1, "float64")
    form = "dense" if free is None else "reduced"
    print(f"{form:8} {solver:7} {n:<4} {2 * n + 1:<4} {program.memory_analysis().temp_size_in_bytes}")
