"""The ladder (issue 34): option errors, the summaries on synthetic numbers (no JAX compilation),
and, marked slow, ``ladder --quick`` end to end against the crosscheck's tolerance."""

import json
import math

import numpy as np
import pytest
from printed import WIDTH
from typer.testing import CliRunner

from induction_ode.cli import app
from induction_ode.ladder.run import passed_twice
from induction_ode.ladder.rungs import BEFORE, RUNGS, select_rungs
from induction_ode.ladder.summary import ODE_ORDER, compare, exponent, summarise_rung

runner = CliRunner(env=WIDTH)

# The crosscheck's measured tolerance (tests/test_crosscheck.py): the full-weight network's t*
# over the ODE's within 5 % (measured 1.003–1.007 at batch >= 4096, N = 2 and 3).
T_STAR_TOLERANCE = 0.05


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "0"], "--seeds"),
        (["--lr", "0"], "--lr"),
        (["--batch", "-1"], "--batch"),
        (["--budget", "nan"], "--budget"),
        (["--records", "0"], "--records"),
        (["--n-pairs", "2,x"], "--n-pairs"),
        (["--n-pairs", "0"], "--n-pairs"),
        (["--width", "3", "--n-pairs", "2"], "--width"),
        (["--rungs", "R0,R9"], "R9"),
        (["--device", "tpu9"], "--device"),
        (["--precision", "float16"], "--precision"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path):
    result = runner.invoke(app, ["ladder", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0
    assert not (tmp_path / "ladder.json").exists()


def test_rungs_change_one_thing_each():
    names = [r.name for r in RUNGS]
    assert names[0] == "R0" and set(BEFORE) == set(names[1:])
    fields = ("family", "init", "loss", "optimizer", "heads", "positions")
    for rung in RUNGS[1:]:
        base = next(r for r in RUNGS if r.name == BEFORE[rung.name])
        changed = [f for f in fields if getattr(rung, f) != getattr(base, f)]
        assert len(changed) <= 2, (rung.name, changed)  # family changes carry their defaults
    assert [r.name for r in select_rungs("R3, R0")] == ["R0", "R3"]  # ladder order
    with pytest.raises(ValueError, match="unknown rung"):
        select_rungs("")


def test_exponent_recovers_a_known_power_and_its_interval_covers_it():
    rng = np.random.default_rng(0)
    seq = np.array([5.0, 9.0, 17.0, 33.0])
    steps = 3.0 * seq[:, None] ** 1.4 * np.exp(0.05 * rng.standard_normal((4, 6)))
    out = exponent(seq, steps)
    assert out["seeds"]["low"] < 1.4 < out["seeds"]["high"]
    assert out["seeds"]["n"] == 6 and abs(out["of_means"] - 1.4) < 0.05
    steps[1, 2] = np.nan  # a seed that did not reach its phase change at one length
    out = exponent(seq, steps)
    assert out["seeds"]["n"] == 6 and math.isfinite(out["of_means"])
    wrong = exponent(seq, 3.0 * seq[:, None] ** 2.0 * np.ones((4, 6)))
    assert abs(wrong["seeds"]["mean"] - 2.0) < 1e-9 and not wrong["seeds"]["low"] < 1.4


def _rung(name, family, steps, orders, time_per_step=None):
    points = [
        dict(n_pairs=n, seq_len=2 * n + 1, steps=list(s), orders=list(o), time_per_step=time_per_step)
        for n, s, o in zip((2, 4, 8), steps, orders)
    ]
    return summarise_rung(dict(name=name, family=family, points=points))


def test_summary_and_comparison_shape():
    ode = _rung("R0", "ode", [[10.0], [30.0], [90.0]], [[ODE_ORDER]] * 3, time_per_step=1.0)
    net = _rung(
        "R1",
        "network",
        [[20.0, 21.0], [61.0, 59.0], [182.0, 178.0]],
        [[ODE_ORDER, ODE_ORDER], [ODE_ORDER, "beta2 < gamma3 < alpha3"], [ODE_ORDER, ODE_ORDER]],
        time_per_step=0.5,
    )
    assert ode["exponent"]["seeds"]["n"] == 1 and math.isnan(ode["exponent"]["seeds"]["low"])
    assert net["points"][1]["order_counts"] == {ODE_ORDER: 1, "beta2 < gamma3 < alpha3": 1}
    assert net["ode_order_fraction"] == [1.0, 0.5, 1.0] and net["order"] == ODE_ORDER
    c = compare(net, ode)
    assert c["before"] == "R0" and c["same_order"]
    ratios = [r["mean"] for r in c["step_ratio"]]  # step × lr / t*
    assert np.allclose(ratios, [1.025, 1.0, 1.0])
    assert abs(c["exponent_difference"]["mean"]) < 0.05
    json.dumps(c), json.dumps(net)


def test_training_stops_once_every_seed_has_passed_twice_its_step():
    steps = np.arange(6) * 10.0
    losses = np.array([[1, 0.9, 0.4, 0.3, 0.2, 0.1], [1, 0.95, 0.9, 0.45, 0.3, 0.2]])
    assert not passed_twice(steps[:5], losses[:, :5])  # seed 1 crosses at ~29: needs step 58
    assert passed_twice(np.arange(7) * 10.0, np.hstack([losses, [[0.1], [0.1]]]))
    assert not passed_twice(steps, np.ones((2, 6)))


@pytest.mark.slow
def test_quick_ladder_matches_the_ode(tmp_path):
    """``ladder --quick``: R1's emergence step × lr against R0's t* within the crosscheck's
    tolerance at every N, every seed; the record reads back and redraws."""
    result = runner.invoke(app, ["ladder", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "ladder.json").read_text())
    assert record["kind"] == "ladder" and [r["name"] for r in record["rungs"]] == ["R0", "R1"]
    (ode, net), lr = record["rungs"], record["config"]["lr"]
    for p_ode, p_net in zip(ode["points"], net["points"]):
        t_star = p_ode["steps"][0]
        for step in p_net["steps"]:
            assert abs(step * lr / t_star - 1) < T_STAR_TOLERANCE, (p_net["n_pairs"], step * lr, t_star)
        assert p_net["ran_steps"] * lr >= 2 * t_star * (1 - T_STAR_TOLERANCE)  # ran past 2 s*
    assert record["comparisons"][0]["rung"] == "R1"
    for name in ("ladder_steps.png", "ladder_order.png"):
        assert (tmp_path / name).stat().st_size > 1000
    again = runner.invoke(app, ["plot", str(tmp_path / "ladder.json")])
    assert again.exit_code == 0, again.output
