"""The compiled extension ``_accel`` (built from _accel.c by setup.py where a C compiler is
found at install), or None: every user keeps a numpy/Python route for that case."""

try:
    from reusebench.data.nasbench import _accel as accel
except ImportError:  # pragma: no cover - installed without a C compiler
    accel = None

ACCEL_MAX_VERTICES = 64  # the largest cell (vertices) the extension's functions take
