"""Lecture step 4: universal approximation - runs universal_approximation.py (same arguments).

    python examples/04_universal_approximation.py [plot.png]
"""
import pathlib
import runpy

runpy.run_path(str(pathlib.Path(__file__).with_name("universal_approximation.py")), run_name="__main__")
