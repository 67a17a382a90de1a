"""`lmreg config show` and `lmreg config doc` (docs/config.md): every key of the run
config and of each algorithm's options, with the valid values the code enforces and the
comments beside the dataclass fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest

from lmreg.algorithms.base import algorithm_names, get_algorithm
from lmreg.experiments import config_schema
from lmreg.experiments.cli import main
from lmreg.experiments.config import ConfigError
from lmreg.experiments.config_schema import RANGES, describe, field_doc, format_value
from lmreg.experiments.runconfig import RunConfig, load_config, to_dict
from lmreg.results.identity import flatten

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_docs_config_md_is_current():
    """Regenerate with `lmreg config doc > docs/config.md`."""
    assert DOC.read_text() == config_schema.markdown(), "docs/config.md is stale: run lmreg config doc > docs/config.md"


def test_doc_lists_every_key_of_every_section_and_algorithm():
    """Against the dataclasses' own fields (dataclasses.asdict), not the describer."""
    doc = DOC.read_text()
    expected = set(flatten(to_dict(RunConfig())))
    for name in algorithm_names():
        expected |= {f"algo.{k}" for k in flatten(dataclasses.asdict(get_algorithm(name).options_type()))}
    assert "algo.tau_epochs" in expected and "train.epochs" in expected
    missing = [k for k in expected if f"| `{k}` |" not in doc]
    assert not missing
    assert "### gdas" in doc and "| `algo.tau_epochs` | int | `35` | >= 2 |" in doc


@dataclass(frozen=True)
class _Commented:
    plain: int = 1
    inline: int = 2          # said beside
    # said above,
    # over two lines
    blocked: int = 3
    grouped: int = 4
    both: str = "x"          # beside
    # above too
    also: bool = False       # and beside


def test_field_comments_are_read_from_the_source():
    assert field_doc(_Commented, "plain") == ""
    assert field_doc(_Commented, "inline") == "said beside"
    assert field_doc(_Commented, "blocked") == "said above, over two lines"
    assert field_doc(_Commented, "grouped") == "see blocked"
    assert field_doc(_Commented, "both") == "beside"
    assert field_doc(_Commented, "also") == "above too and beside"


def test_inherited_options_take_the_base_class_comment():
    from lmreg.algorithms.gdas import GDASOptions
    # GDAS re-declares search_epochs without a comment; ArchOptions has it
    assert field_doc(GDASOptions, "search_epochs") == "final epochs with alpha updates (official policy_epochs)"


def _bound_value(bound, cfg):
    """A bound as a number: a literal, the value of the key it names, or `KEY - KEY`."""
    if isinstance(bound, str):
        flat = flatten(to_dict(cfg))
        first, *rest = bound.split(" - ")
        return flat[first] - sum(flat[k] for k in rest)
    return bound


def _context(key: str) -> tuple[str, list[str]]:
    if key.startswith("algo."):
        return "micro-gdas", []
    if key == "train.epochs":
        return "micro", ["train.warmup_epochs=0"]
    return "micro", []


@pytest.mark.parametrize("key", sorted(RANGES))
def test_each_documented_bound_is_enforced(key):
    """Just outside each numeric bound is refused; the closed bound itself is accepted."""
    preset, extra = _context(key)
    cfg = load_config(preset, extra)
    kind = next(k.type for k in describe(cfg) if k.name == key)
    step = 1 if kind.startswith("int") else 0.5
    r = RANGES[key]
    checked = 0
    for bound, is_open, sign in ((r.low, r.low_open, -1), (r.high, r.high_open, +1)):
        value = _bound_value(bound, cfg)
        if value is None or value in (float("inf"), -float("inf")):
            continue
        outside = value if is_open else value + sign * step
        with pytest.raises(ConfigError):
            load_config(preset, extra + [f"{key}={outside}"])
        if not is_open:
            load_config(preset, extra + [f"{key}={value}"])
        checked += 1
    assert checked, f"{key}: no bound checked"


CHOICE_CONTEXT = {
    ("algorithm", "gdas"): ["net.cell=per_edge", "algo.search_epochs=2"],
    ("algorithm", "pcdarts"): ["net.cell=partial_channel", "algo.search_epochs=2"],
    ("task", "smoke-fmnist"): ["eval.n_images=500"],
    ("eval.bn_mode", "running"): ["net.bn_track_running_stats=true"],
}


def _choice_context(key: str, choice: str) -> list[str] | None:
    """Overrides a choice needs to load on the micro preset; a space needs a benchmark of its
    own (the registry's first), None where the registry has none yet."""
    if key == "space":
        from lmreg.bench import registry
        bench = next((b.name for b in registry.BENCHMARKS.values() if b.space == choice), None)
        return None if bench is None else [f"benchmark={bench}"]
    return CHOICE_CONTEXT.get((key, choice), [])


@pytest.mark.parametrize("key", sorted(k for k, v in config_schema.choices().items() if isinstance(v, tuple)))
def test_each_listed_choice_is_accepted_and_others_refused(key):
    for choice in config_schema.choices()[key]:
        context = _choice_context(key, choice)
        if context is None:  # accepted as a value; refused only for want of a ground truth
            with pytest.raises(ConfigError, match="covers the"):
                load_config("micro", [f"{key}={choice}"])
            continue
        assert flatten(to_dict(load_config("micro", context + [f"{key}={choice}"])))[key] == choice
    with pytest.raises((ConfigError, KeyError)):
        load_config("micro", [f"{key}=not-a-choice"])


def _rows(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    return {line.split()[0]: line.split() for line in lines[2:]}


def test_show_prints_every_key_with_value_type_source_and_valid_values(capsys):
    assert main(["config", "show", "--preset", "micro-gdas", "--set", "seed=3", "--set", "eval.n_images=none"]) == 0
    out = capsys.readouterr().out
    head = out.splitlines()[0]
    assert head == "preset micro-gdas <- micro, then --set seed=3 eval.n_images=none"
    rows = _rows(out)
    cfg = flatten(to_dict(load_config("micro-gdas", ["seed=3", "eval.n_images=none"])))
    assert sorted(rows) == sorted(cfg)                                       # one line a key, every key
    assert all(rows[k][1] == format_value(v) for k, v in cfg.items())     # its value
    assert rows["seed"][1:4] == ["3", "int", "--set"]
    assert rows["eval.n_images"][1:6] == ["none", "int", "or", "none", "--set"]
    assert rows["name"][1:4] == ["micro-gdas", "str", "micro-gdas"]           # the nearest file wins
    assert rows["net.cell"][1:4] == ["per_edge", "str", "micro-gdas"]          # the variant's own line
    assert rows["train.epochs"][1:4] == ["16", "int", "micro"]                 # inherited from the base
    assert rows["train.momentum"][1:4] == ["0.9", "float", "default"]          # the dataclass default
    assert rows["algo.tau_epochs"][1:] == ["2", "int", "micro-gdas", ">=", "2"]
    assert " ".join(rows["eval.bn_mode"][4:]) == "batch | recalibrate | running"


@pytest.mark.parametrize("argv, fragment", [
    (["config", "show", "--preset", "no-such-preset"], "unknown preset 'no-such-preset'"),
    (["config", "show", "--set", "train.epoch=3"], "unknown config key 'train.epoch'"),
    (["config", "show", "--set", "eval.bn_mode=sometimes"], "unknown eval.bn_mode 'sometimes'"),
])
def test_show_bad_input_is_one_line_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("lmreg: error: ") and fragment in captured.err
    assert captured.err.count("\n") == 1
