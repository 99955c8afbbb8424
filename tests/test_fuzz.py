"""Property: whatever numbers a user types, a command either gets past its checks with every
number in its range, or stops with one ``Error:`` line and exit code 2 (the library: one-line
``ValueError``); never a traceback or a record of a run that should not have started.

The checks end where the work begins: the tests stop each command at its output directory
(:func:`~induction_ode.commands.out_dir`, called once every option is checked) and each
library function at its compiled program, so no example compiles anything. Examples are
drawn from a fixed seed (``derandomize``), few enough to take seconds.
"""

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import induction_ode as io
from induction_ode import ode, sweeps
from induction_ode.cli import app
from induction_ode.validation import rule

FUZZ = settings(
    derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class Reached(Exception):
    """The command or function got past every check: work would begin here."""


def stop(*args, **kwargs):
    raise Reached


COMMANDS = typer.main.get_command(app).commands
NUMERIC = {
    name: {
        p.name: (p.opts[0], p.type_descriptor.annotation)
        for p in command.params
        if p.type_descriptor.annotation in (int, float) or (name, p.name) == ("sweep", "n_pairs")
    }
    for name, command in COMMANDS.items()
    if name != "plot"
}
"""Each command's numeric options: ``{name: (flag, type)}`` (sweep's ``--n-pairs`` is a list)."""

NUMBERS = st.one_of(
    st.sampled_from([0, 1, 2, -1, 10**30, 1e308, 0.5, 1e-300, 2.5]),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
)
TYPED = st.one_of(
    NUMBERS.map(repr),
    st.sampled_from(["nan", "inf", "-inf", "abc", "", "1e3", "0x10", "1,2", "-0", "1_000"]),
)


def admitted(command: str, name: str, text: str) -> bool:
    """Whether ``text`` is a number that option ``name`` of ``command`` admits (the oracle)."""
    r = rule(name, "ngram" if command == "ngram" else None)
    parts = text.split(",") if (command, name) == ("sweep", "n_pairs") else [text]
    try:
        values = [float(v) for v in parts if v.strip()]
    except ValueError:
        return False
    if r.integer:  # typer reads "1.0" as the integer 1
        if not all(v.is_integer() for v in values):
            return False
        values = [int(v) for v in values]
    return bool(values) and all(r.admits(v) for v in values)


@FUZZ
@given(data=st.data())
def test_every_command_checks_every_number(data):
    command = data.draw(st.sampled_from(sorted(NUMERIC)))
    options = st.sampled_from(sorted(NUMERIC[command]))
    names = data.draw(st.lists(options, min_size=1, max_size=3, unique=True))
    texts = {name: data.draw(TYPED) for name in names}
    args = [command, *(w for n in names for w in (NUMERIC[command][n][0], texts[n]))]
    with pytest.MonkeyPatch.context() as mp:
        for family in ("standard", "ngram", "ladder"):
            mp.setattr(f"induction_ode.{family}.command.out_dir", stop)
        mp.setattr("induction_ode.cli.out_dir", stop)
        result = CliRunner().invoke(app, [*args, "--device", "cpu"])
    if isinstance(result.exception, Reached):
        assert all(admitted(command, n, texts[n]) for n in names), args
        return
    assert result.exit_code == 2, (args, result.output, result.exception)
    one_line = result.output.startswith("Error: ") and result.output.strip().count("\n") == 0
    assert one_line, (args, result.output)


API = {
    "emergence_time": lambda **kw: io.emergence_time(4, **kw),
    "simulate": lambda t_max=10.0, **kw: io.simulate(4, t_max, **kw),
    "sweep": lambda **kw: io.sweep([2, 4], **kw),
}
ARGUMENTS = ("rtol", "atol", "t_max", "max_steps")


@settings(FUZZ, max_examples=60)
@given(
    function=st.sampled_from(sorted(API)),
    values=st.dictionaries(st.sampled_from(ARGUMENTS), NUMBERS, min_size=1, max_size=2),
)
def test_every_function_checks_every_number(function, values):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ode, "compiled_emergence", stop)
        mp.setattr(ode, "_trajectory_segment", stop)
        mp.setattr(sweeps, "program_model", stop)  # the first step of each compiled group
        try:
            API[function](**values)
        except Reached:
            for name, value in values.items():
                integer = rule(name).integer
                assert rule(name).admits(value) and (not integer or isinstance(value, int)), (name, value)
        except ValueError as err:
            assert "\n" not in str(err) and str(err), values
            assert any(name in str(err) for name in values) or "N = 4" in str(err), (values, str(err))


def test_the_oracle_reads_numbers_as_typed():
    assert admitted("sweep", "rtol", "1e-3") and not admitted("sweep", "rtol", "nan")
    assert admitted("sweep", "n_pairs", "2,4") and not admitted("sweep", "n_pairs", "2,0")
    assert admitted("standard", "steps", "1.0") and not admitted("standard", "steps", "2.5")
    assert admitted("ngram", "steps", "0") and not admitted("standard", "steps", "0")
