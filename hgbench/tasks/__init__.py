"""Tasks: data + model + loss + metric + budget. See :mod:`hgbench.spec` for the contract."""

from hgbench.registry import Registry

TASKS: Registry = Registry("task", "hgbench.tasks")
