"""The one strict TOML loader behind recipes and training configs, and the writer of resolved configs.

A TOML table becomes a frozen dataclass by :func:`from_table`: an unknown key, a missing required key,
a value of the wrong type, or one outside the field's declared bounds raises the caller's error class
with one line naming the source and the dotted key. Bounds are declared on the fields:
``field(metadata=at_least(1))``, ``within(0, 9)``, ``positive()``, ``one_of(...)``; fields with ``metadata=NOT_IN_TOML``
are filled by the caller, never read from the file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import types
import typing
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NOT_IN_TOML = {"toml": False}


def at_least(low: int) -> dict:
    """Field metadata: an integer ``>= low``."""
    return {"at_least": low}


def within(low, high) -> dict:
    """Field metadata: a number in ``[low, high]``."""
    return {"at_least": low, "at_most": high}


def positive() -> dict:
    """Field metadata: a finite number ``> 0``."""
    return {"positive": True}


def one_of(*choices) -> dict:
    """Field metadata: one of ``choices``."""
    return {"one_of": choices}


def parse(text: str, source: str, error: type[Exception]) -> dict:
    """The TOML ``text`` as nested dicts; ``error(f"{source}: not valid TOML (...)")`` when it is not."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{source}: not valid TOML ({e})") from None


def read(path: str | Path, error: type[Exception], what: str) -> str:
    """The text of ``path``; ``error`` naming the file when it cannot be read as UTF-8 text."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise error(f"{path}: cannot read {what} ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not a {what}: the file is not UTF-8 text") from None


def from_table(cls, table: dict, source: str, error: type[Exception], section: str = ""):
    """Build the frozen dataclass ``cls`` from ``table``, strictly (see the module docstring).

    Fields whose type is itself a dataclass are read from sub-tables; ``section`` prefixes the dotted
    key names in messages (``"train."``).
    """
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.metadata.get("toml", True)}
    hints = typing.get_type_hints(cls)
    for key, value in table.items():
        if key not in fields:
            what = f"section [{section}{key}]" if isinstance(value, dict) else f"key {section + key!r}"
            raise error(f"{source}: unknown {what}; allowed keys are {sorted(fields)}")
    for name, f in fields.items():
        if name not in table and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise error(f"{source}: missing key {section + name!r}")
    values = {}
    for key, value in table.items():
        hint, dotted = hints[key], section + key
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise error(f"{source}: {dotted} must be a table [{dotted}], got {value!r}")
            values[key] = from_table(hint, value, source, error, f"{dotted}.")
        else:
            values[key] = _checked(value, hint, fields[key].metadata, dotted, source, error)
    return cls(**values)


def _checked(value, hint, bounds: typing.Mapping, dotted: str, source: str, error):
    allowed = _allowed_types(hint)
    if value is None and type(None) in allowed:
        return None
    allowed = tuple(t for t in allowed if t is not type(None))
    if isinstance(value, int) and not isinstance(value, bool) and float in allowed and int not in allowed:
        value = float(value)
    # bool is an int in Python; `n_bodies = true` is a mistake
    if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
        raise error(f"{source}: {dotted} must be {_describe(allowed)}, got {value!r}")
    if "at_least" in bounds and not value >= bounds["at_least"]:  # NaN fails too
        raise error(f"{source}: {dotted} must be at least {bounds['at_least']}, got {value}")
    if "at_most" in bounds and not value <= bounds["at_most"]:
        raise error(f"{source}: {dotted} must be at most {bounds['at_most']}, got {value}")
    if bounds.get("positive") and not (math.isfinite(value) and value > 0):
        raise error(f"{source}: {dotted} must be a positive number, got {value!r}")
    if "one_of" in bounds and value not in bounds["one_of"]:
        raise error(f"{source}: {dotted} must be one of {list(bounds['one_of'])}, got {value!r}")
    return value


def _allowed_types(hint) -> tuple:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(typing.get_origin(t) or t for t in typing.get_args(hint))
    return (typing.get_origin(hint) or hint,)


def _describe(allowed: tuple) -> str:
    names = {"int": "an integer", "float": "a number", "str": "a string", "dict": "a table", "bool": "true or false"}
    return " or ".join(names.get(t.__name__, t.__name__) for t in allowed)


def parse_override(text: str, error: type[Exception]) -> tuple[list[str], object]:
    """``section.key=value`` as ``([section, key], value)``: the value read as TOML, or as a plain string
    when it is not valid TOML (so ``train.out=runs/a`` means the same as ``train.out="runs/a"``)."""
    if "=" not in text:
        raise error(f"--set {text!r}: expected section.key=value")
    key, value = text.split("=", 1)
    path = key.strip().split(".")
    if len(path) != 2:
        raise error(f"--set {text!r}: the key must be section.key, e.g. train.lr")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return path, parsed


def dumps(sections: dict[str, dict]) -> str:
    """TOML text of ``{section: {key: value}}``; dict values become ``[section.key]`` sub-tables."""
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {_value(v)}" for k, v in values.items() if not isinstance(v, dict)]
        lines.append("")
        for k, v in values.items():
            if isinstance(v, dict):
                lines += [f"[{section}.{k}]", *(f"{kk} = {_value(vv)}" for kk, vv in v.items()), ""]
    return "\n".join(lines)


def _value(v) -> str:
    # JSON's strings, numbers, booleans and arrays are TOML's too (None values are left out by callers)
    return json.dumps(v)
