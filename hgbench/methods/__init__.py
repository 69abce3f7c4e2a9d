"""Methods: training algorithms that tune their own hyperparameters. See :mod:`hgbench.spec`."""

from hgbench.registry import Registry

#: Built-in method modules register themselves with ``@METHODS.register(key)`` when imported.
METHODS: Registry = Registry(
    "method",
    "hgbench.methods",
    builtin_modules=(
        "hgbench.methods.fixed",
        "hgbench.methods.hd",
        "hgbench.methods.tower",
        "hgbench.methods.implicit",
        "hgbench.methods.unrolled",
        "hgbench.methods.random_search",
        "hgbench.methods.reversible",
    ),
)
