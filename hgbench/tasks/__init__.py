"""Tasks: data + model + loss + metric + budget. See :mod:`hgbench.spec` for the contract."""

from hgbench.registry import Registry

#: Built-in task modules register themselves with ``@TASKS.register(key)`` when imported.
TASKS: Registry = Registry(
    "task",
    "hgbench.tasks",
    builtin_modules=(
        "hgbench.tasks.embedded",
        "hgbench.tasks.uci",
        "hgbench.tasks.fashion_mnist",
        "hgbench.tasks.cifar10",
        "hgbench.tasks.ptb",
        "hgbench.tasks.quadratic",
    ),
)
