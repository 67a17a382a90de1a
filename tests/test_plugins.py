"""Plugins: a package installed beside lmreg (here: a folder on PYTHONPATH with a
.dist-info holding entry_points.txt, which is what pip installs) registers a space,
task, algorithm and ranker through the `lmreg.plugins` entry point group, and the
`lmreg` command, in a fresh process, sees them with no edit of this repository."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from lmreg.core.errors import PluginError
from lmreg.core.plugins import GROUP
from lmreg.results.records import RECORD_NAME, read_record
from tests.fixtures import LMREG

PLUGIN = '''
from lmreg.algorithms.base import ALGORITHMS
from lmreg.algorithms.rankers import RANKERS
from lmreg.bench.datasets.tasks import TaskSpec, register_task
from lmreg.spaces.base import SPACES

register_task(TaskSpec("toy-task", "fashion-mnist", 16, 1_000, 500, 1_000, subset_of="micro-fmnist"))
ALGORITHMS.register("toy-spos", "lmreg.algorithms.spos:SPOS")
SPACES.register("toy-space", "lmreg.spaces.nb201_space:SPACE")


def register():
    RANKERS.register("toy-ranker", lambda model, x, y: 0.0)
'''


def install(site: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """Write ``modules`` (name -> source) and a .dist-info declaring ``entry_points``
    (name -> value) in the group, as pip would install them into ``site``."""
    for name, source in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{GROUP}]\n" + "".join(f"{name} = {value}\n" for name, value in entry_points.items()))


def lmreg(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([*LMREG, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def site(tmp_path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    install(site, "toyplug", {"toyplug": PLUGIN, "toyplug_check": '''
        from lmreg.algorithms.rankers import get_ranker
        from lmreg.core.plugins import load_plugins

        def main():
            print("loaded:", ",".join(load_plugins()), "ranker:", get_ranker("toy-ranker")(None, None, None))
        '''}, {"toy": "toyplug", "toy-rankers": "toyplug:register"})
    return site


def test_the_command_sees_a_plugins_space_task_and_algorithm(site, tmp_path):
    proc = lmreg(["config", "doc"], site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("|")[1].strip(): line for line in proc.stdout.splitlines() if line.startswith("| `")}
    assert "toy-task" in rows["`task`"] and "toy-space" in rows["`space`"] and "toy-spos" in rows["`algorithm`"]
    # the module entry point registered by import, the callable one by being called, each once
    check = subprocess.run([*LMREG[:-2], "-c", "import toyplug_check; toyplug_check.main()"], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == ["loaded:", "toy,toy-rankers", "ranker:", "0.0"]


@pytest.mark.slow
def test_a_run_in_a_worker_process_resolves_plugin_names(site, tmp_path):
    """`lmreg train` runs in a spawned worker, which must load the plugins itself."""
    sets = ["task=toy-task", "algorithm=toy-spos", "train.epochs=1", "train.warmup_epochs=0", "landmarks.m=4",
            "eval.pool_size=10", "eval.n_images=128", "net.C=4"]
    proc = lmreg(["train", "--preset", "quick", "--out", str(tmp_path / "runs"), "--seeds", "0", "--workers", "1",
                  "--no-progress", *[a for kv in sets for a in ("--set", kv)]], site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = next((tmp_path / "runs").rglob(RECORD_NAME))
    config = read_record(record)["attrs"]["config"]
    assert (config["task"], config["algorithm"]) == ("toy-task", "toy-spos")


def test_a_plugin_that_fails_to_import_is_one_line_naming_it(site, tmp_path):
    install(site, "brokenplug", {"brokenplug": "import no_such_module_anywhere\n"}, {"broken": "brokenplug"})
    proc = lmreg(["config", "doc"], site, tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("lmreg: error: plugin 'broken' (brokenplug) failed to load: ModuleNotFoundError")
    assert "no_such_module_anywhere" in lines[0]


def test_a_plugin_that_reregisters_a_built_in_name_is_refused(site, tmp_path):
    install(site, "clashplug", {"clashplug": '''
        from lmreg.spaces.base import SPACES
        SPACES.register("nb201", "lmreg.spaces.nb201_space:SPACE")
        '''}, {"clash": "clashplug"})
    proc = lmreg(["config", "doc"], site, tmp_path)
    assert proc.returncode == 2
    assert "plugin 'clash' (clashplug) failed to load: DuplicateNameError: search space 'nb201' is already " \
           "registered" in proc.stderr


def test_load_plugins_reraises_a_failure(monkeypatch):
    """A failed plugin stays failed for the process: no second, partial registration."""
    from importlib.metadata import EntryPoint

    from lmreg.core import plugins
    calls = []
    bad = EntryPoint("bad", "tests.test_plugins:_fails", GROUP)
    monkeypatch.setattr(plugins, "_loaded", None)
    monkeypatch.setattr(plugins, "_failure", None)
    monkeypatch.setattr(plugins.importlib.metadata, "entry_points", lambda group: calls.append(group) or [bad])
    for _ in range(2):
        with pytest.raises(PluginError, match=r"plugin 'bad' \(tests.test_plugins:_fails\) failed to load: "
                                              r"RuntimeError: no"):
            plugins.load_plugins()
    assert calls == [GROUP]


def _fails():
    raise RuntimeError("no")
