"""jacob_cov (Mellor et al. 2020, v1 of NASWOT; zero-cost-nas measures/jacob_cov.py):
J = d(sum of outputs)/d(input) per image of the batch, flattened; C = the correlation
matrix of the rows of J; with the eigenvalues v of C and k = 1e-5,
score = -sum(log(v + k) + 1 / (v + k))."""

from __future__ import annotations

import numpy as np
import torch

K = 1e-5


def score(model, x, y=None) -> float:
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    (jac,) = torch.autograd.grad(out, x, torch.ones_like(out))
    corr = np.corrcoef(jac.reshape(len(x), -1).double().cpu().numpy())
    if not np.isfinite(corr).all():  # an image whose gradient is constant: the reference gives NaN too
        return float("nan")
    v = np.linalg.eigvalsh(corr)  # symmetric: real eigenvalues (the reference's eig gives the same, as complex)
    return float(-np.sum(np.log(v + K) + 1.0 / (v + K)))
