"""The harness installs under one import name, `lmreg`: the design card's top-level
folders are its sub-packages, and no module reaches them by a bare top-level name
(`spaces`, `results`, `experiments` collide with other packages and users' folders)."""

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path
from tests.fixtures import LMREG

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("bench", "spaces", "algorithms", "results", "paper_figures", "experiments")


def test_only_lmreg_is_top_level():
    top = importlib.metadata.distribution("lmreg").read_text("top_level.txt").split()
    assert top == ["lmreg"]


def test_no_module_imports_a_bare_folder_name():
    offenders = []
    for folder in (*FOLDERS, "lmreg", "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                              if n and n.split(".")[0] in FOLDERS]
    assert not offenders, offenders


def test_python_dash_m_lmreg_runs_the_cli(tmp_path):
    # From a folder that is not the repository: the installed package answers.
    proc = subprocess.run([*LMREG, "--help"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: lmreg" in proc.stdout


def test_every_subpackage_is_installed():
    """A sub-folder with an __init__.py that pyproject.toml does not list is left out of
    the installed package (an editable install hides it; CI's sdist does not)."""
    import tomllib
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"lmreg." + ".".join(init.parent.relative_to(ROOT).parts)
             for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")}
    found |= {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "lmreg").rglob("__init__.py")}
    assert found - listed == set(), f"not in pyproject.toml's packages: {sorted(found - listed)}"


# Standard-library modules newer than the oldest Python a package might claim.
STDLIB_SINCE = {"tomllib": (3, 11), "wsgiref.types": (3, 11)}


def _python_floor() -> tuple[int, int]:
    import re
    import tomllib
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    major, minor = re.fullmatch(r">=\s*(\d+)\.(\d+)", spec.strip()).groups()
    return int(major), int(minor)


def test_the_python_floor_holds_for_every_module():
    """requires-python may not promise an interpreter on which a module fails: each
    module must parse with that version's grammar and import no newer stdlib module."""
    floor = _python_floor()
    assert floor <= sys.version_info[:2], "the suite must run on the oldest Python it claims"
    too_new = []
    for folder in (*FOLDERS, "lmreg"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(), feature_version=floor)
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                too_new += [f"{path.relative_to(ROOT)}: {n} needs {STDLIB_SINCE[n]}" for n in names
                            if n in STDLIB_SINCE and STDLIB_SINCE[n] > floor]
    assert not too_new, too_new


def test_readme_states_the_python_floor():
    import re
    stated = re.findall(r"Python (\d+)\.(\d+)\+", (ROOT / "README.md").read_text())
    assert stated and {(int(a), int(b)) for a, b in stated} == {_python_floor()}


def test_no_lock_file_is_tracked_or_left_unignored():
    """A build's flock file (.NAME.lock beside the table) belongs to the process holding it: none is
    committed, and git ignores the one a build leaves."""
    if not (ROOT / ".git").exists():
        import pytest
        pytest.skip("not a git checkout")
    from lmreg.experiments.gt_build import lock_path
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert [p for p in tracked.splitlines() if p.endswith(".lock")] == []
    lock = lock_path(ROOT / "bench" / "data" / "micro_fmnist_nb101.h5").relative_to(ROOT)
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", str(lock)], cwd=ROOT)
    assert ignored.returncode == 0, f"{lock} is not ignored by .gitignore"
