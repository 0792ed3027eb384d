"""Fits the rational erf approximation of src/kernels/simd/kernels.ts (ERF_P, ERF_Q).

erf(z) ~ z P(z^2) / Q(z^2) on [0, 4] (odd, so [-4, 4]), P of degree 6 and Q of degree 4 in z^2 with Q(0) = 1.
Linearized least squares (P(s) - f(s) Q(s) = 0, divided by the previous iteration's Q) with Lawson
reweighting toward the minimax fit, on Chebyshev-spaced and uniform points. Needs numpy and scipy (Debian:
python3-numpy, python3-scipy). Prints the coefficients (lowest degree first) and the errors: the fit's
max |error| in double and GELU's max |error| when evaluated in float32 as the kernel does.
"""
import numpy as np
from scipy.special import erf

z = np.concatenate([np.cos(np.linspace(0, np.pi, 6000)) * 2 + 2, np.linspace(0, 4, 6000)])
s = z * z
f = np.where(z > 0, erf(z) / np.where(z > 0, z, 1), 2 / np.sqrt(np.pi))
NP, NQ = 7, 4
q_prev = np.ones_like(s)
w = np.ones_like(s)
for _ in range(60):
    a = np.hstack([np.vander(s, NP, increasing=True), -(f[:, None] * np.vander(s, NQ + 1, increasing=True)[:, 1:])])
    scale = np.sqrt(w) / np.abs(q_prev)
    coef, *_ = np.linalg.lstsq(a * scale[:, None], f * scale, rcond=None)
    p, q = coef[:NP], np.concatenate([[1.0], coef[NP:]])
    q_prev = np.polyval(q[::-1], s)
    err = np.abs(z * np.polyval(p[::-1], s) / q_prev - erf(z))
    w = w * (err + 1e-30)
    w /= w.sum()
print('ERF_P =', [float(c) for c in p])
print('ERF_Q =', [float(c) for c in q])
print('max |erf error| in double:', err.max())

def gelu_f32(x):
    x = x.astype(np.float32)
    zz = np.clip(x * np.float32(np.sqrt(0.5)), np.float32(-4), np.float32(4))
    ss = zz * zz
    pp = np.float32(p[-1])
    for c in p[-2::-1]:
        pp = pp * ss + np.float32(c)
    qq = np.float32(q[-1])
    for c in q[-2::-1]:
        qq = qq * ss + np.float32(c)
    e = np.where(np.abs(zz) >= np.float32(3.925), np.sign(zz), zz * pp / qq).astype(np.float32)
    h = x * np.float32(0.5)
    return h + h * e

x = np.linspace(-12, 12, 2000001).astype(np.float32)
exact = 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
print('max |GELU error| in float32 on [-12, 12]:', np.abs(gelu_f32(x).astype(np.float64) - exact).max())
