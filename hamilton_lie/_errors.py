"""Exceptions that mean bad input rather than a bug; the CLI turns each into one line on stderr and exit code 2."""


def first_line(e: BaseException) -> str:
    """The first line of an error's message (HDF5's and compilers' run over many), or its type's name."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


class HamiltonLieError(Exception):
    """Base of the errors that mean bad input rather than a bug."""


class RecipeError(HamiltonLieError, ValueError):
    """A dataset recipe that cannot be used: unknown key, wrong type, bad value."""


class DatasetError(HamiltonLieError):
    """An HDF5 dataset that cannot be used: missing, truncated, corrupted, wrong schema, non-finite."""


class ConfigError(HamiltonLieError, ValueError):
    """A training configuration that cannot be used."""


class TrainingDiverged(HamiltonLieError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class WriteFailed(HamiltonLieError):
    """An output could not be written (a full disk, a file-size limit). HDF5 keeps buffers of a file whose
    writes failed and may crash flushing them when the process exits, so the CLI ends the process at once."""
