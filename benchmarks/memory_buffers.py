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
    ("dense", io.DenseModel(), "tsit5", 16),
    ("dense", io.DenseModel(), "tsit5", 48),
    ("dense", io.DenseModel(), "tsit5", 96),
    ("dense", io.DenseModel(), "bdf", 16),
    ("dense", io.DenseModel(), "bdf", 48),
    ("dense", io.DenseModel(), "bdf", 96),
    ("reduced", io.Model(free=KEY_PARAMS), "bdf", 64),
    ("reduced", io.Model(free=KEY_PARAMS), "bdf", 256),
    ("structured, uniform MSE", io.Model(), "bdf", 64),
    ("structured, uniform MSE", io.Model(), "bdf", 256),
    ("structured, last", io.Model(query="last"), "bdf", 64),
    ("structured, last", io.Model(query="last"), "bdf", 256),
    ("structured, uniform CE", io.Model(loss="ce"), "bdf", 32),
    ("structured, uniform CE", io.Model(loss="ce"), "bdf", 64),
]

mesh = Mesh(np.array(jax.local_devices()[:1]), ("lengths",))
print("form                     solver  N    T    temporary bytes", flush=True)
for form, model, solver, n in ROWS:
    budget = step_budget(None, n, solver)
    program = compiled_emergence(program_model(model), solver, n, budget, mesh, 1, "float64")
    temporary = program.memory_analysis().temp_size_in_bytes
    print(f"{form:24} {solver:7} {n:<4} {2 * n + 1:<4} {temporary}", flush=True)
