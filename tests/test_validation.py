"""Bad values, sizes and damaged records: one line each, before any compilation."""

import json

import pytest
from typer.testing import CliRunner

import induction_ode as io
from induction_ode import memory
from induction_ode.cli import app
from induction_ode.model import Model
from induction_ode.records import RECORD_FORMAT, read_record
from induction_ode.reduced import program_model
from induction_ode.validation import RULES, check

runner = CliRunner()


def one_line_error(result, *parts):
    """The command failed with exit code 2 and one ``Error:`` line holding every part."""
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.strip().count("\n") == 0, result.output
    for part in parts:
        assert part in result.output, (part, result.output)


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_rule_admits_its_range_and_names_what_it_refuses(name):
    family, _, option = name.rpartition(".")
    r = RULES[name]
    inside = (r.low + min(r.high, r.low + 2)) / 2 if r.low_open else r.low
    assert check(option, inside, family=family or None) == inside
    below = r.low if r.low_open else r.low - 1
    for bad in (below, float("nan"), float("inf"), True, "3"):
        with pytest.raises(ValueError) as err:
            check(option, bad, family=family or None)
        assert str(err.value) == f"{option} must be {r.text()}, got {bad!r}"


def test_integers_are_not_rounded_and_huge_ones_are_sizes():
    with pytest.raises(ValueError, match=r"n_pairs must be an integer >= 1, got 2\.5"):
        check("n_pairs", 2.5)
    assert check("n_pairs", 10**30) == 10**30  # a size: the memory check, not the range, refuses it


@pytest.mark.parametrize(
    "args, parts",
    [
        (["sweep", "--n-pairs", "4", "--rtol", "-1"], ["--rtol", "-1.0", "[2.22045e-14, 1)"]),
        (["sweep", "--n-pairs", "4", "--rtol", "1"], ["--rtol", "[2.22045e-14, 1)"]),
        (["sweep", "--n-pairs", "2", "--rtol", "1e-30"], ["--rtol", "1e-30", "[2.22045e-14, 1)"]),
        (["sweep", "--n-pairs", "2", "--rtol", "1e-17"], ["--rtol", "[2.22045e-14, 1)"]),
        (["simulate", "--rtol", "nan"], ["--rtol", "nan"]),
        (["sweep", "--n-pairs", "4", "--t-max", "inf"], ["--t-max", "inf", "> 0"]),
        (["crosscheck", "--lr", "-inf"], ["--lr", "-inf"]),
        (["crosscheck", "--steps", "0"], ["--steps", ">= 1"]),
        (["clamp", "--t-on", "nan"], ["--t-on", "nan"]),
        (["standard", "--heads", "0"], ["--heads", ">= 1"]),
        (["standard", "--lr", "inf"], ["--lr"]),
        (["standard", "--clamps", "match=1.5"], ["strength", "[0, 1]"]),
        (["ngram", "--alpha", "inf"], ["--alpha", "inf"]),
        (["ngram", "--full-lr", "nan"], ["--full-lr"]),
        (["sweep", "--num", "abc"], ["--num"]),
        (["sweep", "--no-such-option"], ["--no-such-option"]),
    ],
)
def test_bad_values_are_one_line(args, parts, tmp_path):
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    one_line_error(result, *parts)
    assert not (tmp_path / "out").exists()  # refused before the output directory


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: io.emergence_time(4, rtol=-1), "rtol must be a finite number in"),
        (lambda: io.emergence_time(4, atol=0.0), "atol"),
        (lambda: io.simulate(4, 10.0, rtol=float("nan")), "rtol"),
        (lambda: io.simulate(4, 10.0, max_steps=0), "max_steps"),
        (lambda: io.sweep([2, 3], rtol=2.0), "rtol"),
        (lambda: io.sweep([2, 3], t_max=[1.0, float("inf")]), "t_max"),
        (lambda: io.clamp_experiment(2, ["match"], t_on=float("inf")), "t_on"),
        (lambda: io.crosscheck(2, 4, lr=0.0), "lr"),
    ],
)
def test_library_refuses_before_compiling(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_run_too_large_says_the_need_and_the_largest_n(monkeypatch):
    result = runner.invoke(app, ["simulate", "--n-pairs", "100000000"])
    one_line_error(result, "N = 100000000 needs about", "available", "the largest N that fits is")

    monkeypatch.setenv("INDUCTION_ODE_MEMORY", "2e8")
    result = runner.invoke(app, ["sweep", "--n-pairs", "2,4000", "--solver", "bdf"])
    one_line_error(result, "N = 4000 needs about", "191 MiB is available ($INDUCTION_ODE_MEMORY)")
    fits = int(result.output.rsplit(" ", 1)[1])
    static = program_model(Model())
    need = lambda n: memory.run_bytes(static, n, "bdf", 8192, 8)  # noqa: E731
    assert need(fits) <= 2e8 < need(fits + 1)
    with pytest.raises(ValueError, match="the largest N that fits is"):
        io.emergence_time(4000, solver="bdf")
    monkeypatch.setenv("INDUCTION_ODE_MEMORY", "lots")
    with pytest.raises(ValueError, match="INDUCTION_ODE_MEMORY must be a number of bytes"):
        io.emergence_time(4)


def test_each_form_is_estimated_at_its_order_in_t():
    """Doubling T: ×4 for the dense form, ×2 for the reduced form, the structured uniform MSE
    and the structured last query, ×4 for the structured forward over every pair (CE)."""
    grow = lambda m: memory.closed_form_floats(m, 2000) / memory.closed_form_floats(m, 1000)  # noqa: E731
    quadratic = [io.DenseModel(), Model(loss="ce")]
    linear = [Model(free=io.KEY_PARAMS), Model(), Model(query="last")]
    assert all(3.9 < grow(program_model(m)) < 4.1 for m in quadratic)
    assert all(1.9 < grow(program_model(m)) < 2.1 for m in linear)


SWEEP = dict(kind="sweep", config={}, lengths=[])
DAMAGED = {
    "truncated": (json.dumps(SWEEP)[:15], "truncated or damaged"),
    "not JSON": ("results: none", "not valid JSON"),
    "wrong kind": (json.dumps(dict(SWEEP, kind="ngram")), "is not a sweep record (kind='ngram')"),
    "newer format": (json.dumps(dict(SWEEP, format=RECORD_FORMAT + 1)), "upgrade induction_ode"),
    "damaged lengths": (json.dumps(dict(SWEEP, lengths=[3])), "is damaged"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_resume_over_a_damaged_record_names_the_file_and_the_fix(case, tmp_path):
    text, said = DAMAGED[case]
    (tmp_path / "results.json").write_text(text)
    result = runner.invoke(app, ["sweep", "--n-pairs", "2", "--resume", "--out", str(tmp_path)])
    one_line_error(result, str(tmp_path / "results.json"), said, "start the sweep over")
    assert (tmp_path / "results.json").read_text() == text  # left for the user to look at


@pytest.mark.parametrize("case", sorted(set(DAMAGED) - {"wrong kind"}))
def test_plot_of_a_damaged_record_names_the_file_and_the_fix(case, tmp_path):
    text, said = DAMAGED[case]
    (tmp_path / "results.json").write_text(text)
    result = runner.invoke(app, ["plot", str(tmp_path / "results.json")])
    one_line_error(result, str(tmp_path / "results.json"), said.split(" (")[0], "run the command")


def test_a_record_older_than_the_format_field_still_reads(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps(SWEEP))
    assert read_record(tmp_path / "old.json", ("sweep",), "fix") == SWEEP


def test_a_failed_run_is_one_line_with_exit_code_1(monkeypatch, tmp_path):
    def fail(out):
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 8 bytes.\n*** stack trace ***")

    monkeypatch.setattr("induction_ode.cli.out_dir", fail)
    result = runner.invoke(app, ["simulate", "--n-pairs", "2"])
    assert result.exit_code == 1
    assert result.output == "Error: RESOURCE_EXHAUSTED: Out of memory allocating 8 bytes.\n"
