"""Integrators for separable Hamiltonians as small method objects, and ``integrate``.

``Leapfrog`` and ``Yoshida4`` are symplectic (bounded energy error over long times), ``RK4`` is
classical Runge-Kutta (its energy drifts), all three fixed-step and batched in torch; ``DOP853`` is the
adaptive 8th-order Dormand-Prince pair, the accuracy reference (``RK45``, its 5th-order sibling,
reproduces datasets made with it): both batched in torch, each trajectory taking the steps SciPy's
``solve_ivp`` would take for it alone. ``SymplecticEuler`` is the 1st-order scheme of the NRI family of
generators, kept to reproduce their datasets; it applies reflecting walls at the end of each step, where
the adaptive pairs locate each bounce exactly. Each carries its ``name`` and ``order``; the registry maps the
names recipes use to the classes.
"""

from ._adaptive import DOP853, RK45
from ._base import FixedStep, Force, Integrator, Velocity
from ._integrate import INTEGRATORS, get_integrator, integrate, list_integrators
from ._runge_kutta import RK4
from ._symplectic import YOSHIDA4_WEIGHTS, Leapfrog, SymplecticEuler, Yoshida4

__all__ = [
    "DOP853",
    "FixedStep",
    "Force",
    "INTEGRATORS",
    "Integrator",
    "Leapfrog",
    "RK4",
    "RK45",
    "SymplecticEuler",
    "Velocity",
    "YOSHIDA4_WEIGHTS",
    "Yoshida4",
    "get_integrator",
    "integrate",
    "list_integrators",
]
