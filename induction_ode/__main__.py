"""``python -m induction_ode``: the default sweep, printed as a table."""

from .cli import app

app()
