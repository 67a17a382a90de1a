"""Official NAS-Bench-201 adapter: tiny .pth fixtures in the real layouts (v1_0
and v1_1), built with nas_201_api's own classes; a real file when
$LMREG_NB201_PTH names one."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nas_201_api = pytest.importorskip("nas_201_api")
from nas_201_api import ArchResults, NASBench201API, ResultsCount  # noqa: E402

from lmreg.bench import registry  # noqa: E402
from lmreg.bench.gt_table import CURVES, GTFileError, GTTable  # noqa: E402
from lmreg.bench.landmarks import select_landmarks, select_pool  # noqa: E402
from lmreg.bench.nb201_official import (NB201Store, SPLITS, convert_nb201, open_nb201)  # noqa: E402
from lmreg.spaces import nb201  # noqa: E402

SEEDS = (777, 888, 999)
DATASETS3 = ("cifar10-valid", "cifar10", "cifar100")
EVAL_NAMES = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
              "cifar100": ("x-valid", "x-test", "ori-test")}
# v1_0 (update_OLD_eval): these splits were evaluated at the last epoch only
LAST_ONLY_V10 = {"cifar10-valid": ("ori-test",), "cifar10": (), "cifar100": ("x-valid", "x-test")}
EPOCHS = {"12": 3, "200": 5}


def _trial(rng, ds, seed, epochs, arch, layout):
    acc = lambda: round(rng.uniform(10, 95), 2)  # noqa: E731
    loss = lambda: rng.uniform(0.1, 2.5)  # noqa: E731
    train_acc = {e: acc() for e in range(epochs)}
    train_loss = {e: loss() for e in range(epochs)}
    cfg = {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": 100 if ds == "cifar100" else 10}
    params, flop = rng.uniform(0.1, 1.5), rng.uniform(10, 200)
    rc = ResultsCount(ds, None, train_acc, train_loss, params, flop, cfg, seed, epochs,
                      [rng.uniform(0.005, 0.03)] if layout == "v1_1" else None)
    expect = {"train_acc": [train_acc[e] for e in range(epochs)],
              "train_loss": [train_loss[e] for e in range(epochs)], "params": params, "flops": flop}
    evals = {}
    if layout == "v1_1":
        times = {e: rng.uniform(5, 10) for e in range(epochs)}
        rc.update_train_info(train_acc, {e: 100.0 for e in range(epochs)}, train_loss, times)
        expect["wall_time"] = sum(times.values())
        expect["latency"] = rc.latency[0]
        accs, losses, etimes = {}, {}, {}
        for name in EVAL_NAMES[ds]:
            for e in range(epochs):
                accs[f"{name}@{e}"], losses[f"{name}@{e}"], etimes[f"{name}@{e}"] = acc(), loss(), 1.0
            evals[name] = ([accs[f"{name}@{e}"] for e in range(epochs)],
                           [losses[f"{name}@{e}"] for e in range(epochs)])
        rc.update_eval(accs, losses, etimes)
    else:
        expect["wall_time"] = expect["latency"] = float("nan")
        for name in EVAL_NAMES[ds]:
            ep = [epochs - 1] if name in LAST_ONLY_V10[ds] else list(range(epochs))
            a, lo = {e: acc() for e in ep}, {e: loss() for e in ep}
            rc.update_OLD_eval(name, a, lo)
            evals[name] = ([a.get(e, float("nan")) for e in range(epochs)],
                           [lo.get(e, float("nan")) for e in range(epochs)])
    nan = [float("nan")] * epochs
    for prefix in ("valid", "test", "valtest"):
        split = SPLITS[ds][prefix]
        expect[f"{prefix}_acc"], expect[f"{prefix}_loss"] = evals.get(split, (nan, nan))
    return rc, expect


def write_fixture(path, layout="v1_1", seed=0):
    """8 architectures in meta_archs (official order is not ours), 6 with
    results; hp 200 on 3 datasets x 3 seeds, except one architecture that lacks
    seed 999; hp 12 with 1-2 seeds (v1_1) or cifar10-valid only (v1_0)."""
    rng = random.Random(seed)
    meta = [nb201.to_str(nb201.from_index(i)) for i in random.Random(1).sample(range(nb201.NUM_ARCHS), 8)]
    expected, arch2infos = {}, {}
    for idx in (0, 1, 2, 4, 5, 7):
        arch = meta[idx]
        hp_info = {}
        for hp, key in (("12", "less"), ("200", "full")):
            res = ArchResults(idx, arch)
            for ds in DATASETS3:
                if hp == "12":
                    if layout == "v1_0" and ds != "cifar10-valid":
                        continue
                    seeds = (777, 888) if ds == "cifar10-valid" else (777,)
                else:
                    seeds = SEEDS[:2] if idx == 4 else SEEDS
                for s in seeds:
                    rc, expect = _trial(rng, ds, s, EPOCHS[hp], arch, layout)
                    res.update(ds, s, rc)
                    expected[(ds, hp, arch, s)] = expect
            hp_info[key] = res.state_dict()
        arch2infos[idx] = hp_info
    data = {"meta_archs": meta, "total_archs": len(meta), "arch2infos": arch2infos,
            "evaluated_indexes": set(arch2infos)}
    torch.save(data, path)
    return data, expected


@pytest.fixture(scope="module")
def v11(tmp_path_factory):
    d = tmp_path_factory.mktemp("nb201")
    pth = d / "NAS-Bench-201-v1_1-fixture.pth"
    data, expected = write_fixture(pth, "v1_1")
    summary = convert_nb201(pth, d / "nb201.h5")
    return pth, d / "nb201.h5", expected, summary


def _same(a, b):
    return np.array_equal(np.asarray(a, float), np.asarray(b, float), equal_nan=True)


def test_v1_1_values_per_seed_exact(v11):
    _, store, expected, summary = v11
    seen = 0
    for (ds, hp, arch, s), exp in expected.items():
        t = open_nb201(ds, hp, store)
        rows = [i for i, (a, ss) in enumerate(zip(t.archs, t.seeds)) if a == arch and ss == s]
        assert len(rows) == 1
        r = rows[0]
        for c in CURVES + ("valtest_acc", "valtest_loss"):
            assert _same(t.curves[c][r], exp[c]), (ds, hp, arch, s, c)
        for k in ("params", "flops", "wall_time", "latency"):
            assert _same(t.scalars[k][r], exp[k]), (ds, hp, k)
        seen += 1
    assert seen == sum(len(open_nb201(*g.split("/"), store)) for g in NB201Store(store).groups)
    g = summary["groups"]["cifar10/200"]
    assert g["seeds"] == list(SEEDS) and g["archs"] == 6 and g["rows"] == 17
    assert g["archs_with_fewer_seeds"] == 1 and g["archs_by_seed_count"] == {"2": 1, "3": 5}
    assert summary["groups"]["cifar100/12"]["archs_with_fewer_seeds"] == 0
    assert summary["archs_in_file"] == 8 and summary["archs_with_results"] == 6
    assert summary["layout"] == "v1_1"
    assert NB201Store(store).summary["groups"] == summary["groups"]  # stored in the file too


def test_matches_nas_201_api_per_seed(v11):
    pth, store, expected, _ = v11
    data = torch.load(pth, weights_only=False)
    api = NASBench201API(data, verbose=False)
    for ds in DATASETS3:
        for hp in ("12", "200"):
            t = open_nb201(ds, hp, store)
            for epoch in (0, EPOCHS[hp] - 1):
                for seed in sorted(set(t.seeds.tolist())):
                    ours = {m: t.per_arch(m, epoch, seed=seed)
                            for m in ("train_acc", "train_loss", "valid_acc", "test_acc", "test_loss")}
                    for arch in ours["train_acc"].index:
                        info = api.get_more_info(api.query_index_by_arch(arch), ds, iepoch=epoch, hp=hp,
                                                 is_random=seed)
                        assert ours["train_acc"][arch] == info["train-accuracy"]
                        assert ours["train_loss"][arch] == info["train-loss"]
                        assert ours["test_acc"][arch] == info["test-accuracy"]
                        assert ours["test_loss"][arch] == info["test-loss"]
                        if "valid-accuracy" in info:
                            assert ours["valid_acc"][arch] == info["valid-accuracy"]
                        else:
                            assert np.isnan(ours["valid_acc"][arch])
            # the mean over seeds is the API's is_random=False average
            mean = t.per_arch("test_acc")
            for arch, v in mean.items():
                info = api.get_more_info(api.query_index_by_arch(arch), ds, hp=hp, is_random=False)
                assert v == pytest.approx(info["test-accuracy"], abs=1e-12)


def test_v1_0_layout(tmp_path):
    pth = tmp_path / "NAS-Bench-201-v1_0-fixture.pth"
    _, expected = write_fixture(pth, "v1_0", seed=3)
    summary = convert_nb201(pth, tmp_path / "s.h5")
    store = NB201Store(tmp_path / "s.h5")
    assert store.groups == ["cifar10-valid/12", "cifar10-valid/200", "cifar10/200", "cifar100/200"]
    assert summary["layout"] == "v1_0"
    assert summary["groups"]["cifar100/200"]["trials_with_sparse_eval"] == 17
    for (ds, hp, arch, s), exp in expected.items():
        t = store.table(ds, hp)
        r = [i for i, (a, ss) in enumerate(zip(t.archs, t.seeds)) if a == arch and ss == s][0]
        for c in CURVES:
            assert _same(t.curves[c][r], exp[c])
        assert np.isnan(t.scalars["wall_time"][r]) and np.isnan(t.scalars["latency"][r])
    t = store.table("cifar100", "200")
    assert t.per_arch("test_acc").notna().all()          # last epoch: evaluated
    assert t.per_arch("test_acc", 0).isna().all()         # x-test only at the last epoch
    assert t.per_arch("valtest_acc", 0).notna().all()     # ori-test at every epoch


def test_registry_name_and_gttable_views(v11, monkeypatch, tmp_path):
    _, store, expected, _ = v11
    monkeypatch.setenv("LMREG_NB201_H5", str(store))
    t = registry.load("nb201-cifar10")
    assert isinstance(t, GTTable) and t.epochs == EPOCHS["200"] and registry.resolve("nb201-cifar10") == store
    gt = t.per_arch("test_acc")
    for arch, v in gt.items():
        vals = [e["test_acc"][-1] for (ds, hp, a, s), e in expected.items() if (ds, hp, a) == ("cifar10", "200", arch)]
        assert v == pytest.approx(np.mean(vals), abs=1e-12)
    assert gt.index.is_monotonic_increasing and len(gt) == 6 and not gt.isna().any()
    assert np.isnan(t.per_arch("valid_acc")).all()     # cifar10 has no validation split
    assert registry.load("nb201-cifar10-valid-hp12").epochs == EPOCHS["12"]
    sm = t.seed_matrix("test_acc")
    assert list(sm.columns) == list(SEEDS) and int(sm.isna().sum().sum()) == 1
    assert sm.mean(axis=1).values == pytest.approx(gt.values)
    fr = t.frame(2)
    assert len(fr) == 17 and {"arch", "seed", "params", "latency", *CURVES} <= set(fr.columns)
    # the same GT as the rows' pandas group-by (tests/test_ground_truth.py checks it for every source)
    assert fr.groupby("arch")["train_acc"].mean().to_numpy() == \
        pytest.approx(t.per_arch("train_acc", 2).to_numpy(), abs=1e-12)


def test_landmarks_and_pool_on_converted_benchmark(v11, monkeypatch):
    _, store, _, _ = v11
    monkeypatch.setenv("LMREG_NB201_H5", str(store))
    for name in ("nb201-cifar100", "nb201-cifar10-valid", "nb201-cifar10-hp12"):
        gt = registry.load(name).per_arch("test_acc")
        for method in ("random", "fixed", "even"):
            lm = select_landmarks(gt, 3, method=method, seed=1)
            assert len(set(lm)) == 3 and all(gt[a] <= gt[b] for a, b in zip(lm, lm[1:]))
            pool = select_pool(gt, 2, exclude=lm, seed=0)
            assert len(pool) == 2 and not set(pool) & set(lm)
            assert select_pool(gt, None, exclude=lm) == sorted(set(gt.index) - set(lm))
        fixed = select_landmarks(gt, 3, method="even")
        assert fixed[0] == gt.idxmin() and fixed[-1] == gt.idxmax()


# ----------------------------------------------------------------------------- bad input
def _one_line_error(fn, *needles):
    with pytest.raises(GTFileError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg, msg
    for n in needles:
        assert str(n) in msg, msg
    return msg


def _no_leftovers(d, allowed=()):
    assert sorted(p.name for p in d.iterdir() if p.name not in allowed) == []


def test_bad_files(tmp_path, v11):
    good_pth = v11[0]
    src = tmp_path / "src"
    out = tmp_path / "out"
    src.mkdir(), out.mkdir()
    trunc = src / "truncated.pth"
    trunc.write_bytes(good_pth.read_bytes()[: good_pth.stat().st_size // 2])
    _one_line_error(lambda: convert_nb201(trunc, out / "s.h5"), trunc, "not a readable")
    text = src / "notes.pth"
    text.write_text("this is not a torch file\n")
    _one_line_error(lambda: convert_nb201(text, out / "s.h5"), text, "not a readable")
    other = src / "other.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, other)
    _one_line_error(lambda: convert_nb201(other, out / "s.h5"), other, "not a NAS-Bench-201 file", "meta_archs")
    tensor = src / "tensor.pth"
    torch.save(torch.zeros(3), tensor)
    _one_line_error(lambda: convert_nb201(tensor, out / "s.h5"), tensor, "Tensor")
    _one_line_error(lambda: convert_nb201(src / "absent.pth", out / "s.h5"), "absent.pth", "no such")
    _one_line_error(lambda: convert_nb201(good_pth, out / "s.h5", datasets=["svhn"]), good_pth, "'svhn'",
                    "cifar100")
    _one_line_error(lambda: convert_nb201(good_pth, out / "s.h5", seeds=[777, 123]), good_pth, "seed 123")
    _no_leftovers(out)

    # a malformed trial half-way through: the previous store stays as it was, no temp file
    good = convert_nb201(good_pth, out / "s.h5", datasets=["cifar10"], hps=["200"], seeds=[777])
    assert good["groups"]["cifar10/200"]["rows"] == 6
    data = torch.load(good_pth, weights_only=False)
    last = max(data["arch2infos"])
    del data["arch2infos"][last]["full"]["all_results"][("cifar10", 777)]["eval_acc1es"]
    broken = src / "broken.pth"
    torch.save(data, broken)
    _one_line_error(lambda: convert_nb201(broken, out / "s.h5"), broken, f"arch {last}", "malformed")
    _no_leftovers(out, allowed={"s.h5"})
    assert NB201Store(out / "s.h5").groups == ["cifar10/200"]

    # requests the store cannot answer
    _one_line_error(lambda: open_nb201("cifar100", "200", out / "s.h5"), "s.h5", "cifar100", "cifar10/200")
    t = open_nb201("cifar10", "200", out / "s.h5")
    _one_line_error(lambda: t.per_arch("test_acc", seed=888), "s.h5", "seed 888", "777")
    _one_line_error(lambda: NB201Store(good_pth), good_pth)      # a .pth is not a store
    _one_line_error(lambda: NB201Store(tmp_path / "none.h5"), "none.h5", "lmreg bench convert nb201")


# ----------------------------------------------------------------------------- real file
@pytest.mark.skipif(not os.environ.get("LMREG_NB201_PTH"), reason="set LMREG_NB201_PTH to an official "
                    "NAS-Bench-201 .pth (v1_0 or v1_1) to run this test")
def test_real_file(tmp_path):
    from lmreg.bench.nb201_official import load_pth
    pth = os.environ["LMREG_NB201_PTH"]
    data = load_pth(pth)
    sample = random.Random(0).sample(sorted(data["arch2infos"]), 20)
    raw = {i: {hp: ArchResults.create_from_state_dict(data["arch2infos"][i][key])
               for hp, key in (("12", "less"), ("200", "full"))} for i in sample}
    summary = convert_nb201(pth, tmp_path / "real.h5", data=data)
    del data
    assert summary["archs_in_file"] == 15625
    store = NB201Store(tmp_path / "real.h5")
    for group in store.groups:
        ds, hp = group.split("/")
        t = store.table(ds, hp)
        gt = t.per_arch("test_acc")
        assert len(gt) == summary["groups"][group]["archs"] <= 15625
        assert 0 <= gt.min() and gt.max() <= 100
        for i in sample:
            res = raw[i][hp]
            if ds not in res.get_dataset_names():
                continue
            arch = store.arch_strings[i]
            split = SPLITS[ds]["test"]
            for seed in res.get_dataset_seeds(ds):
                want = res.get_metrics(ds, split, is_random=seed)["accuracy"]
                assert t.per_arch("test_acc", seed=seed)[arch] == want
    hist = summary["groups"]["cifar10-valid/200"]["archs_by_seed_count"]
    assert sum(hist.values()) == 15625
