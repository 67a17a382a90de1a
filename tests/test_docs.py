"""The README and the docs pages: the README stays short and starts with the two set-up
commands that tox.ini defines, the verbs it lists exist, and every relative link between
the pages points to a file (and heading) that exists."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_LINES = 150
SETUP_COMMANDS = ("pip install tox && tox -e demo", "pip install tox && tox -e tests")
PAGES = sorted([README, ROOT / "benchmarks" / "README.md", *(ROOT / "docs").glob("*.md")])

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```")


def _prose_lines(path: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, in_code = [], False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            lines.append(line)
    return lines


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces
    to hyphens, a repeated anchor numbered -1, -2, ..."""
    seen: dict[str, int] = {}
    anchors = set()
    for line in _prose_lines(path):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def relative_links(path: Path) -> list[str]:
    return [t for line in _prose_lines(path) for t in LINK.findall(line)
            if not re.match(r"[a-z][a-z0-9+.-]*:", t)]  # http:, https:, mailto: are not checked here


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in heading_anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    return broken


def test_readme_is_short_and_opens_with_the_two_setup_commands():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"
    head = "\n".join(lines[:20])
    for command in SETUP_COMMANDS:
        assert command in head, f"{command!r} is not in the first 20 lines of README.md"


def test_setup_commands_name_the_tox_environments_that_run_them():
    """`tox -e demo` runs `lmreg demo`, `tox -e tests` runs pytest, and CI runs the latter."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    commands = {env: tox.get(f"testenv:{env}", "commands").split() for env in ("demo", "tests")}
    assert commands["demo"][:2] == ["lmreg", "demo"]
    assert commands["tests"][0] == "pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "tox -e tests\n" in ci and "tox -e tests -- -m slow" in ci  # the default set, then the slow one
    assert "-m 'not slow'" in (ROOT / "pyproject.toml").read_text()  # what makes the default set short


def _subcommands(parser) -> dict:
    import argparse
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def test_readme_verbs_exist():
    """Every command in the README's verb table is a verb of the `lmreg` parser (and, for the
    verbs with sub-verbs, its first sub-verb is one of them)."""
    from lmreg.experiments.cli import make_parser
    verbs = _subcommands(make_parser())
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `lmreg ")]
    assert len(rows) >= 10
    for row in rows:
        words = re.match(r"\| `lmreg ([^`]*)`", row).group(1).split()
        assert words[0] in verbs, f"README lists `lmreg {words[0]}`, which is no verb"
        sub = _subcommands(verbs[words[0]])
        if sub:
            assert words[1] in sub, f"README lists `lmreg {words[0]} {words[1]}`, which is no sub-verb"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    assert broken_links(page) == []


def test_link_check_sees_a_broken_link_and_a_missing_heading(tmp_path):
    (tmp_path / "a.md").write_text("# Title here\n\n[ok](b.md#sub-part) [gone](c.md) [bad](b.md#nope)\n"
                                   "```\n[in code](ignored.md)\n```\n")
    (tmp_path / "b.md").write_text("# B\n\n## Sub: part\n")
    assert broken_links(tmp_path / "a.md") == ["c.md: no such file", "b.md#nope: no heading #nope in b.md"]
