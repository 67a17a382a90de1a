"""lmreg: a benchmark and reproduction harness for landmark regularisation of
weight-sharing super-nets (Yu, Ranftl, Salzmann, CVPR 2021).

The repository's top-level folders install as sub-packages of this one
(pyproject.toml maps them): lmreg.bench, lmreg.spaces, lmreg.algorithms,
lmreg.results, lmreg.paper_figures, lmreg.experiments."""

__version__ = "0.1.0"
