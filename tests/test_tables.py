"""Tables that fit: numbers in full, column groups split over tables, cells folded, never cut."""

import io

import pytest
from printed import assert_fits, assert_shows, cell
from rich.console import Console

from induction_ode.tables import fit_tables, number


@pytest.mark.parametrize(
    "value, text",
    [
        (20.97612, "20.976"),
        (2281.34, "2281.3"),
        (106581.2, "106581"),  # an integer part longer than 5 digits is kept whole
        (0.839123, "0.83912"),
        (1234567.0, "1.2346e+06"),
        (0.0001234, "1.2340e-04"),
        (0.0, "0"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_number(value, text):
    assert number(value) == text


COLUMNS = (("name",), ("a", "b"), ("c",), ("d", "e"))
ROWS = [["first", *(number(12345.678 * 10**i) for i in range(5))], ["second", "1.5", "—", "x", "2", "3"]]


def render(width: int, columns=COLUMNS, rows=ROWS) -> str:
    """What :func:`fit_tables` prints on a console ``width`` columns wide."""
    console = Console(width=width, file=io.StringIO())
    console.print(*fit_tables(console, "A title", columns, rows))
    return console.file.getvalue()


def test_a_wide_console_gets_one_table():
    text = render(200)
    assert text.count("┏") == 1 and "(continued)" not in text
    assert_shows(cell(text, "first", "e"), 12345.678e4)


def test_groups_stay_together_and_every_table_starts_with_the_key():
    text = render(36)
    assert_fits(text, 36)
    heads = [[h.strip() for h in line.strip("┃").split("┃")] for line in text.splitlines() if line[0] == "┃"]
    assert heads == [["name", "a", "b"], ["name", "c"], ["name", "d", "e"]]
    assert text.count("A title (continued)") == 2
    assert_shows(cell(text, "first", "d"), 12345.678e3)


def test_a_group_wider_than_the_console_folds_its_words_not_its_numbers():
    text = render(30, (("key",), ("clamp", "t*")), [["k", "a-long-clamp-name+another-long-one", "123456.7"]])
    assert_fits(text, 30)
    assert cell(text, "k", "t*") == "123456.7"
    folded = [line.split("│")[2].strip() for line in text.splitlines() if line.startswith("│")]
    assert "".join(folded) == "a-long-clamp-name+another-long-one"
