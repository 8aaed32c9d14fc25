"""Every script in examples/ runs to completion (exit code 0) and prints what the lecture expects."""
from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

# script -> text its output must contain
EXPECTED = {
    "01_activations.py": ["tanh", "sigmoid", "softplus", "relu", "all derivatives agree with finite differences"],
    "02_linear_collapse.py": ["collapse to one layer", "shape (2, 3)", "ValueError", "'tanh'"],
    "03_backprop_by_hand.py": ["f = 2.302585", "df/dx = 0.6000, df/dy = 0.6000, df/dz = 0.1000",
                               "additions for the derivative: forward 4, reverse 2", "digraph"],
    "04_universal_approximation.py": ["Part 1", "Part 2", "gradient descent"],
    "05_gradient_descent.py": ["loss fell from"],
    "universal_approximation.py": ["Part 1", "1.000e-03", "3.142e-03", "Part 2", "construction, n = 10"],
}


def run(script, *args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    # The scripts import fastmlp as an installed package would be: from the repository root.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script, tmp_path):
    result = run(script, cwd=tmp_path)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    for text in EXPECTED[script]:
        assert text in result.stdout, f"{script}: {text!r} not in output:\n{result.stdout}"


def test_universal_approximation_plot_path_from_argv(tmp_path):
    out = tmp_path / "sub" / "bumps.png"
    out.parent.mkdir()
    result = run("universal_approximation.py", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    if HAS_MATPLOTLIB:
        assert out.is_file() and out.stat().st_size > 1000
        assert f"plot written to {out}" in result.stdout
    else:
        assert not out.exists()
        assert "matplotlib is not installed" in result.stdout
    # Nothing else lands in the working directory (the default path is unused when one is given).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


def test_gradient_descent_loss_falls(tmp_path):
    result = run("05_gradient_descent.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    losses = [float(line.split()[1]) for line in result.stdout.splitlines()
              if line.split() and line.split()[0].isdigit()]
    assert len(losses) == 11
    assert losses[-1] < losses[0] / 20
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= 8  # falling, nearly every report
