"""Which tokens attend to which: the attention kinds as small frozen configs, each checking its own fields.

* :class:`Full`: every token attends to every token, with pairwise location kernels (memory O(N^2)).
* :class:`KNN`: the tokens of each body's ``neighbours`` nearest bodies (itself included), gathered so
  that memory is O(N k); distances |q_i - q_j| are invariant under every group here.
* :class:`Linformer` (Wang et al., 2020): keys and values projected along the token axis to ``rank``
  by learned matrices of width ``max_bodies`` x lift samples; O(N rank), not permutation-symmetric.
* :class:`LowRank`: attention through ``rank`` learned inducing points (the induced set attention of
  the Set Transformer, Lee et al., 2019); O(N rank), permutation and group invariance kept.

The linear kinds have no pairs, so they use the content kernel alone. In TOML a kind is a name
(``attention = "full"``) or a table (``attention = {kind = "knn", neighbours = 32}``);
:func:`attention_kind` reads either.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from simulators import Registry

LINFORMER_SHARING = ("headwise", "key-value", "layerwise")


def _positive_int(kind: str, key: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{kind}: {key} must be a positive integer, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Full:
    """All-token attention with pairwise location kernels (the paper's)."""

    name: ClassVar[str] = "full"
    pairwise: ClassVar[bool] = True


@dataclass(frozen=True, kw_only=True)
class KNN:
    """Each token attends to the tokens of its body's ``neighbours`` nearest bodies (itself included)."""

    name: ClassVar[str] = "knn"
    pairwise: ClassVar[bool] = True
    neighbours: int = 32

    def __post_init__(self):
        _positive_int("KNN", "neighbours", self.neighbours)


@dataclass(frozen=True, kw_only=True)
class Linformer:
    """Keys and values projected along the token axis to ``rank`` (at most ``max_bodies`` bodies).

    ``share``: ``"headwise"`` (projections E, F per layer, shared by heads), ``"key-value"`` (E = F per
    layer) or ``"layerwise"`` (one E = F for all layers), as in the paper's sec. 4.
    """

    name: ClassVar[str] = "linformer"
    pairwise: ClassVar[bool] = False
    rank: int = 32
    max_bodies: int
    share: str = "headwise"

    def __post_init__(self):
        _positive_int("Linformer", "rank", self.rank)
        _positive_int("Linformer", "max_bodies", self.max_bodies)
        if self.share not in LINFORMER_SHARING:
            raise ValueError(f"Linformer: share must be one of {LINFORMER_SHARING}, got {self.share!r}")


@dataclass(frozen=True, kw_only=True)
class LowRank:
    """Attention through ``rank`` learned inducing points; symmetric under permutations."""

    name: ClassVar[str] = "lowrank"
    pairwise: ClassVar[bool] = False
    rank: int = 32

    def __post_init__(self):
        _positive_int("LowRank", "rank", self.rank)


AttentionKind = Full | KNN | Linformer | LowRank

ATTENTION_KINDS: Registry[AttentionKind] = Registry("attention kind")
for _cls in (Full, KNN, Linformer, LowRank):
    ATTENTION_KINDS.register(_cls.name, _cls)


def attention_kind(value: AttentionKind | str | dict) -> AttentionKind:
    """An attention kind from itself, a name (``"knn"``: its defaults) or a table ``{"kind": "knn", ...}``."""
    if isinstance(value, (Full, KNN, Linformer, LowRank)):
        return value
    if isinstance(value, str):
        return ATTENTION_KINDS.build(value)
    if isinstance(value, dict) and isinstance(value.get("kind"), str):
        options = {k: v for k, v in value.items() if k != "kind"}
        try:
            return ATTENTION_KINDS.build(value["kind"], **options)
        except TypeError as e:
            raise ValueError(f"attention {value['kind']!r} does not take {sorted(options)} ({e})") from None
    raise ValueError(f"attention must be one of {ATTENTION_KINDS.names()} or a table with a 'kind', got {value!r}")


def attention_table(kind: AttentionKind) -> dict:
    """The TOML table of a kind, which :func:`attention_kind` reads back."""
    return {"kind": kind.name, **dataclasses.asdict(kind)}
