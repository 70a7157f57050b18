"""The pytest suite: one folder per package (golden/, hdl/, logdot/), shared helpers in support/.

A package (with the repository root on ``sys.path``, see ``pythonpath`` in pyproject.toml), so
test files of the same name in different folders do not clash and helpers import as
``tests.support``.
"""
