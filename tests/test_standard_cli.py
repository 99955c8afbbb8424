"""``induction-ode standard`` end to end (tiny settings), ``plot standard.json``, and bad input."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from printed import WIDTH, assert_fits, assert_shows, cell
from references import PAIRED_19, assert_t_star
from typer.testing import CliRunner

from induction_ode.cli import app
from induction_ode.standard.clamps import StandardClamp
from induction_ode.standard.command import comparison_rows, ode_expressible

runner = CliRunner(env=WIDTH)  # every command prints for an 80-column terminal
FIGURES = ("loss.png", "heads.png", "ablation.png", "structure.png", "progress.png", "seeds.png")


def assert_png(path):
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


TINY = ["--n-pairs", "2", "--heads", "2", "--d-model", "16", "--steps", "40", "--eval-every", "20"]


@pytest.fixture(scope="module")
def standard_run(tmp_path_factory):
    """The output directory of a tiny run with two seeds (3 and 4), and what it printed."""
    out = tmp_path_factory.mktemp("standard")
    args = ["standard", *TINY, "--positions", "learned", "--clamps", "none,match+copy,ablate=L2", "--no-ode"]
    result = runner.invoke(app, [*args, "--seeds", "2", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def run_dir(standard_run):
    return standard_run[0]


def test_standard_writes_record_and_figures(run_dir):
    record = json.loads((run_dir / "standard.json").read_text())
    assert record["kind"] == "standard" and record["config"]["precision"] == "float32"
    assert record["config"]["clamps"] == ["none", "match+copy", "ablate=L2"]
    assert record["config"]["task"]["n_pairs"] == 2 and record["config"]["model"]["heads"] == 2
    labels = ["none", "match+copy", "ablate=L2"]  # "none" runs once
    assert [(r["label"], r["seed"]) for r in record["runs"]] == [(c, s) for c in labels for s in (3, 4)]
    for run in record["runs"]:
        assert run["steps"] == [0, 20, 40] and len(run["induction"][0]) == 2
    assert [r["clamp"] for r in record["table"]] == ["none", "match+copy", "ablate=L2"]
    both = record["table"][1]
    assert both["phase_step"]["mean"] == 0.0 and both["final_accuracy"]["mean"] == 1.0  # solved at step 0
    assert record["ode"] is None and record["comparison"][1]["ode_t_star"] is None
    assert set(record["ablations"]["per_seed"][0]) == {"full", "layer1", "layer2", "no_layer1", "no_layer2"}
    assert record["structure"]["trained"]["pos_qk"]["predicted"] == "subdiagonal"
    assert len(record["structure"]["trained"]["pos_qk"]["matrix"]) == 5  # T × T
    for name in FIGURES:
        assert_png(run_dir / name)


def test_standard_with_the_ode_comparison(tmp_path):
    """The fast counterpart of test_standard_slow.py's: the fixture's tiny run (its training
    programs) with the ODE beside it: the clamp experiment at the same N (unclamped t* against
    MODEL.md's reference, match+copy at 0) and the ODE's half-times under the same loss (ce)."""
    args = ["standard", *TINY, "--positions", "learned", "--clamps", "none,match+copy", "--seeds", "2"]
    result = runner.invoke(app, [*args, "--seed", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "standard.json").read_text())
    ode = {r["clamp"]: r for r in record["ode"]["table"]}
    assert set(ode) == {"none", "match+copy"} and record["ode"]["t_on"] == 0.0
    assert_t_star([dict(n_pairs=2, **ode["none"])], PAIRED_19)
    rows = {r["clamp"]: r for r in record["comparison"]}
    assert rows["none"]["ode_t_star"] == ode["none"]["t_star"] and rows["none"]["ode_ratio"] == 1.0
    assert rows["match+copy"]["ode_t_star"] == 0.0
    assert_shows(cell(result.output, "none", "ODE t*"), ode["none"]["t_star"])
    progress = record["progress"]["ode"]
    assert "loss='ce'" in progress["call"] and set(progress["relative"]) == {"alpha3", "beta2", "gamma3"}
    # The cross-entropy flow is another ODE: slower than MSE's 18.85 (measured 51.09).
    assert progress["t_star"] > 2 * ode["none"]["t_star"]
    for name, t in progress["half_times"].items():
        assert progress["relative"][name] == pytest.approx(t / progress["t_star"], rel=1e-12)


def test_standard_clamp_from_a_later_step(tmp_path):
    """``--clamp-from 20``: match+copy acts from step 20 on (the fixture's programs: the start
    step is data). Until then the run is the unclamped one; at step 20 the task is solved."""
    args = ["standard", *TINY, "--positions", "learned", "--clamps", "none,match+copy", "--seeds", "2"]
    later = ["--seed", "3", "--clamp-from", "20", "--no-ode"]
    result = runner.invoke(app, [*args, *later, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "standard.json").read_text())
    assert record["config"]["clamp_from"] == 20
    assert record["config"]["clamps"] == ["none", "match+copy (step>=20)"]
    runs = {(r["label"], r["seed"]): r for r in record["runs"]}
    for seed in (3, 4):
        none, late = runs["none", seed], runs["match+copy (step>=20)", seed]
        assert late["steps"] == none["steps"] == [0, 20, 40]
        assert late["loss"][0] == none["loss"][0]  # step 0: unclamped
        assert late["accuracy"][1] == 1.0 and late["loss"][1] < 0.1 * none["loss"][1]
    # The loss halves between the evaluations at steps 0 and 20: linear interpolation puts it
    # at 10 (measured 10.0 on both seeds); from step 0 it would be 0.
    late = record["table"][1]
    assert late["clamp"] == "match+copy (step>=20)"
    assert all(0 < step <= 20 for step in late["phase_step"]["per_seed"])


def test_standard_table_fits_80_columns(standard_run):
    out, output = standard_run
    record = json.loads((out / "standard.json").read_text())
    assert_fits(output)
    for row in record["table"]:
        assert_shows(cell(output, row["clamp"], "step*"), row["phase_step"]["mean"])
    assert cell(output, "none", "ODE t*") == "—"  # --no-ode


def test_plot_redraws_standard_figures(run_dir):
    for name in FIGURES:
        (run_dir / name).unlink()
    result = runner.invoke(app, ["plot", str(run_dir / "standard.json")])
    assert result.exit_code == 0, result.output
    for name in FIGURES:
        assert_png(run_dir / name)


def test_ode_comparison_rows():
    specs = [StandardClamp.parse(s) for s in ("match+copy", "match@1", "match=0.5", "ablate=L2H0", "copy")]
    assert [ode_expressible(s) for s in specs] == ["match+copy", None, None, None, "copy"]
    table = [dict(clamp=c, phase_step=p, ratio=p / 100) for c, p in (("none", 100.0), ("match+copy", 0.0))]
    table += [dict(clamp="match@1", phase_step=50.0, ratio=0.5)]
    ode = dict(
        table=[
            dict(clamp="none", t_star=41.4, t_star_ratio=1.0),
            dict(clamp="match+copy", t_star=0.0, t_star_ratio=0.0),
        ]
    )
    rows = comparison_rows(table, specs, ode)
    assert [r["ode_t_star"] for r in rows] == [41.4, 0.0, None]
    assert [r["ode_clamp"] for r in rows] == ["none", "match+copy", None]
    late = [StandardClamp.parse("match", from_step=10)]
    table = [
        dict(clamp="none", phase_step=100.0, ratio=1.0),
        dict(clamp="match (step>=10)", phase_step=20.0, ratio=0.2),
    ]
    ode = dict(
        table=[
            dict(clamp="none", t_star=41.4, t_star_ratio=1.0),
            dict(clamp="match (t>=4.1)", t_star=4.5, t_star_ratio=0.1),
        ]
    )
    assert [r["ode_t_star"] for r in comparison_rows(table, late, ode)] == [41.4, 4.5]


def test_standard_help_does_not_import_jax():
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom induction_ode.cli import app\n"
        "r = CliRunner().invoke(app, ['standard', '--help'])\n"
        "assert r.exit_code == 0 and '--clamp-from' in r.output\n"
        "print('jax' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n-pairs", "0"], "--n-pairs"),
        (["--heads", "3", "--d-model", "16"], "multiple of --heads"),
        (["--positions", "absolute"], "--positions"),
        (["--clamps", "none,induction"], "unknown clamp"),
        (["--clamps", "ablate=L3H0"], "ablate=L2H3"),
        (["--clamps", "match@8"], "out of range"),
        (["--clamps", "match=2"], "strength"),
        (["--clamps", "alpha3=0"], "unknown clamp"),
        (["--clamp-from", "-1"], "--clamp-from"),
        (["--clamp-from", "40"], "--clamp-from"),
        (["--steps", "0"], "--steps"),
        (["--lr", "0"], "--lr"),
        (["--optimizer", "rmsprop"], "--optimizer"),
        (["--preset", "omniglot"], "--preset"),
        (["--labels", "1"], "--labels"),
        (["--device", "tpu9"], "--device"),
        (["--seeds", "0"], "--seeds"),
        (["--loss", "hinge"], "--loss"),
        (["--loss", "mse", "--clamps", "none,match+copy"], "use --loss ce"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path):
    base = ["standard", "--n-pairs", "2", "--heads", "2", "--d-model", "16", "--steps", "40"]
    result = runner.invoke(app, [*base, *args, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0
    assert not (tmp_path / "standard.json").exists()


def intervals_in(node):
    """Every :func:`~induction_ode.intervals.mean_interval` dict inside a record."""
    if isinstance(node, dict):
        if {"mean", "low", "high", "n", "per_seed"} <= set(node):
            yield node
        else:
            for value in node.values():
                yield from intervals_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from intervals_in(value)


def test_standard_seeds_record_intervals(standard_run):
    out, output = standard_run
    record = json.loads((out / "standard.json").read_text())
    assert record["config"]["seeds"] == [3, 4]
    a, b = record["runs"][:2]
    assert a["loss"][0] == b["loss"][0] and a["loss"][-1] != b["loss"][-1]  # same ln L, then apart
    assert (
        len(record["heads"]["induction"]) == 2
        and record["heads"]["induction"][0] != record["heads"]["induction"][1]
    )
    assert len(record["ablations"]["per_seed"]) == 2 and len(record["structure"]["per_seed"]) == 2
    found = list(intervals_in(record))
    assert len(found) > 20 and sum(iv["n"] == 2 for iv in found) > 20
    for iv in found:  # n counts the finite seeds; an interval needs two, else its bounds are nan
        assert len(iv["per_seed"]) == 2
        finite = [v for v in iv["per_seed"] if v is not None and math.isfinite(v)]
        assert iv["n"] == len(finite), iv
        if finite:
            assert iv["mean"] == pytest.approx(np.mean(finite), rel=1e-12), iv
        if iv["n"] == 2:
            assert iv["low"] <= iv["mean"] <= iv["high"], iv
            # 95%: t(0.975, 1 degree of freedom) = 12.706 standard errors |a − b| / 2
            half = 12.7062047 * abs(finite[0] - finite[1]) / 2
            assert iv["high"] - iv["mean"] == pytest.approx(half, rel=1e-6, abs=1e-12), iv
        else:
            assert all(v is None or math.isnan(v) for v in (iv["low"], iv["high"])), iv
    final = record["table"][0]["final_loss"]
    assert final["per_seed"] == [a["loss"][-1], b["loss"][-1]] and final["low"] < final["high"]
    ranks = record["heads"]["summary"]["induction"]["ranked"]
    assert ranks[0]["mean"] >= ranks[1]["mean"]  # best head first
    assert cell(output, "none", "final acc").endswith("]")  # printed with its interval
    progress = record["progress"]
    assert [s["seed"] for s in progress["per_seed"]] == [3, 4] and set(progress["summary"]) == {"0.5", "0.1"}
    for s in progress["per_seed"]:
        assert all(len(s["series"][n]) == len(a["steps"]) for n in ("alpha3", "beta2", "gamma3"))
        assert s["normalised"]["gamma3"][0] == 0.0  # progress counts from the initial value
