"""The full model's Appendix-B preset against the authors' saved run, and the command that runs it.

The saved values below are from GitHub ``gszfwsb/Unveiling-Induction-Heads``, commit
``68b04df96ff501e01fd80da0f8baef1744e37361``, file ``RPE/results_paper/NGram/Full_parent2_n10000_
L100_S3_H3_lr0.001_optsgd_w+1.0_w-0.01_D2_alpha0.1_n-epochs10000_[True, True].npz`` (the run their
``RPE/plot_full.ipynb`` marks as "the experiment in the paper, appendix B"; float32). The
repository has no licence, so the file itself is not shipped; ``examples/appendix_b.py`` compares
the whole run.
"""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from induction_ode.cli import app
from induction_ode.ngram import feature_weights, fixed_sample, preset, train_full
from induction_ode.ngram.model import Architecture
from induction_ode.ngram.saved import remap_subsets, subset_index

# Their subsets, as bit strings over (token, h0, h1, h2), in the order of their arrays.
SAVED_BITS = ("0000", "0001", "0010", "0011", "0100", "0101", "0110")
# C_list[k] and a_list[k]: the parameters after k = 0 and k = 10 steps.
SAVED_C = {
    0: [0.009999999776482582] * 7,
    10: [
        0.009998035617172718,
        0.01000237837433815,
        0.010003162547945976,
        0.009998221881687641,
        0.0100017711520195,
        0.009998205117881298,
        0.009998221881687641,
    ],
}
SAVED_A = {0: 0.009999999776482582, 10: 0.010006874799728394}
# train_loss_list[0] × 9,000 (their script divides the batch mean by the sample size).
SAVED_LOSS0 = 0.9036353826522827


def test_subsets_are_remapped():
    """Their bit strings name (token, h0, h1, h2); our subsets are ordered by size."""
    arch = Architecture(window="shifted")
    labels = arch.subset_labels()
    assert [labels[subset_index(b, arch)] for b in SAVED_BITS] == [
        "∅", "h2", "h1", "h1+h2", "h0", "h0+h2", "h0+h1",
    ]  # fmt: skip
    remapped = remap_subsets(np.arange(1.0, 8.0), SAVED_BITS, arch)
    assert remapped[labels.index("h0+h1")] == 7.0 and remapped[labels.index("x")] == 0.0
    with pytest.raises(ValueError, match="bits"):
        subset_index("011", arch)
    with pytest.raises(ValueError, match="D = 2"):
        subset_index("0111", arch)


def first_steps(proj_init: float):
    s = preset("appendix-b", full_steps=10, proj_init=proj_init)
    traj = train_full(s, fixed_sample(s.task, s.n_train, s.seed), save_steps=[0, 10])
    return s.arch, traj


def increments(arch, traj):
    """The changes of ``C`` (live subsets, our order) and ``a`` over the first 10 steps, ours and
    theirs (each from its own initial value: theirs is float32(0.01))."""
    live = arch.live()
    ours_c = np.asarray(traj.params.C[1] - traj.params.C[0])[live]
    theirs_c = remap_subsets(np.subtract(SAVED_C[10], SAVED_C[0]), SAVED_BITS, arch)[live]
    ours_a = float(traj.params.a[1] - traj.params.a[0])
    return ours_c, theirs_c, ours_a, SAVED_A[10] - SAVED_A[0]


@pytest.fixture(scope="module")
def appendix_b():
    return first_steps(1e-3)


def test_first_steps_match_the_saved_run(appendix_b):
    """Their run and ours share the settings, not the sample of 9,000 sequences.

    Tolerances, from the increments over the first 10 steps on our samples of seeds 0–3: seed 0
    (the preset's) is within 1.5% of the authors' for every live ``C_S`` and for ``a``, seeds 0–3
    within 3.6% (between samples the spread is 1.5–2.6% per component), and float32 rounding of
    their arrays is < 0.1% of a 10-step increment: 5% admits any sample of 9,000 sequences that
    our seeds resemble. The initial loss: within 1% (seeds 0–3 lie 0.2–0.6% below theirs). At
    ``proj_init = 0.01`` six of the seven increments of ``C`` change sign and that of ``a`` is 115
    times larger (next test)."""
    arch, traj = appendix_b
    assert list(traj.steps) == [0, 10]
    ours_c, theirs_c, ours_a, theirs_a = increments(arch, traj)
    np.testing.assert_allclose(ours_c, theirs_c, rtol=0.05)
    assert ours_a == pytest.approx(theirs_a, rel=0.05)
    assert float(traj.losses[0]) == pytest.approx(SAVED_LOSS0, rel=0.01)
    c10 = np.asarray(feature_weights(traj.params.C[1], arch))
    assert np.all(np.isfinite(c10)) and c10.sum() == pytest.approx(1.0)


def test_other_initial_scale_does_not_match():
    """The check can fail: at ``proj_init = 0.01`` (the library's default) every subset's ``C`` but
    ``C_∅`` moves the other way and ``a`` moves far faster, so the same comparison fails."""
    arch, traj = first_steps(1e-2)
    ours_c, theirs_c, ours_a, theirs_a = increments(arch, traj)
    assert not np.allclose(ours_c, theirs_c, rtol=0.05, atol=0)
    assert ours_a != pytest.approx(theirs_a, rel=0.05)


def test_appendix_b_command(tmp_path):
    """``--preset appendix-b`` trains the full model only with the preset's settings; explicit
    options override them; the record and its figures are written."""
    args = ["--n-train", "200", "-L", "20", "--draws", "100", "--full-steps", "3", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, ["ngram", "--preset", "appendix-b", *args])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "ngram.json").read_text())
    cfg = record["config"]
    assert cfg["steps"] == 0 and cfg["full_steps"] == 3 and cfg["n_train"] == 200
    assert (cfg["proj_init"], cfg["w_plus"], cfg["w_minus"], cfg["full_lr"]) == (1e-3, 1.0, 0.01, 1e-3)
    assert cfg["arch"]["loss"] == "reference-code" and cfg["arch"]["window"] == "shifted"
    assert "trajectory" not in record and record["full"]["trajectory"]["steps"] == [0, 1, 2, 3]
    assert "full model" in result.output and "reduced model" not in result.output
    for name in ("ngram_selection.png", "ngram_attention.png", "ngram_growth.png", "ngram_phases.png"):
        assert (tmp_path / name).stat().st_size > 1000
    again = CliRunner().invoke(app, ["plot", str(tmp_path / "ngram.json")])
    assert again.exit_code == 0, again.output
