"""Elementwise arithmetic whose result for an element does not depend on where it sits in its tensor."""

from __future__ import annotations

import torch


def position_free_pow(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """``x ** exponent`` through C's ``pow`` for every element.

    On the CPU, torch raises the body of a contiguous tensor to a power with a vectorised routine (within
    1 ulp) and the last few elements with C's ``pow``, so an element's last bit would depend on its
    position: on the batch it is integrated in. A strided view takes the scalar loop throughout.
    """
    return torch.stack([x, x], -1)[..., 0].pow(exponent)
