"""`lmreg report`: any set of runs as a table grouped by config, with seed statistics,
paired landmarks-minus-baseline differences, and the F1/F2 figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lmreg.paper_figures.aggregate import (RANKING_METRICS, difference_cell, differing_keys, group_records, group_table,
                                     interval_legend, landmark_pairs, n_text, paired_differences, to_markdown,
                                     write_tables)
from lmreg.results.records import RecordError, find_records, read_record


def load_records(paths) -> list[dict]:
    files = find_records(paths)
    if not files:
        raise RecordError(f"no run records (record.h5) under {', '.join(map(str, paths))}")
    return [read_record(p) for p in files]


def report(paths, out_dir: str | Path | None = None, metrics=RANKING_METRICS, level: float = 0.95,
           figures: bool = True, summaries: str | Path | None = None) -> tuple[str, list[Path]]:
    """The report of the records under ``paths``, or of the runs of the summary set ``summaries``."""
    if summaries is not None:
        from lmreg.paper_figures.summaries import read_set
        records = list(read_set(summaries)[1].values())
    else:
        records = load_records(paths)
    groups = group_records(records)
    display, data = group_table(groups, metrics, level)
    varying = [k for k in differing_keys(records) if k not in ("name", "use_landmarks")]
    lines = [f"# lmreg report: {len(records)} run(s) in {len(groups)} config group(s)", "",
             interval_legend(level) + " Values: the final pool metrics. Groups: same config except the seed"
             + (f"; config keys that differ between groups: {', '.join(varying)}" if varying else "") + ".",
             "", to_markdown(display)]
    pairs = landmark_pairs(groups)
    diff_rows, diff_data = [], []
    for base, lm in pairs:
        d = paired_differences(base, lm, metrics, level)
        row = {"landmarks": lm.label, "minus baseline": base.label,
               "n": n_text(int(d.n.max()), int(d.pool_size.min()))}
        for _, r in d.iterrows():
            row[r["metric"]] = difference_cell(r)
            diff_data.append({"landmarks": lm.label, "baseline": base.label, **r.to_dict()})
        diff_rows.append(row)
    if diff_rows:
        lines += ["", f"Landmarks minus baseline on the same seeds (mean difference [{level * 100:g}% paired "
                      "t; hb]):", "", to_markdown(pd.DataFrame(diff_rows))]
    from lmreg.paper_figures.noise import ceiling_of_runs, ceiling_text
    ceiling = ceiling_of_runs(records)
    if ceiling:
        lines += ["", ceiling_text(ceiling)]
    text = "\n".join(lines)
    paths: list[Path] = []
    if out_dir is not None:
        out_dir = Path(out_dir)
        paths += write_tables(out_dir / "report", display, data, caption="Ranking quality by config",
                              preamble="\n".join(lines[:3]))
        if diff_rows:
            paths += write_tables(out_dir / "report_differences", pd.DataFrame(diff_rows), pd.DataFrame(diff_data),
                                  caption="Landmarks minus baseline (paired over seeds)")
        if figures:
            from lmreg.paper_figures.plots import metric_over_epochs, rank_scatter_panels
            panels = [(f"{g.label}, seed {g.records[0]['attrs']['config']['seed']}", g.records[0]) for g in groups]
            paths += rank_scatter_panels(panels, out_dir / "F1_rank_scatter", ncols=2 if len(panels) <= 4 else 3)
            paths += metric_over_epochs([(g.label, g.records) for g in groups], out_dir / "F2_tau_over_epochs",
                                        ceiling=ceiling["ceiling"] if ceiling else None)
    return text, paths
