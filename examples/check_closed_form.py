"""Check the closed form against the explicit network at the end state of a sweep record.

    python examples/check_closed_form.py runs/strict_192/results.json [N]

For the length N of the record (default: its largest), evaluates the loss and its gradient at
θ(2t*) (or at θ(t_max) if no head formed) with the fast closed form and with the explicit
network on the N canonical sequences (O(T⁴): about 20 s at N = 192 on 2 CPU cores), and prints
both with their differences.
"""

import json
import sys

import jax
import jax.numpy as jnp

from induction_ode import population_loss, population_loss_direct
from induction_ode.records import model_of, read_json

record = read_json(sys.argv[1])
rows = {r["n_pairs"]: r for r in record["lengths"]}
n = int(sys.argv[2]) if len(sys.argv) > 2 else max(rows)
model = model_of(record["config"])
theta = jnp.asarray(rows[n]["theta_end"], jnp.float64)
fast, g_fast = jax.value_and_grad(population_loss)(theta, n, model=model)
direct, g_direct = jax.value_and_grad(population_loss_direct)(theta, n, model=model)
print(
    json.dumps(
        dict(
            n_pairs=n,
            layer1_mask=model.layer1_mask,
            positions=model.positions,
            loss_fast=float(fast),
            loss_direct=float(direct),
            loss_rel_diff=abs(float(fast) - float(direct)) / abs(float(direct)),
            grad_max_abs_diff=float(jnp.max(jnp.abs(g_fast - g_direct))),
            grad_max_abs=float(jnp.max(jnp.abs(g_direct))),
        ),
        indent=2,
    )
)
