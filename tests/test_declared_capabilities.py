"""Optional capabilities of spaces, trainers and configs are declared (spaces/base.py
`SpaceDefaults`, algorithms/base.py `SuperNetTrainer`), never probed: the runner, the
CLI and the algorithms hold no `hasattr` call and no `getattr` with a fallback, except
the ones listed here with their reason."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["experiments/runner.py", "experiments/cli.py", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "algorithms").rglob("*.py"))]
# (file, call as ast.unparse writes it): why it may stay
ALLOWED = {
    ("experiments/runner.py", "hasattr(table, 'recipe')"):
        "a ground-truth table's stand-alone recipe: the benchmarks' contract, not a space's or a trainer's",
    ("experiments/cli.py", "getattr(args, 'arch', 'x')"):
        "argparse: only some verbs have an optional ARCH positional",
}


def probes(path: Path) -> list[str]:
    """Every hasattr(...) call and every three-argument getattr(...) call in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "hasattr" or (node.func.id == "getattr" and len(node.args) == 3):
                found.append(ast.unparse(node))
    return found


def test_no_capability_probes_outside_the_allowed_list():
    seen = {(f, call) for f in SCANNED for call in probes(ROOT / f)}
    assert not seen - ALLOWED.keys(), "declare the capability instead of probing it"
    assert not ALLOWED.keys() - seen, "an allowed probe is gone: drop it from ALLOWED"


def test_the_scan_finds_a_probe(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("a = hasattr(space, 'fair_paths')\n"
                      "b = getattr(space, 'representative', None)\n"
                      "c = getattr(o, k)\n")
    assert probes(sample) == ["hasattr(space, 'fair_paths')", "getattr(space, 'representative', None)"]
