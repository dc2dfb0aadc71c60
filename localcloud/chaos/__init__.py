"""The chaos suite: the pipeline attacked from outside on a local cloud of its own.

`make chaos` (python -m localcloud.chaos) runs the full plan; `make test` runs the small one
(tests/chaos/). Never part of a function bundle.
"""
