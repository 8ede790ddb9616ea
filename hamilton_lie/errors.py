"""Exceptions that the CLI turns into one line on stderr and exit code 2."""


class HamiltonLieError(Exception):
    """Base of the errors that mean bad input rather than a bug."""


class RecipeError(HamiltonLieError, ValueError):
    """A dataset recipe that cannot be used: unknown key, wrong type, bad value."""


class DatasetError(HamiltonLieError):
    """An HDF5 dataset that cannot be used: missing, truncated, corrupted, wrong schema, non-finite."""
