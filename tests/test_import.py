"""`import fastmlp` stays cheap: scipy, numba and the compiled extension load only when a backend needs them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("scipy", "numba", "llvmlite", "fastmlp._native", "fastmlp.backends.numba_impl")


def _modules_after(code):
    """The heavy modules present in sys.modules after running `code` in a fresh interpreter."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
             f"or m in {HEAVY!r})))")
    env = {k: v for k, v in os.environ.items() if k != "FASTMLP_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_fastmlp_loads_no_heavy_module():
    assert _modules_after("import fastmlp") == []


def test_public_names_resolve_without_loading_a_backend():
    code = ("import fastmlp\n"
            "assert callable(fastmlp.MLP) and callable(fastmlp.check_gradients)\n"
            "assert callable(fastmlp.available_backends) and fastmlp.__version__")
    assert _modules_after(code) == []


def test_the_numpy_backend_needs_neither_numba_nor_the_extension():
    code = ("import numpy as np, fastmlp\n"
            "net = fastmlp.MLP([2, 3, 1], backend='numpy', seed=0)\n"
            "net.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, batch_size=2)\n"
            "net.predict(np.ones((1, 2)))")
    loaded = _modules_after(code)
    assert not [m for m in loaded if m.split(".")[0] in ("numba", "llvmlite")], loaded
    assert "fastmlp._native" not in loaded and "fastmlp.backends.numba_impl" not in loaded


@pytest.mark.parametrize("backend, module", [("cython", "fastmlp._native"),
                                             ("numba", "fastmlp.backends.numba_impl")])
def test_a_backend_loads_on_first_use(backend, module):
    """The probe sees these modules once a model asks for them (so the checks above could fail)."""
    loaded = _modules_after(f"import fastmlp\nfastmlp.MLP([2, 1], backend={backend!r})")
    assert module in loaded
