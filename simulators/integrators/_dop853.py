"""SciPy's adaptive Runge-Kutta pairs, one trajectory at a time: DOP853 (8th order), the accuracy reference,
and RK45 (Dormand-Prince 5(4)), which some original dataset generators use."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ._base import Integrator


@dataclass(frozen=True)
class _SciPy(Integrator):
    """``scipy.integrate.solve_ivp`` with ``method``, per trajectory on the CPU (the state ``[q, p]`` flattened).

    Arguments:
        rtol, atol: the error tolerances of its step-size control.
    """

    method: ClassVar[str]
    rtol: float = 1e-12
    atol: float = 1e-12

    def __post_init__(self):
        for key in ("rtol", "atol"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
                raise ValueError(f"{key} must be a positive number, got {value!r}")

    def integrate(self, system, q0, p0, params, t):
        from scipy.integrate import solve_ivp  # imported on use: scipy.integrate takes 0.4 s to load

        shape = q0.shape[1:]
        size = q0[0].numel()
        t_np = t.detach().cpu().numpy()
        q_out = np.empty((q0.shape[0], t_np.size, *shape))
        p_out = np.empty_like(q_out)
        for b in range(q0.shape[0]):
            row = {k: v[b : b + 1].detach().cpu() for k, v in params.items()}

            def fun(_, y, row=row):
                z = torch.from_numpy(y).view(2, 1, *shape)
                dq, dp = system.vector_field(z[0], z[1], row)
                return torch.cat([dq.reshape(-1), dp.reshape(-1)]).numpy()

            y0 = torch.cat([q0[b].reshape(-1), p0[b].reshape(-1)]).detach().cpu().double().numpy()
            if t_np.size == 1:
                ys = y0[:, None]
            else:
                sol = solve_ivp(fun, (t_np[0], t_np[-1]), y0, method=self.method, t_eval=t_np, rtol=self.rtol,
                                atol=self.atol)  # fmt: skip
                if not sol.success:
                    raise RuntimeError(f"{self.name} failed on trajectory {b}: {sol.message}")
                ys = sol.y
            q_out[b] = ys[:size].T.reshape(t_np.size, *shape)
            p_out[b] = ys[size:].T.reshape(t_np.size, *shape)
        to = {"dtype": q0.dtype, "device": q0.device}
        return torch.from_numpy(q_out).to(**to), torch.from_numpy(p_out).to(**to)


@dataclass(frozen=True)
class DOP853(_SciPy):
    """SciPy's DOP853 (Dormand-Prince 8(5,3), adaptive), per trajectory on the CPU: slow, for tests and checks.

    Arguments:
        rtol, atol: the error tolerances of its step-size control.
    """

    name: ClassVar[str] = "dop853"
    order: ClassVar[int] = 8
    method: ClassVar[str] = "DOP853"


@dataclass(frozen=True)
class RK45(_SciPy):
    """SciPy's RK45 (Dormand-Prince 5(4), adaptive), per trajectory on the CPU: what HNN's orbit data used.

    Arguments:
        rtol, atol: the error tolerances of its step-size control.
    """

    name: ClassVar[str] = "rk45"
    order: ClassVar[int] = 5
    method: ClassVar[str] = "RK45"
