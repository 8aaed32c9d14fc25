"""Builds fastmlp's Cython extension (fastmlp._native) from src_ext/.

The extension is optional: without a compiler (or Cython) the install still succeeds and fastmlp runs on
its Numba backend. FASTMLP_MARCH_NATIVE=1 builds for this machine's CPU only (never for wheels you ship).
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py


class OptionalBuildExt(build_ext):
    """Build the extension if possible; say why not otherwise, and carry on."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, no BLAS headers, ...
            self._skip(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skip(exc)

    def _skip(self, exc):
        print(f"\nWARNING: fastmlp's compiled extension was not built ({exc}); "
              "fastmlp will use its Numba backend.\n")


class BuildPyWithPxd(build_py):
    """Ship _native.pxd inside the package so other Cython code can cimport the kernels."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "fastmlp")
        os.makedirs(target, exist_ok=True)
        shutil.copy(os.path.join("src_ext", "_native.pxd"), os.path.join(target, "_native.pxd"))


def extensions():
    try:
        import numpy
        from Cython.Build import cythonize
    except ImportError as exc:
        print(f"WARNING: cannot cythonize ({exc}); fastmlp will use its Numba backend.")
        return []
    from setuptools import Extension

    compile_args = ["-O3", "-fno-math-errno"]
    if os.environ.get("FASTMLP_MARCH_NATIVE") == "1":
        compile_args.append("-march=native")
    ext = Extension(
        "fastmlp._native",
        ["src_ext/_native.pyx"],
        depends=["src_ext/fastmlp_act.h", "src_ext/fastmlp_gemv.h"],  # rebuilt when they change, in the sdist
        include_dirs=[numpy.get_include(), "src_ext"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
    )
    modules = cythonize([ext], compiler_directives={"language_level": "3"}, include_path=["src_ext"])
    for module in modules:
        module.optional = True  # cythonize() drops Extension(optional=True)
    return modules


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithPxd})
