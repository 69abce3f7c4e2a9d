"""Methods: training algorithms that tune their own hyperparameters. See :mod:`hgbench.spec`."""

from hgbench.registry import Registry

METHODS: Registry = Registry("method", "hgbench.methods")
