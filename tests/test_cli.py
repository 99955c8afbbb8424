"""End-to-end tests of the command line with typer's CliRunner (and one real kill)."""

import json
import os
import signal
import subprocess
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image
from printed import WIDTH, assert_fits, assert_shows, cell
from references import PAIRED_19, assert_t_star
from typer.testing import CliRunner

from induction_ode.cli import app

runner = CliRunner(env=WIDTH)  # every command prints for an 80-column terminal


def assert_png(path):
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = plt.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_help_does_not_import_jax():
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom induction_ode.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0 and 'sweep' in r.output\n"
        "print('jax' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


SWEEP = ["sweep", "--n-pairs", "1,2,3", "--rtol", "1e-7"]


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    """The output directory of a small sweep, and what the sweep printed."""
    out = tmp_path_factory.mktemp("sweep")
    result = runner.invoke(app, [*SWEEP, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def sweep_dir(sweep_run):
    return sweep_run[0]


def test_sweep_writes_records_and_figure(sweep_dir):
    record = json.loads((sweep_dir / "results.json").read_text())
    assert record["kind"] == "sweep"
    assert set(record["config"]) == {
        "layer1_mask",
        "positions",
        "query",
        "metric",
        "loss",
        "vocab_size",
        "free",
        "clamp",
        "rtol",
        "atol",
        "t_max",
        "precision",
        "solver",
    }
    assert record["config"]["layer1_mask"] == "strict"
    assert record["config"]["positions"] == "paired" and record["config"]["query"] == "uniform"
    assert {"induction_ode", "jax", "device"} <= set(record["environment"])
    assert [r["n_pairs"] for r in record["lengths"]] == [1, 2, 3]
    for r in record["lengths"]:
        assert r["seq_len"] == 2 * r["n_pairs"] + 1 and r["emerged"]
        assert set(r["half_times"]) == set(r["paper_times"]) == {"alpha3", "beta2", "gamma3"}
    assert record["fit"]["used"] == [0, 1, 2]
    assert_t_star(record["lengths"], PAIRED_19)  # N = 2 against MODEL.md's independent value
    lines = (sweep_dir / "results.csv").read_text().splitlines()
    assert lines[0].startswith("n_pairs,seq_len,t_star") and len(lines) == 4
    assert_png(sweep_dir / "scaling.png")
    assert_png(sweep_dir / "order.png")


def test_sweep_table_fits_the_terminal(sweep_run):
    """At 80 columns the solver's columns go to a second table and t* is printed in full; at 200
    (a resume with nothing left to run prints the table again) it is one table."""
    out, output = sweep_run
    length = json.loads((out / "results.json").read_text())["lengths"][1]
    assert_fits(output, 80)
    assert "(continued)" in output
    assert_shows(cell(output, "2", "t*"), length["t_star"])
    assert_shows(cell(output, "2", "t½ β2"), length["half_times"]["beta2"])
    assert cell(output, "2", "steps") == str(length["steps"])
    wide = runner.invoke(app, [*SWEEP, "--out", str(out), "--resume"], env={"COLUMNS": "200"})
    assert wide.exit_code == 0, wide.output
    assert_fits(wide.output, 200)
    assert "(continued)" not in wide.output and max(map(len, wide.output.splitlines())) > 80
    assert cell(wide.output, "2", "t*") == cell(output, "2", "t*")


def test_plot_regenerates_the_figure(sweep_dir):
    (sweep_dir / "scaling.png").unlink()
    result = runner.invoke(app, ["plot", str(sweep_dir / "results.json")])
    assert result.exit_code == 0, result.output
    assert_png(sweep_dir / "scaling.png")


def test_resume_after_kill(tmp_path):
    """Kill a sweep after two lengths are on disk; --resume keeps them and runs the rest.

    tsit5 compiles fastest; N = 24 (padded, ~1,400 steps) runs long enough after the first two
    lengths to be killed by a 50 ms poll."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    options = ["--solver", "tsit5", "--rtol", "1e-7", "--out", str(tmp_path)]
    args = [sys.executable, "-m", "induction_ode", "sweep", "--n-pairs", "1,2,24", *options]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = tmp_path / "results.json"
    deadline = time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None:
            if path.exists() and len(json.loads(path.read_text())["lengths"]) >= 2:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    before = json.loads(path.read_text())["lengths"]
    assert [r["n_pairs"] for r in before] == [1, 2], "the sweep was not killed part-way"
    result = runner.invoke(app, ["sweep", "--n-pairs", "1,2,3", *options, "--resume"])
    assert result.exit_code == 0, result.output
    assert "2 length(s) on disk, 1 to run" in result.output
    after = json.loads(path.read_text())["lengths"]
    assert [r["n_pairs"] for r in after] == [1, 2, 3]
    assert after[:2] == before  # finished lengths are kept as they were, not recomputed


def test_simulate_writes_trajectory_and_figures(tmp_path):
    args = ["simulate", "--n-pairs", "2", "--animate", "--frames", "3"]  # 40 by default
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "trajectory.json").read_text())
    assert record["kind"] == "simulate" and len(record["ts"]) == len(record["losses"])
    assert len(record["thetas"][0]) == 19 and len(record["attention"]) == 4
    for name in ("loss.png", "parameters.png", "attention.png"):
        assert_png(tmp_path / name)
    assert "attention.gif" in result.output
    with Image.open(tmp_path / "attention.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 3
    assert_fits(result.output)
    assert_shows(cell(result.output, "2", "t*"), record["t_star"])
    figures = ("loss.png", "parameters.png", "attention.png")
    for name in figures:
        (tmp_path / name).unlink()
    again = runner.invoke(app, ["plot", str(tmp_path / "trajectory.json")])
    assert again.exit_code == 0, again.output
    for name in figures:
        assert_png(tmp_path / name)
        assert name in again.output


def test_crosscheck_writes_record_and_figure(tmp_path):
    args = [
        "crosscheck",
        "--n-pairs",
        "2",
        "--d",
        "4",
        "--batch",
        "256",
        "--steps",
        "60",
        "--out",
        str(tmp_path),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "crosscheck.json").read_text())
    for key in ("max_off_subspace_fraction", "max_trajectory_rel_error", "t_star_ode", "t_star_full"):
        assert key in record
    assert record["kind"] == "crosscheck" and record["config"]["batch"] == 256
    assert_png(tmp_path / "crosscheck.png")
    assert_fits(result.output)
    assert_shows(cell(result.output, "t* of the ODE", "value"), record["t_star_ode"])
    (tmp_path / "crosscheck.png").unlink()
    again = runner.invoke(app, ["plot", str(tmp_path / "crosscheck.json")])
    assert again.exit_code == 0, again.output
    assert_png(tmp_path / "crosscheck.png")


@pytest.mark.parametrize("content", [dict(kind="trajectory"), dict(lengths=[])])
def test_plot_refuses_a_record_of_no_known_kind(content, tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps(content))
    result = runner.invoke(app, ["plot", str(path)])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    kinds = "sweep, simulate, crosscheck, clamp, standard, ngram or ladder"
    assert f"is not a {kinds} record (kind={content.get('kind')!r})" in result.output
    assert list(tmp_path.iterdir()) == [path]  # nothing drawn


@pytest.mark.parametrize(
    "args, message",
    [
        (["sweep", "--n-pairs", "0"], "--n-pairs"),
        (["sweep", "--n-pairs", "abc"], "--n-pairs"),
        (["sweep", "--n-pairs", "2", "--metric", "euclid"], "unknown metric"),
        (["sweep", "--n-pairs", "2", "--metric", "weights:3"], "d >= 2N"),
        (["sweep", "--n-pairs", "2", "--loss", "l1"], "unknown loss"),
        (["sweep", "--n-pairs", "2", "--t-max", "-1"], "--t-max"),
        (["sweep", "--n-pairs", "2", "--device", "tpu9"], "--device"),
        (["simulate", "--n-pairs", "0"], "--n-pairs"),
        (["crosscheck", "--n-pairs", "3", "--d", "4"], "--d"),
        (["plot", "nowhere.json"], "no such file"),
        (["plot", "."], "is a directory"),
        (["sweep", "--n-pairs", "2", "--free", "alpha3,zeta1"], "zeta1"),
        (["sweep", "--n-pairs", "2", "--solver", "rk4"], "unknown solver"),
        (["sweep", "--n-pairs", "2", "--layer1-mask", "causal"], "unknown layer1_mask"),
        (["clamp", "--n-pairs", "2", "--layer1-mask", "causal"], "unknown layer1_mask"),
        (["sweep", "--n-pairs", "2", "--positions", "rope"], "unknown positions"),
        (["simulate", "--n-pairs", "2", "--positions", "rope"], "unknown positions"),
        (["crosscheck", "--n-pairs", "2", "--query", "first"], "unknown query"),
        (["clamp", "--n-pairs", "2", "--query", "first"], "unknown query"),
        (["clamp", "--n-pairs", "2", "--clamps", "match,induction"], "unknown clamp"),
        (["clamp", "--n-pairs", "2", "--clamps", "alpha9=1"], "alpha9"),
        (["clamp", "--n-pairs", "2", "--clamps", "alpha3=x"], "not a number"),
        (["clamp", "--n-pairs", "2", "--t-on", "-1"], "--t-on"),
        (["clamp", "--n-pairs", "2", "--solver", "rk4"], "unknown solver"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path):
    result = runner.invoke(app, [*args, *(["--out", str(tmp_path)] if args[0] != "plot" else [])])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["sweep", "--n-pairs", "2", "--out", str(blocker / "sub")])
    assert result.exit_code == 2 and "cannot write to --out" in result.output


def test_resume_with_another_configuration(sweep_dir):
    result = runner.invoke(
        app, ["sweep", "--n-pairs", "1,2,3", "--out", str(sweep_dir), "--resume", "--rtol", "1e-6"]
    )
    assert result.exit_code == 2 and "another configuration" in result.output


@pytest.mark.parametrize(
    "option, said",
    [
        (["--layer1-mask", "inclusive"], "layer1_mask='strict' there, 'inclusive' here"),
        (["--positions", "sinusoidal"], "positions='paired' there, 'sinusoidal' here"),
        (["--query", "last"], "query='uniform' there, 'last' here"),
    ],
)
def test_resume_refuses_another_network(sweep_dir, option, said):
    args = ["sweep", "--n-pairs", "1,2,3", "--out", str(sweep_dir), "--resume", "--rtol", "1e-7"]
    result = runner.invoke(app, [*args, *option])
    assert result.exit_code == 2
    assert said in result.output
    assert result.output.strip().count("\n") == 0


def test_resume_reads_a_legacy_record_as_sinusoidal(tmp_path):
    """A record written before the paired code existed has no ``positions``: it was sinusoidal."""
    config = dict(layer1_mask="strict", metric="identity", loss="mse", vocab_size=None, free=None, clamp=None)
    config.update(rtol=1e-7, atol=1e-9, t_max=None, precision="float64", solver="auto")
    (tmp_path / "results.json").write_text(json.dumps(dict(kind="sweep", config=config, lengths=[])))
    args = ["sweep", "--n-pairs", "1", "--rtol", "1e-7", "--out", str(tmp_path), "--resume"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "positions='sinusoidal' there, 'paired' here" in result.output


@pytest.mark.parametrize("option", [["--positions", "sinusoidal"], ["--query", "last"]])
def test_sweep_round_trips_the_network(option, tmp_path):
    """The CLI's option reaches the library (t* is the library's for that model) and the record.
    α3, β2, γ3 alone (the reduced closed form, which compiles fastest) depend on both options."""
    from induction_ode import KEY_PARAMS, Model, emergence_time

    args = ["sweep", "--n-pairs", "2", "--rtol", "1e-7", "--solver", "tsit5", "--out", str(tmp_path)]
    result = runner.invoke(app, [*args, "--free", ",".join(KEY_PARAMS), *option])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "results.json").read_text())
    key, value = option[0][2:], option[1]
    assert record["config"][key] == value and record["config"]["free"] == list(KEY_PARAMS)
    model = Model(**{key: value}, free=KEY_PARAMS)
    want = emergence_time(2, model=model, rtol=1e-7, atol=1e-9, solver="tsit5").t_star
    assert record["lengths"][0]["t_star"] == pytest.approx(want, rel=1e-12)


def test_clamp_writes_table_record_and_figure(tmp_path):
    """previous_token from t_on = 5 (the clamp from t = 0 is test_clamp.py's): the unclamped
    curve up to t_on, a jump in the field there (diffrax steps to it), then a head sooner."""
    args = [
        "clamp",
        "--n-pairs",
        "2",
        "--clamps",
        "none,previous_token",
        "--t-on",
        "5",
        "--rtol",
        "1e-7",
        "--solver",
        "tsit5",  # what auto picks at N = 2: the option reaches the record, no new program
        "--out",
        str(tmp_path),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "clamp.json").read_text())
    assert record["kind"] == "clamp" and record["config"]["clamps"] == ["none", "previous_token (t>=5)"]
    assert record["config"]["solver"] == "tsit5" and record["config"]["t_on"] == 5.0
    ref, empty, later = record["table"]
    assert ref["clamp"] == "none" and ref["t_star_ratio"] == 1.0 and ref["plateau_shift"] == 0.0
    assert empty["t_star"] == ref["t_star"]  # "none" is the unclamped system
    assert later["clamp"] == "previous_token (t>=5)"
    # Sooner than unclamped (18.85), later than the clamp from t = 0 (9.77); measured 11.13.
    assert 10.0 < later["t_star"] < 0.7 * ref["t_star"]
    assert set(record["curves"]) == {"none", "previous_token (t>=5)"}
    none, clamped = (record["curves"][k] for k in ("none", "previous_token (t>=5)"))
    assert len(none["ts"]) == 401 and none["ts"] == clamped["ts"]
    ts, before = np.array(none["ts"]), np.array(none["ts"]) < 5.0
    # Before t_on the same system by other steps (diffrax ends one at t_on): measured 5.1e-11.
    losses, unclamped = np.array(clamped["losses"]), np.array(none["losses"])
    np.testing.assert_allclose(losses[before], unclamped[before], rtol=5e-10)
    assert np.all(losses[ts > 5.0] < unclamped[ts > 5.0])
    assert_png(tmp_path / "clamp.png")
    assert_fits(result.output)
    assert_shows(cell(result.output, "none", "t*"), ref["t_star"])
    (tmp_path / "clamp.png").unlink()
    assert runner.invoke(app, ["plot", str(tmp_path / "clamp.json")]).exit_code == 0
    assert_png(tmp_path / "clamp.png")
