"""The README is a front page whose commands are the ones CI runs, whose links resolve, and the
API reference names every public name (``mkdocs build --strict`` in .ci/run checks the rest)."""

import importlib
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def slug(heading: str) -> str:
    """The anchor Python-Markdown's ``toc`` gives a heading (GitHub's agrees on these pages)."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


def test_the_readme_is_a_front_page():
    assert len(README.splitlines()) <= 150
    for arxiv in ("2511.01033", "2404.07129", "2409.10559"):
        assert f"arxiv.org/abs/{arxiv}" in README
    assert "reconstruction" in README


def test_the_readme_commands_are_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r"pip install -q (-e '\.\[[a-z,]+\]')", ci).group(1)
    test_line = f"python3 -m venv .venv && . .venv/bin/activate && pip install {install} && python -m pytest"
    assert test_line in README and "\npython -m pytest\n" in ci
    main_job = "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && induction-ode sweep"
    assert main_job in README and "mkdocs build --strict" in ci


@pytest.mark.parametrize("link", sorted(set(re.findall(r"\]\(((?!https?:)[^)]+)\)", README))))
def test_readme_links_resolve(link):
    path, _, anchor = link.partition("#")
    target = ROOT / path
    assert target.is_file(), link
    if anchor:
        headings = re.findall(r"^#+ (.+)$", target.read_text(), flags=re.MULTILINE)
        assert anchor in {slug(h) for h in headings}, link


@pytest.mark.parametrize(
    "package, page",
    [
        ("induction_ode", "index.md"),
        ("induction_ode.standard", "standard.md"),
        ("induction_ode.ngram", "ngram.md"),
        ("induction_ode.ladder", "ladder.md"),
    ],
)
def test_the_api_reference_names_every_public_name(package, page):
    text = (ROOT / "docs" / "api" / page).read_text()
    documented = set(re.findall(rf"^::: {re.escape(package)}\.\w+\.(\w+)$", text, flags=re.MULTILINE))
    assert documented == set(importlib.import_module(package).__all__)
