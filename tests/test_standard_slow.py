"""Issue 12's trained-model checks at Singh et al.'s size (D = 64, 8 heads, N = 4, 2000 Adam
steps): a few CPU minutes, so marked ``slow``. Fast versions are in tests/test_standard.py."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from induction_ode.cli import app
from induction_ode.standard.metrics import ablation_table
from induction_ode.standard.model import ModelConfig
from induction_ode.standard.task import Task
from induction_ode.standard.training import TrainConfig, held_out_batch, train
from induction_ode.standard.weights import structure

pytestmark = pytest.mark.slow

TASK = Task(n_pairs=4)
CFG = TrainConfig(steps=2000, lr=1e-3, batch=32, eval_every=50)
ROPE = ModelConfig()
LEARNED = ModelConfig(positions="learned")


@pytest.fixture(scope="module")
def rope_run():
    return train(TASK, ROPE, CFG)


def test_trained_model_has_induction_and_previous_token_heads(rope_run):
    assert rope_run.induction[-1].max() > 0.5
    assert rope_run.previous_token[-1].max() > 0.5


def test_ablating_every_layer2_head_gives_chance(rope_run):
    table = ablation_table(rope_run.params, ROPE, held_out_batch(TASK, CFG))
    assert table["full"] > 0.8
    assert abs(table["no_layer2"] - 1 / 4) < 0.06  # 512 sequences: standard error 0.019


def test_match_copy_removes_the_plateau(rope_run):
    ref = rope_run.phase_step()
    both = train(TASK, ROPE, CFG, "match+copy").phase_step(rope_run.loss[0])
    assert np.isfinite(ref) and both < 0.2 * ref


def test_previous_token_subdiagonal_is_three_times_the_untrained_score():
    run = train(TASK, LEARNED, CFG)
    kw = dict(previous_token=run.previous_token[-1], induction=run.induction[-1])
    after = structure(run.params, LEARNED, TASK, **kw)["pos_qk"]
    before = structure(run.params0, LEARNED, TASK, **kw)["pos_qk"]
    assert after["head"] == before["head"]
    assert after["score"] >= 3 * before["score"]


def test_command_with_the_ode_comparison(tmp_path):
    args = ["standard", "--n-pairs", "2", "--heads", "2", "--d-model", "16", "--steps", "40"]
    args += ["--eval-every", "20", "--clamps", "none,match,match@1,match+copy", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "standard.json").read_text())
    ode = {r["clamp"]: r for r in record["ode"]["table"]}
    assert set(ode) == {"none", "match", "match+copy"}  # match@1 has no ODE counterpart
    rows = {r["clamp"]: r for r in record["comparison"]}
    assert rows["match+copy"]["ode_t_star"] == 0.0 and rows["match@1"]["ode_t_star"] is None
    assert rows["none"]["ode_t_star"] == pytest.approx(ode["none"]["t_star"])
    progress = record["progress"]["ode"]  # the ODE's half-times under the same loss (ce)
    assert "loss='ce'" in progress["call"] and set(progress["relative"]) == {"alpha3", "beta2", "gamma3"}
