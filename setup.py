"""Build of the one compiled part: the NAS-Bench-101 reader's MD5s, cell hashes and framing.

Everything else about the package is in pyproject.toml. The extension is optional: without a
C compiler the install goes on and the reader hashes with CPython's MD5 (slower, same hashes).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("reusebench.data.nasbench._accel",
                             sources=["reusebench/data/nasbench/_accel.c"],
                             extra_compile_args=["-O3", "-Wno-psabi"],
                             optional=True)])
