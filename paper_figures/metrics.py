"""Ranking-quality metrics: how well super-net scores order architectures by ground truth.
``kendall_tau`` (scipy's tau-b) is the headline; ``kendall_tau_official`` and
``official_percentiles`` re-state what the official code logs (docs/fidelity.md).

Every metric takes ``pred`` (super-net score, higher = better) and ``gt``
(ground-truth accuracy in %, higher = better) as equal-length 1-D array-likes,
one entry per architecture of the evaluated pool.
"""

import math
import operator
from typing import Callable

import numpy as np
from scipy import stats


def finite_1d(values, name: str) -> np.ndarray:
    """A 1-D float array of finite values, or a one-line ValueError naming ``name``."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric: {error}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _validated_pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = finite_1d(pred, "pred"), finite_1d(gt, "gt")
    if len(pred) != len(gt):
        raise ValueError(f"pred and gt differ in length: {len(pred)} != {len(gt)}")
    if len(pred) < 2:
        raise ValueError(f"need at least 2 architectures to rank, got {len(pred)}")
    return pred, gt


def _validated_k(k, pool_size: int) -> int:
    k = operator.index(k)
    if not 1 <= k <= pool_size:
        raise ValueError(f"k must be between 1 and the pool size {pool_size}, got {k}")
    return k


def _is_constant(scores: np.ndarray) -> bool:
    return bool(np.all(scores == scores[0]))


def _top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores; ties go to the earlier position so results are reproducible."""
    return np.argsort(-scores, kind="stable")[:k]


def _kendall_tau_b(pred: np.ndarray, gt: np.ndarray) -> float:
    # A constant ranking has no order to agree with; scipy also returns NaN here.
    if _is_constant(pred) or _is_constant(gt):
        return float("nan")
    return float(stats.kendalltau(pred, gt).statistic)


def kendall_tau(pred, gt) -> float:
    """Kendall tau-b, the paper's headline ranking metric (equals scipy.stats.kendalltau's default).

    Tau-b corrects for ties, which are common among GT accuracies. NaN if either input is constant.
    """
    return _kendall_tau_b(*_validated_pair(pred, gt))


# The official code's sparse Kendall tau (kcyu2014/nas-landmarkreg, nasws/cnn/utils.py):
# compute_sparse_rank_metric (lines 153-182) with sparse_rank_by_simple_bin (lines 90-122),
# called with threshold=1e-3 (nasws/cnn/policy/cnn_general_search_policies.py:706, :784) on
# accuracies rescaled from % to [0, 1] (utils.py:166-170). It bins the GT only, floor(acc / 1e-3)
# (0.1 percentage point), and then compares, position by position, the binned GT values sorted
# by GT with the binned GT values listed in the order of the predictions.
SPARSE_RESOLUTION = 0.1  # percentage points: the official threshold 1e-3 on accuracies in [0, 1]


def gt_bins(gt, resolution: float = SPARSE_RESOLUTION) -> np.ndarray:
    """floor(gt / resolution): the official code's GT bins (``resolution`` in GT units, 0.1 for GT in %).

    The quotient is rounded to 9 decimals before the floor so that a value written as 86.3 lands
    in bin 863 although 86.3 / 0.1 is 862.999... in binary floating point. The official code
    (acc * 1e-2 * 1000 // 1) keeps such artefacts and puts a few values that lie exactly on a
    bin edge one bin low (e.g. 80.1 -> 800, 0.5 % of the two-decimal values in 80-90 %); here
    every value goes to the bin its decimal value belongs to.
    """
    gt = finite_1d(gt, "gt")
    if not (math.isfinite(resolution) and resolution > 0):
        raise ValueError(f"resolution must be a positive number, got {resolution}")
    return np.floor(np.round(gt / resolution, 9))


def sparse_kendall_tau(pred, gt, resolution: float = SPARSE_RESOLUTION) -> float:
    """The official sparse Kendall tau: GT floor-binned to ``resolution`` (0.1 % points), predictions untouched.

    With b = floor(gt / resolution) (see ``gt_bins``), the official code computes
    scipy's Kendall tau-b between

        x = b sorted ascending                      (the binned GT in GT order)
        y = b listed in ascending order of ``pred`` (the binned GT in predicted order)

    i.e. it pairs positions in the two orders, not architectures. A prediction that orders
    the bins correctly scores 1 whatever its order inside a bin; when no two architectures
    share a bin it equals the plain Kendall tau. ``pred`` is used only through its order,
    so its scale does not matter; tied predictions keep their pool order (a stable sort;
    the official code's unstable sort leaves that order unspecified). NaN if all GT values
    share one bin.
    """
    pred, gt = _validated_pair(pred, gt)
    bins = gt_bins(gt, resolution)
    if _is_constant(bins):
        return float("nan")
    in_pred_order = bins[np.argsort(pred, kind="stable")]
    return float(stats.kendalltau(np.sort(bins), in_pred_order).statistic)


def spearman_rho(pred, gt) -> float:
    """Spearman rank correlation, reported next to Kendall tau in the paper. NaN if either input is constant."""
    pred, gt = _validated_pair(pred, gt)
    if _is_constant(pred) or _is_constant(gt):
        return float("nan")
    return float(stats.spearmanr(pred, gt).statistic)


def precision_at_k(pred, gt, k: int) -> float:
    """Fraction of the k best architectures by ``pred`` that are also among the k best by ``gt``.

    Measures whether the super-net finds the architectures that matter for search, the top ones.
    Ties are broken by position (earlier index ranks higher) in both rankings.
    """
    pred, gt = _validated_pair(pred, gt)
    k = _validated_k(k, len(pred))
    shared = np.intersect1d(_top_k_indices(pred, k), _top_k_indices(gt, k))
    return len(shared) / k


def gt_percentiles(gt) -> np.ndarray:
    """GT percentile of every architecture in the pool, in [0, 100].

    percentile_i = 100 * (number of architectures with GT strictly lower than gt_i) / (n - 1),
    where n is the pool size: the unique best architecture gets 100, the worst gets 0,
    and tied architectures share the lower percentile.
    """
    gt = finite_1d(gt, "gt")
    if len(gt) < 2:
        raise ValueError(f"need at least 2 architectures for percentiles, got {len(gt)}")
    strictly_lower_counts = np.searchsorted(np.sort(gt), gt, side="left")
    return 100.0 * strictly_lower_counts / (len(gt) - 1)


def top_k_gt_percentile(pred, gt, k: int) -> float:
    """Mean GT percentile (see ``gt_percentiles``) of the k architectures ranked highest by ``pred``.

    Tells how good the architectures a super-net would pick really are, which Kendall tau
    over the whole pool does not. Ties in ``pred`` are broken by position.
    """
    pred, gt = _validated_pair(pred, gt)
    k = _validated_k(k, len(pred))
    return float(np.mean(gt_percentiles(gt)[_top_k_indices(pred, k)]))


def best_of_top_k_gt_percentile(pred, gt, k: int) -> float:
    """The highest GT percentile (see ``gt_percentiles``: among the pool) of the k architectures
    ranked highest by ``pred``: what training the ranker's top k and keeping the best would find.
    With k = 1 it is the GT percentile of the best-scored architecture. Ties in ``pred`` are
    broken by position."""
    pred, gt = _validated_pair(pred, gt)
    k = _validated_k(k, len(pred))
    return float(np.max(gt_percentiles(gt)[_top_k_indices(pred, k)]))


def random_subset_tau(pred, gt, sizes=(10, 20, 50, 100), repeats: int = 5, seed: int = 0) -> dict[int, float]:
    """Mean Kendall tau-b over ``repeats`` random subsets of each size, keyed by size.

    Shows how ranking quality depends on how many architectures are compared. Subsets are
    drawn without replacement from one ``numpy.random.default_rng(seed)``, sizes in the given
    order, so results are reproducible for a seed. Sizes larger than the pool are skipped.
    A subset whose pred or gt is constant has tau NaN, which makes that size's mean NaN.

    The official one (cnn_general_search_policies.py:802-821) differs in three ways: its tau
    is the tie-broken ``official_kendall_tau`` (ties count), not tau-b; it logs the min and
    max of the repeats beside the mean; it draws from the global ``np.random`` stream.
    """
    pred, gt = _validated_pair(pred, gt)
    repeats = operator.index(repeats)
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    rng = np.random.default_rng(seed)
    mean_tau_by_size = {}
    for size in map(operator.index, sizes):
        if size < 2:
            raise ValueError(f"subset sizes must be at least 2, got {size}")
        if size > len(pred):
            continue
        taus = []
        for _ in range(repeats):
            subset = rng.choice(len(pred), size=size, replace=False)
            taus.append(_kendall_tau_b(pred[subset], gt[subset]))
        mean_tau_by_size[size] = float(np.mean(taus))
    return mean_tau_by_size


# The official code's own tau and percentiles (kcyu2014/nas-landmarkreg) -------------------------
# Its architecture ids are GT ranks: the table sorted by GT ascending, id 0 the worst
# (nasws/cnn/search_space/search_space.py:85-101). A pool is ordered as `Rank` tuples
# (valid_acc, valid_obj, geno_id) sort, ascending (procedures/evaluate_procedure.py:199,210;
# nasws/cnn/utils.py:12), so tied accuracies are ordered by loss, then by GT rank.
def gt_rank_ids(gt) -> np.ndarray:
    """Each architecture's GT rank (0 = lowest GT), ties in pool order: the official ids of a
    pool's architectures up to their order (the official table breaks GT ties in its own order)."""
    gt = finite_1d(gt, "gt")
    return np.argsort(np.argsort(gt, kind="stable"), kind="stable")


def official_order(pred, gt_rank, loss=None) -> np.ndarray:
    """Indices in the official super-net order, worst first: by accuracy, then loss, then GT rank."""
    pred = finite_1d(pred, "pred")
    loss = np.zeros(len(pred)) if loss is None else finite_1d(loss, "loss")
    return np.lexsort((np.asarray(gt_rank), loss, pred))


def official_kendall_tau(pred, gt, loss=None, gt_rank=None) -> float:
    """The Kendall tau the official runs log (cnn_general_search_policies.py:688-701):
    kendalltau(ids sorted by GT rank, ids in super-net order), ids being GT ranks. Neither
    sequence has ties (GT ties are broken by id, accuracy ties by loss, then id), so this is
    tau-a of the tie-broken orders, not tau-b: ties count as agreeing or disagreeing pairs.
    ``loss``: the super-net losses (None: accuracy ties go by GT rank alone); ``gt_rank``:
    the official ids (default ``gt_rank_ids(gt)``)."""
    pred, gt = _validated_pair(pred, gt)
    ids = gt_rank_ids(gt) if gt_rank is None else np.asarray(gt_rank)
    return float(stats.kendalltau(np.sort(ids), ids[official_order(pred, ids, loss)]).statistic)


def official_percentiles(pred, gt_rank, n_total: int, k: int, loss=None) -> dict[str, float]:
    """The official `compute_percentile` (nasws/cnn/utils.py:228-242, called at
    cnn_general_search_policies.py:788-797): for the k best-scored architectures, their
    whole-space GT rank id / n_total (a fraction in [0, 1); the best cell of the space is
    (n_total - 1) / n_total), summarised as min, median and max. ``gt_rank``: each pool
    architecture's GT rank among all n_total cells of the space (0 = worst). Not the same
    as ``top_k_gt_percentile``: that one is the mean of pool percentiles in [0, 100]."""
    pred = finite_1d(pred, "pred")
    gt_rank = np.asarray(gt_rank)
    k = _validated_k(k, len(pred))
    top = gt_rank[official_order(pred, gt_rank, loss)[::-1][:k]] / n_total
    return {"min": float(top.min()), "median": float(np.median(top)), "max": float(top.max())}


METRICS: dict[str, Callable[[object, object], float]] = {
    "kendall_tau": kendall_tau,
    "kendall_tau_official": official_kendall_tau,
    "sparse_kendall_tau": sparse_kendall_tau,
    "spearman_rho": spearman_rho,
    "p_at_10": lambda pred, gt: precision_at_k(pred, gt, k=10),
    "top5_percentile": lambda pred, gt: top_k_gt_percentile(pred, gt, k=5),
}


# Search-outcome metrics of a pool, reported by table B1 but not part of ``all_metrics`` (so run
# records keep their metric set): the best-scored architecture's GT percentile, and the best GT
# percentile among the 10 best-scored.
SEARCH_METRICS: dict[str, Callable[[object, object], float]] = {
    "top1_gt_percentile": lambda pred, gt: best_of_top_k_gt_percentile(pred, gt, k=1),
    "top10_best_gt_percentile": lambda pred, gt: best_of_top_k_gt_percentile(pred, gt, k=10),
}


def get_metric(name: str) -> Callable[[object, object], float]:
    """Look up a registered metric (``METRICS`` or ``SEARCH_METRICS``), naming the valid choices
    when ``name`` is unknown."""
    try:
        return METRICS[name] if name in METRICS else SEARCH_METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; valid names: {', '.join([*METRICS, *SEARCH_METRICS])}") from None


def all_metrics(pred, gt, loss=None) -> dict[str, float]:
    """Every registered metric for one pool; p_at_10 and top5_percentile need at least 10 and 5 architectures.
    ``loss`` (the super-net losses) breaks accuracy ties in kendall_tau_official, as officially."""
    out = {name: float(metric(pred, gt)) for name, metric in METRICS.items()}
    if loss is not None:
        out["kendall_tau_official"] = official_kendall_tau(pred, gt, loss)
    return out


# Many resampled pools at once (the hierarchical bootstrap) ------------------------------
def _signs(rows: np.ndarray) -> np.ndarray:
    """sign(rows[:, i] - rows[:, j]) for every pair, as int8 (B, n, n)."""
    return ((rows[:, :, None] > rows[:, None, :]).astype(np.int8)
            - (rows[:, :, None] < rows[:, None, :]).astype(np.int8))


def _tau_b_rows(x: np.ndarray, y: np.ndarray, chunk_elements: int = 4_000_000) -> np.ndarray:
    """Kendall tau-b of every row pair of two (B, n) arrays, as scipy computes it:
    (concordant - discordant) / sqrt((pairs - pairs tied in x) * (pairs - pairs tied in y));
    NaN where either row is constant."""
    n_rows, n = x.shape
    pairs = n * (n - 1) / 2
    out = np.empty(n_rows)
    step = max(1, chunk_elements // max(1, n * n))
    for start in range(0, n_rows, step):
        sx, sy = _signs(x[start:start + step]), _signs(y[start:start + step])
        score = np.einsum("bij,bij->b", sx.astype(np.int32), sy.astype(np.int32)) / 2
        ties_x = ((sx == 0).sum(axis=(1, 2)) - n) / 2
        ties_y = ((sy == 0).sum(axis=(1, 2)) - n) / 2
        denominator = np.sqrt((pairs - ties_x) * (pairs - ties_y))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + step] = np.where(denominator > 0, score / np.where(denominator > 0, denominator, 1),
                                               np.nan)
    return out


def _batched_kendall_tau(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return _tau_b_rows(pred, gt)


def _batched_sparse_kendall_tau(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    bins = np.floor(np.round(gt / SPARSE_RESOLUTION, 9))
    in_pred_order = np.take_along_axis(bins, np.argsort(pred, axis=1, kind="stable"), axis=1)
    return _tau_b_rows(np.sort(bins, axis=1), in_pred_order)


def _batched_spearman_rho(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    rp = stats.rankdata(pred, axis=1)
    rg = stats.rankdata(gt, axis=1)
    rp -= rp.mean(axis=1, keepdims=True)
    rg -= rg.mean(axis=1, keepdims=True)
    norm = np.sqrt((rp * rp).sum(axis=1) * (rg * rg).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (rp * rg).sum(axis=1) / np.where(norm > 0, norm, 1), np.nan)


_BATCHED = {"kendall_tau": _batched_kendall_tau, "sparse_kendall_tau": _batched_sparse_kendall_tau,
            "spearman_rho": _batched_spearman_rho}


def batched_metric(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A registered metric applied to every row of (B, n) arrays ``pred`` and ``gt``, returning (B,).

    Row b gives the same value as ``get_metric(name)(pred[b], gt[b])`` (vectorised for the
    Kendall and Spearman metrics, a loop otherwise). Rows may repeat architectures, as
    bootstrap resamples do; inputs are not validated (callers pass finite arrays).
    """
    if name in _BATCHED:
        return _BATCHED[name]
    metric = get_metric(name)

    def looped(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
        return np.array([metric(p, g) for p, g in zip(pred, gt)], dtype=float)

    return looped
