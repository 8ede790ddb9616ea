"""Adaptive embedded Runge-Kutta pairs, batched: DOP853 (8th order), the accuracy reference, and RK45
(Dormand-Prince 5(4)), which some original dataset generators use.

Each trajectory of a batch takes its own steps, chosen exactly as ``scipy.integrate.solve_ivp`` chooses them
for that trajectory alone: the same initial step (Hairer, Norsett and Wanner, Sec. II.4), the same
error norm, safety factor and step limits, and the same dense output at the sample times. The batch
advances in lock step, one trial step per trajectory per round; a trajectory that reaches the last sample
time leaves the batch. The Butcher tableaus are SciPy's own coefficient arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import numpy as np
import torch

from .._numerics import position_free_pow as _pow
from ._base import Integrator

# SciPy's step-size control constants (scipy.integrate._ivp.rk)
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0


def _row_sum(x: torch.Tensor) -> torch.Tensor:
    """Each trajectory's sum over its state: ``(batch, ...) -> (batch,)``.

    A running sum in the state's order: the same rounding for a trajectory in any batch (a reduction
    kernel's vectorisation and split depend on the batch's size).
    """
    return x.flatten(1).cumsum(1)[:, -1]


def _rms(x: torch.Tensor) -> torch.Tensor:
    """SciPy's error norm per trajectory: ``(batch, ...) -> (batch,)``, the root mean square."""
    return (_row_sum(x.square()) / x[0].numel()).sqrt()


def _combine(coefficients: np.ndarray, stages: torch.Tensor) -> torch.Tensor:
    """sum_j coefficients[j] stages[j]: ``(s,)``, ``(s, batch, ...) -> (batch, ...)``.

    Term by term, each a separate multiply and add, zero coefficients skipped: every trajectory gets the same
    arithmetic in any batch (a BLAS product's blocking, and so its rounding, depends on the sizes).
    """
    out = None
    for j, c in enumerate(coefficients.tolist()):
        if c != 0.0:
            out = stages[j] * c if out is None else out + stages[j] * c
    return torch.zeros_like(stages[0]) if out is None else out


def _write_samples(out, ids, t, first, last, t_old, h, x_of) -> None:
    """Samples ``first`` to ``last - 1`` (per trajectory) of the trajectories ``ids`` into ``out (batch, T, ...)``
    from their step's interpolant ``x_of``, the step starting at ``t_old`` and ``h`` long."""
    for k in range(int((last - first).max())):
        sample = first + k
        m = sample < last
        x = (t[sample.clamp(max=t.numel() - 1)] - t_old) / h
        out[ids[m], sample[m]] = x_of(x)[m]


def _take(rows: dict, index: torch.Tensor) -> dict:
    """The per-trajectory parameters of the trajectories ``index``."""
    return {k: v[index] for k, v in rows.items()}


def _per_row(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-trajectory ``(batch,)`` tensor shaped to broadcast against ``like (batch, ...)``."""
    return x.view(-1, *([1] * (like.dim() - 1)))


@dataclass(frozen=True)
class _EmbeddedPair(Integrator):
    """An explicit Runge-Kutta pair with SciPy's step-size control, batched in torch on the inputs' device.

    Walls (systems with ``walls``, at ``+-box_size`` on every axis) are events: a step that carries a
    body through one ends at the crossing, located on the step's interpolant, where the body's momentum
    normal to the wall turns inward; the next step starts there.

    Arguments:
        rtol, atol: the error tolerances: a step is accepted when the RMS over the state of its error
            estimate, each component divided by ``atol + rtol * max(|y|, |y_new|)``, is below 1.
    """

    handles_walls: ClassVar[bool] = True
    #: the SciPy solver class whose coefficients and error estimator this pair uses
    scipy_class: ClassVar[str]
    #: the names of the coefficient arrays it reads from that class
    coefficients: ClassVar[tuple[str, ...]]
    #: the order of the embedded error estimate (its steps' error scales as h^(order + 1))
    error_order: ClassVar[int]
    rtol: float = 1e-12
    atol: float = 1e-12

    def __post_init__(self):
        for key in ("rtol", "atol"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
                raise ValueError(f"{key} must be a positive number, got {value!r}")

    def _coefficients(self) -> dict[str, np.ndarray]:
        from scipy import integrate  # imported on use: scipy.integrate takes 0.4 s to load

        solver = getattr(integrate, self.scipy_class)
        return {k: np.asarray(getattr(solver, k), dtype=np.float64) for k in self.coefficients}

    def _error_norm(self, c, stages, h, scale) -> torch.Tensor:
        """The step's error norm ``(batch,)`` from its ``stages (s + 1, batch, ...)``."""
        raise NotImplementedError

    def _dense(self, c, stages, y_old, y_new, h, fun):
        """The step's interpolant: a function of x = (t - t_old) / h ``(batch,)`` giving y ``(batch, ...)``."""
        raise NotImplementedError

    def integrate_counted(self, system, q0, p0, params, t):
        """:meth:`integrate`, and each trajectory's number of accepted steps (a step that ends at a wall
        counts as one; rejected trial steps do not)."""
        c = self._coefficients()
        n_stages = c["B"].shape[0]
        exponent = -1.0 / (self.error_order + 1)
        t = t.to(q0.dtype)
        t_end = t[-1]
        out = q0.new_empty((q0.shape[0], t.numel(), 2, *q0.shape[1:]))
        y = torch.stack([q0, p0], 1)
        out[:, 0] = y
        steps = torch.zeros(q0.shape[0], dtype=torch.int64, device=q0.device)
        if t.numel() == 1:
            return out[:, :, 0], out[:, :, 1], steps

        ids = torch.arange(q0.shape[0], device=q0.device)  # the trajectories still integrating
        rows = dict(params)

        def fun(y, rows):
            dq, dp = system.vector_field(y[:, 0], y[:, 1], rows)
            return torch.stack([dq, dp], 1)

        f = fun(y, rows)
        h_abs = self._initial_step(y, f, lambda z: fun(z, rows), t_end - t[0])
        t_now = t[0].expand(ids.shape).clone()
        next_sample = torch.ones_like(ids)  # sample 0 is the initial state
        retrying = torch.zeros_like(ids, dtype=torch.bool)  # the last trial step was rejected
        stages = y.new_empty((n_stages + 1, *y.shape))
        while ids.numel():
            min_step = 10 * (torch.nextafter(t_now, t_now.new_tensor(math.inf)) - t_now)
            failed = retrying & ~(h_abs >= min_step)  # NaN too: a non-finite vector field
            if bool(failed.any()):
                b = int(ids[failed][0])
                raise RuntimeError(f"{self.name} failed on trajectory {b}: the step size fell below the spacing "
                                   "of floating-point times (the solution is not smooth or not finite there)")  # fmt: skip
            h_abs = torch.where(retrying, h_abs, torch.maximum(h_abs, min_step))
            t_new = torch.minimum(t_now + h_abs, t_end)
            h = t_new - t_now
            hb = _per_row(h, y)
            stages[0] = f
            for s in range(1, n_stages):
                stages[s] = fun(y + _combine(c["A"][s, :s], stages) * hb, rows)
            y_new = y + hb * _combine(c["B"], stages)
            stages[n_stages] = f_new = fun(y_new, rows)
            scale = self.atol + torch.maximum(y.abs(), y_new.abs()) * self.rtol
            error = self._error_norm(c, stages, h, scale)
            accepted = error < 1
            grow = torch.where(error == 0, _MAX_FACTOR, torch.clamp(_SAFETY * _pow(error, exponent), max=_MAX_FACTOR))
            grow = torch.where(retrying, torch.clamp(grow, max=1.0), grow)
            shrink = torch.clamp(_SAFETY * _pow(error.nan_to_num(math.inf), exponent), min=_MIN_FACTOR)
            h_abs = h * torch.where(accepted, grow, shrink)
            retrying = ~accepted

            bounce = None
            if system.walls:
                bounce = self._first_crossing(system, c, stages, y, y_new, h, t_now, accepted, rows, fun)
            if bounce is not None:  # those steps end at the wall: samples beyond it belong to the next step
                t_new = t_new.index_put((bounce[0],), bounce[1])
            last = torch.searchsorted(t, t_new, right=True)  # samples up to t_new are due after an accepted step
            due = accepted & (last > next_sample)
            if bool(due.any()):
                d = due.nonzero().squeeze(1)
                x_of = self._dense(c, stages[:, d], y[d], y_new[d], h[d], partial(fun, rows=_take(rows, d)))
                _write_samples(out, ids[d], t, next_sample[d], last[d], t_now[d], h[d], x_of)
                next_sample = torch.where(accepted, torch.maximum(next_sample, last), next_sample)
            if bounce is not None:
                d, _, state = bounce
                y_new = y_new.index_put((d,), state)
                f_new = f_new.index_put((d,), fun(state, _take(rows, d)))
            steps.index_add_(0, ids, accepted.to(torch.int64))
            a = _per_row(accepted, y)
            y, f = torch.where(a, y_new, y), torch.where(a, f_new, f)
            t_now = torch.where(accepted, t_new, t_now)
            done = accepted & (t_new >= t_end)
            if bool(done.any()):
                keep = (~done).nonzero().squeeze(1)
                ids, y, f, t_now, h_abs, next_sample, retrying = (
                    v[keep] for v in (ids, y, f, t_now, h_abs, next_sample, retrying)
                )
                rows = _take(rows, keep)
                stages = stages[:, keep]
        return out[:, :, 0], out[:, :, 1], steps

    def _first_crossing(self, system, c, stages, y, y_new, h, t_now, accepted, rows, fun):
        """Where an accepted step carried a body through a wall (at +-``system.box_size`` on every axis): the
        rows ``d``, the time of the first crossing ``(len(d),)``, located on the step's interpolant by
        bisection to the last bit of the step, and the state there ``(len(d), 2, N, dim)`` with the
        crossing momenta turned inward (``system.reflect``); None when no step crossed."""
        box = system.box_size

        def outside(z):
            return (z[:, 0].abs() > box).flatten(1).any(1)

        hit = accepted & outside(y_new)
        if not bool(hit.any()):
            return None
        d = hit.nonzero().squeeze(1)
        x_of = self._dense(c, stages[:, d], y[d], y_new[d], h[d], partial(fun, rows=_take(rows, d)))
        lo, hi = torch.zeros_like(h[d]), torch.ones_like(h[d])
        for _ in range(53):  # the interval halves to the spacing of float64 numbers near 1
            mid = 0.5 * (lo + hi)
            out = outside(x_of(mid))
            lo, hi = torch.where(out, lo, mid), torch.where(out, mid, hi)
        z = x_of(hi)  # just beyond the wall
        q, p = system.reflect(z[:, 0], z[:, 1])
        return d, t_now[d] + hi * h[d], torch.stack([q, p], 1)

    def _initial_step(self, y, f, fun, interval) -> torch.Tensor:
        """SciPy's ``select_initial_step`` per trajectory: ``(batch,)``."""
        scale = self.atol + y.abs() * self.rtol
        d0, d1 = _rms(y / scale), _rms(f / scale)
        h0 = torch.where((d0 < 1e-5) | (d1 < 1e-5), torch.full_like(d0, 1e-6), 0.01 * d0 / d1)
        h0 = torch.clamp(h0, max=interval)
        f1 = fun(y + _per_row(h0, y) * f)
        d2 = _rms((f1 - f) / scale) / h0
        flat = (d1 <= 1e-15) & (d2 <= 1e-15)
        h1 = torch.where(flat, torch.clamp(h0 * 1e-3, min=1e-6),
                         _pow(0.01 / torch.maximum(d1, d2), 1.0 / (self.error_order + 1)))  # fmt: skip
        return torch.minimum(torch.minimum(100 * h0, h1), interval.expand(h0.shape))


@dataclass(frozen=True)
class DOP853(_EmbeddedPair):
    """Dormand-Prince 8(5,3), adaptive, batched: each trajectory the steps SciPy's DOP853 would take for it.

    The accuracy reference of the tests and of the ``accurate`` recipes.

    Arguments:
        rtol, atol: the error tolerances of its step-size control.
    """

    name: ClassVar[str] = "dop853"
    order: ClassVar[int] = 8
    scipy_class: ClassVar[str] = "DOP853"
    coefficients: ClassVar[tuple[str, ...]] = ("A", "B", "E3", "E5", "D", "A_EXTRA")
    error_order: ClassVar[int] = 7

    def _error_norm(self, c, stages, h, scale):
        # the 5th- and 3rd-order estimates blended as in Hairer's DOP853 (and SciPy's)
        err5 = _combine(c["E5"], stages) / scale
        err3 = _combine(c["E3"], stages) / scale
        e5, e3 = _row_sum(err5.square()), _row_sum(err3.square())
        denominator = e5 + 0.01 * e3
        n = scale[0].numel()
        return torch.where(denominator == 0, torch.zeros_like(e5), h.abs() * e5 / (denominator * n).sqrt())

    def _dense(self, c, stages, y_old, y_new, h, fun):
        hb = _per_row(h, y_old)
        # the interpolant's three extra stages, each from the stages before it (autonomous: no times needed)
        k = torch.cat([stages, stages.new_empty((len(c["A_EXTRA"]), *stages.shape[1:]))])
        for s, a in enumerate(c["A_EXTRA"], start=stages.shape[0]):
            k[s] = fun(y_old + _combine(a[:s], k) * hb)
        delta = y_new - y_old
        f_old, f_new = stages[0], stages[-1]
        terms = [delta, hb * f_old - delta, 2 * delta - hb * (f_new + f_old)]
        terms += [hb * _combine(row, k) for row in c["D"]]

        def at(x):
            xb = _per_row(x, y_old)
            out = torch.zeros_like(y_old)
            for i, term in enumerate(reversed(terms)):
                out = (out + term) * (xb if i % 2 == 0 else 1 - xb)
            return out + y_old

        return at


@dataclass(frozen=True)
class RK45(_EmbeddedPair):
    """Dormand-Prince 5(4), adaptive, batched: each trajectory the steps SciPy's RK45 would take for it (what
    HNN's orbit data used).

    Arguments:
        rtol, atol: the error tolerances of its step-size control.
    """

    name: ClassVar[str] = "rk45"
    order: ClassVar[int] = 5
    scipy_class: ClassVar[str] = "RK45"
    coefficients: ClassVar[tuple[str, ...]] = ("A", "B", "E", "P")
    error_order: ClassVar[int] = 4

    def _error_norm(self, c, stages, h, scale):
        return _rms(_combine(c["E"], stages) * _per_row(h, scale) / scale)

    def _dense(self, c, stages, y_old, y_new, h, fun):
        hb = _per_row(h, y_old)
        q = [_combine(column, stages) for column in c["P"].T]  # the interpolant's coefficients of x, x^2, ...

        def at(x):
            xb = _per_row(x, y_old)
            power, out = xb, torch.zeros_like(y_old)
            for term in q:
                out = out + term * power
                power = power * xb
            return hb * out + y_old

        return at
