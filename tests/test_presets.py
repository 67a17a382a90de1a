"""Presets inherit (`base = "NAME"`): every shipped preset resolves to the config it had
before inheritance existed, and bad bases are refused in one line naming the file.

tests/data/presets_resolved.json was generated once from the loader and presets of commit
a83449e (before `base` existed: every preset listed all of its settings), with
`to_dict(load_config(name))`, the `algo` options type, `config_hash` and `run_name` of each.
It does not depend on the current loader, so a preset that inherits a value it used to set
differently (or a merge rule that drops a section) changes a run hash and fails here. Keys added
since (results.identity.ADDED_KEYS) must resolve to the behaviour every earlier run had."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmreg.experiments import runconfig
from lmreg.experiments.config import ConfigError
from lmreg.experiments.runconfig import config_hash, load_config, presets, resolve_preset, run_name, to_dict
from lmreg.results.identity import ADDED_KEYS, flatten

FROZEN = json.loads((Path(__file__).resolve().parent / "data" / "presets_resolved.json").read_text())


def test_every_frozen_preset_is_still_shipped():
    assert sorted(FROZEN) == [p for p in presets() if p in FROZEN]
    assert set(FROZEN) <= set(presets())


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_preset_resolves_to_its_frozen_config(name):
    cfg = load_config(name)
    frozen = FROZEN[name]
    flat = flatten(to_dict(cfg))
    for key, old_behaviour in ADDED_KEYS.items():
        assert key not in flatten(frozen["config"]) and flat.pop(key) == old_behaviour, key
    # json text, so that 10 and 10.0 (an int where a float was) also differ
    assert json.dumps(flat, sort_keys=True) == json.dumps(flatten(frozen["config"]), sort_keys=True)
    assert type(cfg.algo).__name__ == frozen["algo_options"]
    assert (config_hash(cfg), run_name(cfg)) == (frozen["config_hash"], frozen["run_name"])


def test_variants_list_only_what_differs():
    """The micro, NB201 and DARTS-NDS paper variants inherit; none repeats a value its base already sets."""
    inheriting = {"micro-fairnas", "micro-gdas", "micro-pcdarts", "micro-nb101", "gate", "quick",
                  "nb201-cifar10-fairnas", "nb201-cifar10-gdas", "nb201-cifar10-pcdarts",
                  "darts-nds-cifar10-gdas", "darts-nds-cifar10-pcdarts", "darts-nds-cifar10-nao"}
    import tomllib
    for name in inheriting:
        own = tomllib.loads((runconfig.PRESET_DIR / f"{name}.toml").read_text())
        base_name = own.pop("base")
        base = resolve_preset(base_name)[0]
        repeated = [f"{section}.{k}" for section, table in own.items() if isinstance(table, dict)
                    for k, v in table.items() if base.get(section, {}).get(k) == v]
        repeated += [k for k, v in own.items() if not isinstance(v, dict) and base.get(k) == v]
        assert not repeated, f"{name} repeats {repeated} of {base_name}"


def test_chain_and_override_order(tmp_path, monkeypatch):
    """A chain of three: the nearest file wins key by key, sections merge, --set wins last."""
    for name, text in {"a": 'name = "a"\nseed = 1\n[train]\nepochs = 9\nlr = 0.2\n',
                       "b": 'base = "a"\nname = "b"\n[train]\nepochs = 8\n',
                       "c": 'base = "b"\nname = "c"\n[eval]\nevery = 3\n'}.items():
        (tmp_path / f"{name}.toml").write_text(text)
    monkeypatch.setattr(runconfig, "PRESET_DIR", tmp_path)
    table, chain = resolve_preset("c")
    assert chain == ["c", "b", "a"]
    cfg = load_config("c", ["seed=5"])
    assert (cfg.name, cfg.seed, cfg.train.epochs, cfg.train.lr, cfg.eval.every) == ("c", 5, 8, 0.2, 3)
    # a .toml path may name a shipped-style base too
    own = tmp_path / "elsewhere.toml"
    own.write_text('base = "c"\nname = "d"\n')
    assert resolve_preset(str(own))[1] == [str(own), "c", "b", "a"]


@pytest.mark.parametrize("files, start, message", [
    ({"x": 'base = "nope"\n'}, "x", "x.toml: unknown base preset 'nope'; valid presets: x"),
    ({"x": 'base = 3\n'}, "x", "x.toml: unknown base preset 3; valid presets: x"),
    ({"x": 'base = "y"\n', "y": 'base = "x"\n'}, "x", "y.toml: base presets form a cycle: x -> y -> x"),
    ({"x": 'base = "x"\n'}, "x", "x.toml: base presets form a cycle: x -> x"),
])
def test_bad_bases_are_one_line_errors(tmp_path, monkeypatch, files, start, message):
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text)
    monkeypatch.setattr(runconfig, "PRESET_DIR", tmp_path)
    with pytest.raises(ConfigError) as e:
        load_config(start)
    assert str(e.value).endswith(message) and "\n" not in str(e.value)


def test_bad_base_through_the_cli(tmp_path, capsys):
    from lmreg.experiments.cli import main
    bad = tmp_path / "bad.toml"
    bad.write_text('base = "micro-nonexistent"\n')
    assert main(["train", "--preset", str(bad), "--seeds", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lmreg: error: ") and str(bad) in err and "micro-nonexistent" in err
    assert "\n" not in err
