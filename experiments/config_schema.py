"""Every key of the run config described: its type, default, valid values and the
comment written beside its dataclass field. Read by `lmreg config show` (a resolved
config, key by key) and `lmreg config doc` (docs/config.md), so neither can drift from
the dataclasses.

Valid values: the names of a registry or a constant tuple where the code checks a name
against one (read from that tuple here), the ranges that `experiments/checks.py` and the
sections' `__post_init__` enforce (written here once: a test sets a value just outside
each numeric bound and expects it refused)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import typing
from dataclasses import dataclass
from functools import cache

INF = float("inf")


@dataclass(frozen=True)
class Range:
    """A numeric range; a bound may name another key (checked against its value)."""
    low: float | str = -INF
    high: float | str = INF
    low_open: bool = False
    high_open: bool = False
    note: str = ""

    def __str__(self) -> str:
        if self.high == INF:
            text = f"{'>' if self.low_open else '>='} {self.low}"
        elif self.low == -INF:
            text = f"{'<' if self.high_open else '<='} {self.high}"
        else:
            text = f"{'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"
        return f"{text} {self.note}".strip()


@dataclass(frozen=True)
class Key:
    name: str          # dotted, as `--set` takes it
    type: str          # int, float, str, bool; "int or none" for optional ones
    value: object      # the config's value (the default, for a fresh config)
    valid: str         # "" where any value of the type works
    doc: str           # the comment beside the dataclass field


def choices() -> dict[str, tuple[str, ...] | str]:
    """Keys whose value must be one of a set the code knows (imports are lazy: the
    registries import their modules on first use)."""
    from lmreg.algorithms.base import PATH_SAMPLERS, UNSAMPLED_GRADS, algorithm_names
    from lmreg.algorithms.landmark_reg import (GROW_SELECT, LOSS_FORMS, PAIR_REDUCTIONS, PAIR_SAMPLERS,
                                               SCHEDULES)
    from lmreg.algorithms.scoring import BN_MODES
    from lmreg.algorithms.search import SEARCHES
    from lmreg.bench import registry
    from lmreg.bench.datasets.tasks import SPLITS, TASKS
    from lmreg.bench.landmarks import SELECTION_METHODS
    from lmreg.experiments.runconfig import DRAWS
    from lmreg.spaces.base import space_names
    from lmreg.spaces.nb201_net import CELL_TYPES
    return {
        "name": "a folder-name word: letters, digits, . _ + = -",
        "benchmark": " | ".join(sorted(registry.BENCHMARKS)) + " (or a path to a .h5 ground-truth table)",
        "gt_metric": "a metric of the benchmark's table (lmreg bench info NAME)",
        "task": tuple(sorted(TASKS)),
        "space": tuple(space_names()),
        "algorithm": tuple(algorithm_names()),
        "device": "cpu | cuda | cuda:N | mps",
        "draws": DRAWS,
        "net.cell": " | ".join(CELL_TYPES) + " (NB201's super-net cell; DARTS reads partial_channel only, NB101 none)",
        "train.unsampled_grads": UNSAMPLED_GRADS,
        "train.path_sampler": PATH_SAMPLERS,
        "landmarks.selection": tuple(SELECTION_METHODS),
        "landmarks.pair_sampler": tuple(PAIR_SAMPLERS),
        "landmarks.pair_reduction": PAIR_REDUCTIONS,
        "landmarks.loss_form": tuple(LOSS_FORMS),
        "landmarks.schedule": tuple(SCHEDULES),
        "landmarks.grow_select": GROW_SELECT,
        "eval.split": SPLITS,
        "eval.bn_mode": BN_MODES,
        "search.method": SEARCHES,
    }


RANGES: dict[str, Range] = {
    "seed": Range(0),
    "threads": Range(1),
    "net.C": Range(1),
    "net.N": Range(1),
    "train.epochs": Range(1),
    "train.warmup_epochs": Range(0, "train.epochs", high_open=True),
    "train.batch_size": Range(1, note="and <= the task's training images"),
    "train.lr": Range(0, low_open=True),
    "train.lr_min": Range(0, "train.lr"),
    "train.momentum": Range(0, 1, high_open=True),
    "train.weight_decay": Range(0),
    "train.grad_clip": Range(0, low_open=True),
    "landmarks.m": Range(2),
    "landmarks.n_pairs": Range(1, note="(above 1 only with the official and uniform samplers)"),
    "landmarks.beta": Range(0, low_open=True, note="(other than 1 only with loss_form softplus)"),
    "landmarks.max_coef": Range(0),
    "landmarks.landmark_warmup_epochs": Range(0),
    "landmarks.every": Range(1, note="and <= the training steps of an epoch"),
    "landmarks.batch_size": Range(0, note="and <= the task's held-out images; 0: train.batch_size"),
    "landmarks.grow_rounds": Range(0),
    "landmarks.grow_k": Range(1),
    "eval.pool_size": Range(10, note="(precision@10 is one of the metrics)"),
    "eval.every": Range(1),
    "eval.n_images": Range(1, note="and <= the split's images, or none for all of it"),
    "eval.batch_size": Range(1),
    "eval.recal_batches": Range(1),
    "search.population": Range("search.tournament"),
    "search.tournament": Range(1, "search.population"),
    "search.budget": Range(1),
    "search.batches": Range(1),
    "search.batch_size": Range(1),
    "search.top": Range(1),
    "algo.search_epochs": Range(0, "train.epochs - train.warmup_epochs"),
    "algo.arch_lr": Range(0, low_open=True),
    "algo.arch_beta1": Range(0, 1, high_open=True),
    "algo.arch_beta2": Range(0, 1, high_open=True),
    "algo.arch_weight_decay": Range(0),
    "algo.alpha_init_std": Range(0),
    "algo.tau_max": Range("algo.tau_min"),
    "algo.tau_min": Range(0, "algo.tau_max", low_open=True),
    "algo.tau_epochs": Range(2),
    "algo.zero_output_draws": Range(1),
}


def valid_values(key: str) -> str:
    choice = choices().get(key)
    if isinstance(choice, tuple):
        return " | ".join(choice)
    if choice is not None:
        return choice
    return str(RANGES[key]) if key in RANGES else ""


def type_name(kind) -> str:
    args = typing.get_args(kind)
    if args:
        return " or ".join("none" if a is type(None) else a.__name__ for a in args)
    return kind.__name__


@cache
def _field_comments(cls: type) -> dict[str, str]:
    """The comments beside each field in `cls`'s own source: the one at the end of its
    line, after the block of comment lines right above it. A field without either, right
    after a field that had a block, refers to that field (a block often covers a group)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    lines = source.splitlines()
    out: dict[str, str] = {}
    group = None
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above, line = [], node.lineno - 1
        while line >= 1 and lines[line - 1].strip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        inline = comments.get(node.end_lineno)
        parts = [" ".join(above)] if above else []
        parts += [inline] if inline else []
        name = node.target.id
        if above:
            group = name
        elif not inline and group:
            parts = [f"see {group}"]
        else:
            group = None
        out[name] = " ".join(parts)
    return out


def field_doc(cls: type, name: str) -> str:
    """The comment of field `name`, from the first class in `cls`'s MRO whose source has one."""
    for klass in cls.__mro__:
        doc = _field_comments(klass).get(name)
        if doc:
            return doc
    return ""


def describe(obj, prefix: str = "") -> list[Key]:
    """Every leaf key of dataclass `obj`, nested sections flattened as `section.key`."""
    hints = typing.get_type_hints(type(obj))
    keys: list[Key] = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        name = prefix + f.name
        if dataclasses.is_dataclass(value):
            keys += describe(value, name + ".")
        else:
            doc = field_doc(type(obj), f.name)
            if doc.startswith("see "):
                doc = f"see {prefix}{doc[4:]}"
            keys.append(Key(name, type_name(hints[f.name]), value, valid_values(name), doc))
    return keys


def format_value(value) -> str:
    """A value as `--set` takes it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def section_docs() -> dict[str, str]:
    """The docstring of each section's dataclass, by section name (RunConfig's for the top level)."""
    from lmreg.experiments.runconfig import RunConfig
    cfg = RunConfig()
    out = {"": inspect.getdoc(RunConfig) or ""}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and f.name != "algo":
            out[f.name] = inspect.getdoc(type(value)) or ""
    return out


def _own_doc(cls: type) -> str:
    """A class's docstring, not the signature dataclasses write where there is none."""
    doc = inspect.getdoc(cls) or ""
    return "" if doc.startswith(f"{cls.__name__}(") else " ".join(doc.split())


def show_lines(preset: str, overrides: list[str]) -> list[str]:
    """`lmreg config show`: the preset chain, then one line a key of the resolved config:
    key, value, type, where the value came from (a preset of the chain, --set or the
    dataclass default) and its valid values."""
    from lmreg.experiments.runconfig import load_config, preset_tables
    from lmreg.results.identity import flatten
    cfg = load_config(preset, overrides)
    chain = [(name, flatten(table)) for name, table in preset_tables(preset)]
    typed = {item.partition("=")[0] for item in overrides}
    rows = [("key", "value", "type", "from", "valid values")]
    for key in describe(cfg):
        source = "--set" if key.name in typed else next((n for n, t in chain if key.name in t), "default")
        rows.append((key.name, format_value(key.value), key.type, source, key.valid or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    head = f"preset {' <- '.join(name for name, _ in chain)}"
    if overrides:
        head += f", then --set {' '.join(overrides)}"
    return [head] + ["  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4]
                     for row in rows]


def _table(keys: list[Key]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")
    lines = ["| key | type | default | valid values | description |", "|---|---|---|---|---|"]
    lines += [f"| `{k.name}` | {cell(k.type)} | `{format_value(k.value)}` | {cell(k.valid) or '-'} | "
              f"{cell(k.doc) or '-'} |" for k in keys]
    return lines


def markdown() -> str:
    """docs/config.md: every key of every section, and every algorithm's `algo.*` options."""
    from lmreg.algorithms.base import algorithm_names, get_algorithm
    from lmreg.experiments.runconfig import RunConfig, preset_tables, presets
    cfg = RunConfig()
    keys = describe(cfg)
    out = ["# Configuration keys", "",
           "Generated from the config dataclasses by `lmreg config doc > docs/config.md` "
           "(experiments/config_schema.py; descriptions are the comments beside the fields); "
           "tests/test_config_schema.py fails when this file is stale.", "",
           "A run's config is the defaults below, then a preset (`--preset NAME`, "
           "experiments/presets/NAME.toml, or a .toml path), then `--set KEY=VALUE` (dotted keys for "
           "sections; `none` for an empty optional value). A preset may say `base = \"NAME\"` and list "
           "only what differs from that preset. `lmreg config show --preset NAME [--set KEY=VALUE ...]` "
           "prints a resolved config with the source of each value.", ""]
    sections = [("", "Top level", _own_doc(RunConfig))]
    sections += [(f.name, f"`{f.name}`", _own_doc(type(getattr(cfg, f.name))))
                 for f in dataclasses.fields(cfg) if dataclasses.is_dataclass(getattr(cfg, f.name))
                 and f.name != "algo"]
    for section, title, doc in sections:
        own = [k for k in keys if (k.name.partition(".")[0] == section if section else "." not in k.name)]
        out += [f"## {title}", ""] + ([doc, ""] if doc else []) + _table(own) + [""]
    out += ["## `algo`", "",
            "The options of the run's algorithm (`algorithm = ...`): the section takes the options "
            "type the algorithm declares (`options_type`), so `algo.*` keys are checked against it.", ""]
    for name in algorithm_names():
        options = get_algorithm(name).options_type()
        own = describe(options, "algo.")
        out += [f"### {name}", ""]
        out += (_table(own) if own else ["No options of its own."]) + [""]
    out += ["## Presets", "", "| preset | chain |", "|---|---|"]
    out += [f"| `{p}` | {' <- '.join(n for n, _ in preset_tables(p))} |" for p in presets()]
    return "\n".join(out) + "\n"
