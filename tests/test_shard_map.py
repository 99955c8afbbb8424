"""Each device steps on its own (issue 33): the bdf sweep program, compiled for a mesh of two
virtual CPU devices, has no collective inside its integration loop, and its results equal
the one-device sweep's.

One subprocess (JAX fixes its device count at start-up) compiles three programs, so the test
is marked ``slow``; ``.ci/run`` runs it in a step of its own.
"""

import json
import re
import subprocess
import sys

import pytest
from conftest import virtual_devices_env

SCRIPT = """
import json
import jax, numpy as np
from jax.sharding import Mesh
from induction_ode import KEY_PARAMS, Model, ode
from induction_ode.reduced import program_model
from induction_ode.sweeps import sweep

lengths, model = [2, 3, 4], Model(free=KEY_PARAMS)
two = sweep(lengths, model=model, solver="bdf")
mesh = Mesh(np.array(jax.devices()), ("lengths",))
program = lambda: ode.compiled_emergence(program_model(model), "bdf", 4, 8192, mesh, 4, "float64")
hlo = program().as_text()  # the sweep's own program (cached)
ode.compiled_emergence.cache_clear()
ode.GSPMD_SOLVERS = ("bdf",)  # the partitioning before issue 33: the control
gspmd = program().as_text()
ode.GSPMD_SOLVERS = ("kvaerno5",)
one = sweep(lengths, model=model, solver="bdf", devices=jax.devices()[:1])
rows = lambda res: [[r.t_star, r.steps, r.theta_end.tolist()] for r in res.results]
print(json.dumps(dict(devices=list(two.devices), hlo=hlo, gspmd=gspmd, two=rows(two), one=rows(one))))
"""

COLLECTIVES = re.compile(r"\b(all-reduce|all-gather|all-to-all|collective-permute|reduce-scatter)(-start)?\(")
CALLED = re.compile(r"(?:body|condition|to_apply|calls|true_computation|false_computation)=%?([\w.\-]+)")
BRANCHES = re.compile(r"branch_computations=\{([^}]*)\}")


def computations(hlo: str) -> dict[str, str]:
    """``{name: text}`` of the computations of an HLO module's text."""
    found = {}
    for block in re.split(r"\n(?=\S)", hlo):
        m = re.match(r"(?:ENTRY\s+)?%?([\w.\-]+)\s", block)
        if m:
            found[m.group(1)] = block
    return found


def loop_collectives(hlo: str) -> list[str]:
    """The collective instructions in the computations a ``while`` runs (its body and
    condition, and whatever they call, transitively)."""
    comps = computations(hlo)
    loops = re.findall(r"\bwhile\(.*?(?:body|condition)=%?([\w.\-]+).*?(?:body|condition)=%?([\w.\-]+)", hlo)
    todo = [name for pair in loops for name in pair]
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in comps:
            continue
        seen.add(name)
        text = comps[name]
        todo += CALLED.findall(text)
        todo += [n.strip().lstrip("%") for group in BRANCHES.findall(text) for n in group.split(",")]
    return [m.group(0) for name in seen for m in COLLECTIVES.finditer(comps[name])]


@pytest.mark.slow
def test_bdf_sweep_has_no_collective_in_its_loop():
    args, env = [sys.executable, "-c", SCRIPT], virtual_devices_env(2)
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["devices"]) == 2
    assert loop_collectives(out["gspmd"]), "the control (GSPMD) shows no all-reduce: the test sees nothing"
    assert loop_collectives(out["hlo"]) == []
    assert not COLLECTIVES.search(out["hlo"])  # none anywhere: the lanes never meet
    for (t2, steps2, end2), (t1, steps1, end1) in zip(out["two"], out["one"]):
        assert steps2 == steps1
        assert abs(t2 - t1) <= 1e-12 * abs(t1)
        assert max(abs(a - b) for a, b in zip(end2, end1)) <= 1e-12 * max(abs(b) for b in end1)
