"""Contracts every registered member keeps, parametrised over the registries themselves
(spaces, benchmarks, tasks, and every registry's entries), so a new member is tested the
day it is registered; and the registry type they are all built on."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from lmreg.bench import registry
from lmreg.bench.datasets import tasks
from lmreg.bench.ground_truth import GroundTruth, gt_metric
from lmreg.core.errors import DuplicateNameError, UnknownNameError, UserError
from lmreg.core.registry import Registry
from lmreg.spaces.base import SPACES, NetSpec, get_space, space_names


def _smallest_net(space) -> NetSpec:
    """The narrowest one-cell network the space accepts."""
    for c in range(1, 65):
        try:
            space.check_net(NetSpec(C=c, N=1))
            return NetSpec(C=c, N=1)
        except ValueError:
            continue
    raise AssertionError(f"{space.name}: no width up to 64 passes check_net")


@pytest.mark.parametrize("name", space_names())
def test_space_keys_round_trip_and_samples_repeat(name):
    space = get_space(name)
    assert space.name == name and isinstance(space.semantics, str) and space.semantics
    archs = space.sample(12, 3)
    keys = [space.key(a) for a in archs]
    assert len(set(keys)) == 12  # distinct cells
    assert [space.key(space.parse(k)) for k in keys] == keys
    assert [space.key(a) for a in space.sample(12, 3)] == keys
    assert [space.key(a) for a in space.sample(20, 3)][:12] == keys  # a larger n extends a smaller one
    assert [space.key(a) for a in space.sample(12, 4)] != keys
    rng_a, rng_b = random.Random(5), random.Random(5)
    assert [space.key(space.sample_path(rng_a)) for _ in range(5)] == \
        [space.key(space.sample_path(rng_b)) for _ in range(5)]


@pytest.mark.parametrize("name", space_names())
def test_space_standalone_network_is_its_supernet_path(name):
    """A stand-alone network loaded with the super-net's weights of its path computes what
    the super-net computes on that path."""
    space = get_space(name)
    net = _smallest_net(space)
    torch.manual_seed(0)
    sup = space.build_supernet(net, 1, 10).eval()
    x = torch.randn(3, 1, 16, 16)
    for arch in space.sample(3, 1):
        sa = space.build_standalone(arch, net, 1, 10).eval()
        sa.load_state_dict(space.subnet_state(sup, sa))
        with torch.no_grad():
            out = sup(x, arch)
            assert out.shape == (3, 10)
            torch.testing.assert_close(sa(x), out)


def test_every_benchmark_names_a_registered_space():
    for b in registry.BENCHMARKS.values():
        assert b.space in SPACES, b.name


@pytest.mark.parametrize("name", sorted(registry.BENCHMARKS))
def test_present_benchmarks_hold_keys_of_their_space(name):
    bench = registry.BENCHMARKS[name]
    if bench.state()[0] != "present":
        pytest.skip(f"{name} is not on this machine")
    table = registry.load(name)
    assert isinstance(table, GroundTruth) and table.space == bench.space
    space = get_space(bench.space)
    gt = table.per_arch(gt_metric(table))  # the table's own GT metric (some hold no test accuracy)
    assert len(gt) > 0 and np.isfinite(gt.to_numpy()).all()
    for key in gt.index[:20]:
        assert space.key(space.parse(key)) == key


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_tasks_name_registered_datasets_and_have_images(name):
    spec = tasks.get_spec(name)
    assert spec.dataset in tasks.DATASETS
    sizes = tasks.split_sizes(spec)
    assert set(sizes) == {"train", "valid", "test"} and min(sizes.values()) > 0


# The registry type itself, and every registry of the harness built on it -----------------
def test_registry_registers_resolves_lazily_and_names_the_valid_entries():
    reg = Registry("widget")
    assert reg.register("b", 2) == 2

    @reg.register("a")
    def a():
        return "a"

    reg.register("lazy", "lmreg.core.errors:UserError")
    assert reg.names() == ["b", "a", "lazy"] and list(reg) == reg.names() and len(reg) == 3
    assert "lazy" in reg and "c" not in reg
    assert reg.get("a") is a and reg["b"] == 2
    assert reg.get("lazy") is UserError and dict(reg.items())["lazy"] is UserError
    with pytest.raises(UnknownNameError, match=r"^unknown widget 'c'; valid widgets: b, a, lazy$"):
        reg.get("c")
    with pytest.raises(DuplicateNameError, match="widget 'a' is already registered"):
        reg.register("a", 3)
    assert reg.get("a") is a
    scoped = reg.copy()
    scoped.register("c", 3)
    assert "c" in scoped and "c" not in reg
    assert Registry("kind", "kinds").register("x", "lmreg.no_such_module:thing") == "lmreg.no_such_module:thing"


def test_a_lazy_entry_that_does_not_import_fails_on_look_up():
    reg = Registry("widget")
    reg.register("gone", "lmreg.core.errors:NoSuchError")
    with pytest.raises(AttributeError, match="NoSuchError"):
        reg.get("gone")


def _every_registry():
    from lmreg.algorithms.base import ALGORITHMS, SuperNetTrainer
    from lmreg.algorithms.predictors import PREDICTORS
    from lmreg.algorithms.rankers import RANKERS
    from lmreg.paper_figures.definitions import DEFINITIONS, Definition
    from lmreg.spaces.base import SearchSpace
    return {
        "spaces": (SPACES, lambda name, s: isinstance(s, SearchSpace) and s.name == name),
        "algorithms": (ALGORITHMS, lambda name, t: issubclass(t, SuperNetTrainer)),
        "rankers": (RANKERS, lambda name, f: callable(f)),
        "predictors": (PREDICTORS, lambda name, t: callable(getattr(t, "encode", None))),
        "datasets": (tasks.DATASETS, lambda name, d: d.name == name),
        "tasks": (tasks.TASKS, lambda name, t: t.name == name),
        "benchmarks": (registry.BENCHMARKS, lambda name, b: b.name == name and b.space in SPACES),
        "definitions": (DEFINITIONS, lambda name, d: isinstance(d, Definition) and d.name == name),
    }


@pytest.mark.parametrize("which", list(_every_registry()))
def test_every_entry_of_every_registry_resolves_to_its_kind(which):
    """A mistyped "module:attribute" entry or a member registered under another name fails here."""
    reg, ok = _every_registry()[which]
    assert isinstance(reg, Registry) and len(reg) > 0
    bad = [name for name in reg if not ok(name, reg.get(name))]
    assert not bad, f"{which}: {bad}"
