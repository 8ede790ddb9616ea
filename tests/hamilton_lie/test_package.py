"""The package's shape: a small lazy top level, and simulators independent of hamilton_lie."""

import subprocess
import sys

import hamilton_lie

HEAVY = ("torch", "h5py", "matplotlib", "torchdiffeq", "scipy")


def _loaded(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded after running ``code``."""
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_import_loads_nothing_heavy_until_a_name_is_used():
    assert _loaded("import hamilton_lie") == []
    # a model needs torch, not h5py, matplotlib, or torchdiffeq (scipy) until a rollout or a file
    assert _loaded("import hamilton_lie; hamilton_lie.LieTransformer") == ["torch"]
    assert "matplotlib" in _loaded("import hamilton_lie; hamilton_lie.plotting")


def test_the_cli_answers_help_without_loading_the_library():
    assert _loaded("from hamilton_lie import cli; cli.build_parser()") == []


def test_every_public_name_resolves():
    assert 15 <= len([n for n in hamilton_lie.__all__ if not n.startswith("_")]) <= 30
    for name in hamilton_lie.__all__:
        assert getattr(hamilton_lie, name) is not None
    assert set(hamilton_lie.__all__) <= set(dir(hamilton_lie))


def test_simulators_never_import_hamilton_lie():
    code = (
        "import sys, torch, simulators\n"
        "s = simulators.SpringSystem(4, 2); g = torch.Generator().manual_seed(0)\n"
        "p = s.sample_params(2, generator=g); q, v = s.sample_state(p, generator=g)\n"
        "simulators.integrate(s, q, v, p, torch.linspace(0, 1, 3, dtype=torch.float64), method='yoshida4')\n"
        "assert not any(m.startswith('hamilton_lie') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
