"""``python -m induction_ode [COMMAND]``: the command line (default: the sweep)."""

import sys

from .cli import app

app(args=sys.argv[1:] or ["sweep"], prog_name="induction-ode")
