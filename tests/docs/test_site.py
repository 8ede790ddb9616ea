"""The documentation site builds with ``mkdocs build --strict`` (broken links, missing pages and unresolved
references fail), and every public name has an entry in its API reference."""

import importlib
import os
import shutil
import subprocess
import sys
import zlib

import pytest

PACKAGES = (
    "simulators",
    "simulators.systems",
    "simulators.integrators",
    "hamilton_lie.groups",
    "hamilton_lie.models",
    "hamilton_lie.nn",
    "hamilton_lie.dynamics",
    "hamilton_lie.data",
    "hamilton_lie.training",
    "hamilton_lie.analysis",
    "hamilton_lie.plotting",
    "hamilton_lie.testing",
)


def _inventory(path) -> set[str]:
    """The object names of a Sphinx inventory (``objects.inv``, as mkdocstrings writes it)."""
    raw = path.read_bytes()
    body = raw.split(b"\n", 4)[4]  # four header lines, then the zlib-compressed entries
    return {line.split(" ", 1)[0] for line in zlib.decompress(body).decode().splitlines() if line}


@pytest.fixture(scope="module")
def site(root, tmp_path_factory):
    if shutil.which("mkdocs", path=os.path.dirname(sys.executable)) is None:
        pytest.fail("mkdocs is not installed: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("site")
    # notebooks are shown as committed (their outputs are made by `make docs`); tests/test_notebooks.py runs them
    env = {**os.environ, "HAMILTON_LIE_DOCS_EXECUTE": "false", "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "mkdocs"), "build", "--strict", "--site-dir", str(out)],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_every_public_name_has_a_reference_entry(site):
    entries = _inventory(site / "objects.inv")
    missing = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        missing += [f"{package}.{name}" for name in module.__all__ if f"{package}.{name}" not in entries]
    assert not missing, f"no API reference entry for {missing}"


def test_the_top_level_names_are_documented_where_they_live(site, root):
    import hamilton_lie

    entries = _inventory(site / "objects.inv")
    names = [n for n in hamilton_lie.__all__ if n != "__version__"]
    missing = [n for n in names if not any(e.endswith(f".{n}") or e == f"hamilton_lie.{n}" for e in entries)]
    assert not missing, missing
    page = (root / "docs" / "api" / "hamilton_lie.md").read_text()
    assert not [n for n in names if f"[`{n}`]" not in page], "docs/api/hamilton_lie.md must list every top-level name"


def test_every_page_in_the_navigation_is_built(site):
    for page in ("getting-started", "guide/train", "concepts/groups", "concepts/metrics", "extending", "datasets",
                 "benchmarks", "benchmarks/springs", "api/models", "notebooks/03-diagnostics"):
        assert (site / page / "index.html").stat().st_size > 2000, page
