"""Tables that the commands print, with every number in full at any terminal width.

A table too wide for the console is split into several, each repeating the columns that name a
row; cells that must still be narrowed wrap (``overflow="fold"``), never end in an ellipsis.
The records (``results.json``, ``results.csv``, …) keep every column regardless.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

NATURAL_WIDTH = 10_000
"""Width at which a table is measured: wide enough that no column is narrowed."""


def formatted(value: float | None, spec: str) -> str:
    """``format(value, spec)``, or ``"—"`` for ``None`` or NaN (nothing to show)."""
    return "—" if value is None or value != value else format(value, spec)


def number(value: float | None, digits: int = 5) -> str:
    """``value`` with ``digits`` significant digits: fixed point from 10⁻³ up to 10⁶ (where an
    integer part longer than ``digits`` is kept whole, ``106581``), exponent notation outside;
    ``"—"`` for ``None`` or NaN."""
    if value is None or value != value or value == 0:
        spec = ".0f"
    elif 1e-3 <= abs(value) < 1e6:
        spec = f".{max(0, digits - 1 - math.floor(math.log10(abs(value))))}f"
    else:
        spec = f".{digits - 1}e"
    return formatted(value, spec)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def fit_tables(console, title: str, columns: Sequence[Sequence[str]], rows: Sequence[Sequence[str]]):
    """The rows as a list of rich tables that each fit ``console``'s width.

    ``columns`` are groups of headers, most important first; ``rows`` hold a row's cells in the
    order of the headers. The first group names a row and starts every table; each later group
    stays together and goes into the current table if it fits, else starts the next one. Columns
    of words are left-justified, those with numbers (or only "—") right-justified. Cells may wrap
    where one table is still too wide (a group wider than the console): nothing is ever cut short."""
    from rich.measure import Measurement
    from rich.table import Table

    headers = [h for group in columns for h in group]
    wide = console.options.update_width(NATURAL_WIDTH)

    def table(indices: list[int], part: int) -> Table:
        t = Table(title=title if part == 0 else f"{title} (continued)")
        for i in indices:
            words = not any(_is_number(r[i]) for r in rows) and any(r[i] != "—" for r in rows)
            t.add_column(headers[i], justify="left" if words else "right", overflow="fold")
        for r in rows:
            t.add_row(*(r[i] for i in indices))
        return t

    keys = list(range(len(columns[0])))
    parts = [list(keys)]
    start = len(keys)
    for group in columns[1:]:
        indices = list(range(start, start + len(group)))
        start += len(group)
        too_wide = Measurement.get(console, wide, table(parts[-1] + indices, 0)).maximum > console.width
        if too_wide and len(parts[-1]) > len(keys):
            parts.append(list(keys))
        parts[-1] += indices
    return [table(indices, part) for part, indices in enumerate(parts)]


def print_table(title: str, columns: Sequence[Sequence[str]], rows: Sequence[Sequence[str]]) -> None:
    """Print the rows on standard output, split by :func:`fit_tables` for the terminal's width."""
    from rich.console import Console

    console = Console()
    console.print(*fit_tables(console, title, columns, rows))
