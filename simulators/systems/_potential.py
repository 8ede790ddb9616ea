"""Systems defined by a potential alone: the user's own physics in a few lines.

A subclass of :class:`PotentialSystem` writes its potential V(q, params) in torch and its two samplers;
the force -dV/dq comes from autograd (a subclass may still supply an analytic ``force``), ``settings``
are read back from the constructor's arguments, and bodies without a ``masses`` parameter have unit mass.
"""

from __future__ import annotations

import inspect
import logging
from typing import ClassVar

import torch

from .._native import switched_on
from .._native._build import first_line
from ._base import HamiltonianSystem, Params

log = logging.getLogger(__name__)


class PotentialSystem(HamiltonianSystem):
    """A separable system H = sum_i |p_i|^2 / (2 m_i) + V(q) given by ``potential`` only.

    A subclass sets ``name`` and ``param_names`` and defines ``potential``, ``sample_params`` and
    ``sample_state``. Its constructor takes ``n_bodies`` and ``dim`` first and keyword settings after
    them, each stored as the attribute of the same name: ``settings`` reads them back, so a dataset
    records them and :func:`~simulators.get_system` rebuilds the same system from the file.

    Example:
        >>> import torch
        >>> class Harmonic(PotentialSystem):
        ...     name, param_names = "harmonic-example", ()
        ...     def __init__(self, n_bodies=2, dim=2, stiffness=1.0):
        ...         super().__init__(n_bodies, dim)
        ...         self.stiffness = stiffness
        ...     def potential(self, q, params):
        ...         return 0.5 * self.stiffness * q.pow(2).sum((-1, -2))
        >>> system = Harmonic(stiffness=4.0)
        >>> system.force(torch.ones(1, 2, 2, dtype=torch.float64), {})[0, 0]
        tensor([-4., -4.], dtype=torch.float64)
        >>> system.settings
        {'stiffness': 4.0}
    """

    #: compile -dV/dq with ``torch.compile`` (``torch.func.grad`` of ``potential``): for small systems in
    #: large batches several times faster than autograd, after a first call that compiles (seconds, and
    #: once more when the batch size first changes). Used where ``q`` needs no autograd graph and the fused
    #: kernels are switched on (:func:`~simulators.use_fused_kernels`); a failed compilation logs one
    #: warning line and autograd runs.
    compile_force: ClassVar[bool] = False

    @property
    def settings(self) -> dict:
        names = [n for n in inspect.signature(type(self).__init__).parameters if n not in ("self", "n_bodies", "dim")]
        missing = [n for n in names if not hasattr(self, n)]
        if missing:
            raise TypeError(
                f"{type(self).__name__}: store each constructor setting as the attribute of the same name "
                f"(missing {missing}), or define the settings property"
            )
        return {n: _plain(getattr(self, n)) for n in names}

    def force(self, q: torch.Tensor, params: Params) -> torch.Tensor:
        """-dV/dq by autograd (compiled where ``compile_force``): same shape as ``q``; works inside
        ``torch.no_grad``."""
        if self.compile_force and switched_on() and not q.requires_grad:
            compiled = self._compiled_force()
            if compiled is not None:
                try:
                    return compiled(q, params)
                except Exception as err:  # no compiler, an operation the compiler cannot take: autograd still works
                    reason = first_line(err)[:300]
                    log.warning("%s: compiled force unavailable (%s); using autograd", type(self).__name__, reason)
                    self.__dict__["_compiled"] = None
        with torch.enable_grad():
            x = q.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.potential(x, params).sum(), x)
        return -grad

    def _compiled_force(self):
        """This system's compiled -dV/dq(q, params), made on first use; None once compiling has failed."""
        if "_compiled" not in self.__dict__:

            def force(q, params):
                return -torch.func.grad(lambda x: self.potential(x, params).sum())(q)

            self.__dict__["_compiled"] = torch.compile(force)
        return self.__dict__["_compiled"]

    @staticmethod
    def pair_distances(q: torch.Tensor) -> torch.Tensor:
        """|q_i - q_j| over the pairs i < j: ``(..., n_bodies, dim) -> (..., n_bodies (n_bodies - 1) / 2)``."""
        i, j = torch.triu_indices(q.shape[-2], q.shape[-2], offset=1, device=q.device)
        return (q[..., i, :] - q[..., j, :]).norm(dim=-1)


def _plain(value):
    """A setting as a JSON-able value: tuples become lists (as TOML gives them back)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value
