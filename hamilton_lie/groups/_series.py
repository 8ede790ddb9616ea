"""exp and log of SO(3), SE(2) and SE(3), with series near the switch points whose derivatives stay finite.

``exp`` and ``log`` switch to Taylor series near the identity and (for SO(3)) to an eigenvector formula
near angle pi, with the "double where" trick so that first and second derivatives stay finite at the
switch points; tests check them with gradcheck and gradgradcheck.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor

# Below _SERIES (radians) the closed forms with cancellations ((1 - cos x) / x^2 loses about
# eps / x^2) give way to Taylor series carried to x^8, whose truncation error at 0.1 is below 1e-19.
# so3_log's own series is shorter and switches earlier; near pi it changes method (see there).
_SERIES = 0.1
_LOG_SMALL = 1e-3
_NEAR_PI = 1e-3


def _series_or(theta2: Tensor, series: tuple[float, ...], closed) -> Tensor:
    """sum_k series[k] theta2^k where theta2 < _SERIES^2, else closed(safe theta2); NaN-free gradients."""
    small = theta2 < _SERIES**2
    safe = torch.where(small, torch.full_like(theta2, 1.0), theta2)
    value = torch.zeros_like(theta2)
    for c in reversed(series):
        value = value * theta2 + c
    return torch.where(small, value, closed(safe))


# Taylor coefficients in theta^2 of the functions below
_SINC = (1.0, -1 / 6, 1 / 120, -1 / 5040, 1 / 362880)  # sin x / x
_COSC = (1 / 2, -1 / 24, 1 / 720, -1 / 40320, 1 / 3628800)  # (1 - cos x) / x^2
_SINC3 = (1 / 6, -1 / 120, 1 / 5040, -1 / 362880, 1 / 39916800)  # (x - sin x) / x^3
_HALF_COT = (1.0, -1 / 12, -1 / 720, -1 / 30240, -1 / 1209600)  # (x / 2) cot(x / 2)
_VINV = (1 / 12, 1 / 720, 1 / 30240, 1 / 1209600, 1 / 47900160)  # (1 - (x / 2) cot(x / 2)) / x^2


def sinc(theta: Tensor) -> Tensor:
    """sin(x) / x."""
    return _series_or(theta * theta, _SINC, lambda t2: torch.sin(t2.sqrt()) / t2.sqrt())


def cosc(theta2: Tensor) -> Tensor:
    """(1 - cos x) / x^2 as a function of x^2."""
    return _series_or(theta2, _COSC, lambda t2: (1 - torch.cos(t2.sqrt())) / t2)


def one_minus_cos_over(theta: Tensor) -> Tensor:
    """(1 - cos x) / x."""
    return theta * cosc(theta * theta)


def half_cot_half(theta: Tensor) -> Tensor:
    """(x / 2) cot(x / 2), smooth on (-2 pi, 2 pi)."""
    return _series_or(theta * theta, _HALF_COT, lambda t2: (t2.sqrt() / 2) / torch.tan(t2.sqrt() / 2))


def rot2(theta: Tensor) -> Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _hat(w: Tensor) -> Tensor:
    """so(3) vector ``(..., 3)`` -> skew matrix ``(..., 3, 3)``."""
    z = torch.zeros_like(w[..., 0])
    x, y, zz = w[..., 0], w[..., 1], w[..., 2]
    return torch.stack([torch.stack([z, -zz, y], -1), torch.stack([zz, z, -x], -1), torch.stack([-y, x, z], -1)], -2)


def _vee(m: Tensor) -> Tensor:
    """Skew part of a matrix as a vector: vee((M - M^T) / 2)."""
    return 0.5 * torch.stack(
        [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
    )


def so3_exp(w: Tensor) -> Tensor:
    """Rodrigues' formula: ``(..., 3) -> (..., 3, 3)``, Taylor-guarded at 0."""
    t2 = (w * w).sum(-1)
    a = _series_or(t2, _SINC, lambda s: torch.sin(s.sqrt()) / s.sqrt())
    b = cosc(t2)
    k = _hat(w)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def so3_log(r: Tensor) -> Tensor:
    """Principal logarithm ``(..., 3, 3) -> (..., 3)`` with angle in [0, pi].

    Three regimes: a Taylor series near the identity, the closed form theta / (2 sin theta) vee(R -
    R^T) in between, and near pi the axis from the symmetric part R + R^T (whose largest diagonal
    entry is well conditioned), signed by the skew part.
    """
    v = _vee(r)  # sin(theta) n
    cos = ((r[..., 0, 0] + r[..., 1, 1] + r[..., 2, 2]) - 1) / 2
    x = 1 - cos  # theta^2 / 2 - ..., from the trace: smooth even at the identity
    small = x < _LOG_SMALL**2 / 2
    near_pi = cos < -1 + _NEAR_PI**2 / 2
    mid = ~(small | near_pi)
    sin_safe = torch.where(mid | near_pi, (v * v).sum(-1), torch.ones_like(x)).clamp_min(1e-300).sqrt()
    theta = torch.atan2(sin_safe, cos)
    # small: theta / (2 sin theta) = 1/2 + theta^2/12 + 7 theta^4/720, theta^2 = 2x + x^2/3 + O(x^3)
    t2 = 2 * x + x * x / 3
    factor_small = 1 + t2 / 6 + 7 * t2 * t2 / 360
    factor_mid = theta / torch.where(mid, sin_safe, torch.ones_like(x))
    w = torch.where(small[..., None], factor_small[..., None] * v, factor_mid[..., None] * v)
    if bool(near_pi.any()):
        sym = (r + r.transpose(-1, -2)) / 2 - cos[..., None, None] * torch.eye(3, dtype=r.dtype, device=r.device)
        # sym = (1 - cos) n n^T: take the column with the largest diagonal entry
        diag = torch.diagonal(sym, dim1=-2, dim2=-1)
        col = diag.argmax(-1, keepdim=True)
        n = torch.gather(sym, -1, col.unsqueeze(-2).expand(*sym.shape[:-1], 1)).squeeze(-1)
        n = n / torch.gather(diag, -1, col).clamp_min(1e-300).sqrt()
        n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        sign = torch.where((n * v).sum(-1, keepdim=True) < 0, -1.0, 1.0).to(r.dtype)
        w = torch.where(near_pi[..., None], sign * n * theta[..., None], w)
    return w


def so3_left_jacobian(w: Tensor, inverse_: bool) -> Tensor:
    """V(w) (for SE(3) exp) or its inverse (for log): ``(..., 3) -> (..., 3, 3)``."""
    t2 = (w * w).sum(-1)
    k = _hat(w)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    if inverse_:
        # V^-1 = I - K / 2 + c K^2, c = (1 - (x / 2) cot(x / 2)) / x^2
        c = _series_or(t2, _VINV, lambda s: (1 - (s.sqrt() / 2) / torch.tan(s.sqrt() / 2)) / s)
        return eye - k / 2 + c[..., None, None] * (k @ k)
    c = _series_or(t2, _SINC3, lambda s: (s.sqrt() - torch.sin(s.sqrt())) / (s * s.sqrt()))
    return eye + cosc(t2)[..., None, None] * k + c[..., None, None] * (k @ k)
