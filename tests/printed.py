"""Reading the commands' printed tables back: every line within the terminal's width, no cell cut
short, and a cell's number equal to the record's to the digits it shows."""

from decimal import Decimal

from rich.cells import cell_len

WIDTH = {"COLUMNS": "80"}
"""The environment of a CliRunner whose commands print for an 80-column terminal."""


def assert_fits(output: str, width: int = 80) -> None:
    """Every line of ``output`` at most ``width`` cells wide, and no cell ending in an ellipsis."""
    assert "…" not in output, output
    assert max(cell_len(line) for line in output.splitlines()) <= width, output


def cell(output: str, row: str, column: str) -> str:
    """The text of the cell in the row whose first cell is ``row`` and the column headed
    ``column``, in whichever of the printed tables holds that column."""
    headers = []
    for line in output.splitlines():
        if line.startswith("┃"):
            headers = [c.strip() for c in line.strip("┃").split("┃")]
        elif line.startswith("│") and column in headers:
            cells = [c.strip() for c in line.strip("│").split("│")]
            if cells[0] == row:
                return cells[headers.index(column)]
    raise AssertionError(f"no cell ({row!r}, {column!r}) in\n{output}")


def assert_shows(text: str, value: float | None) -> None:
    """``text`` is ``value`` rounded to the digits it shows (its last digit's half-unit), with 4
    significant digits or more; ``"—"`` for ``None``, ``"0"`` for zero."""
    if value is None or value == 0:
        assert text == ("—" if value is None else "0"), (text, value)
        return
    shown = Decimal(text)
    half_unit = Decimal(1).scaleb(shown.as_tuple().exponent) / 2
    assert abs(Decimal(repr(value)) - shown) <= half_unit, (text, value)
    assert len(shown.as_tuple().digits) >= 4, text
