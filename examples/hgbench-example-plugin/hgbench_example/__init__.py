"""An example hgbench plugin: the method ``periodic_hd`` and the task ``friedman1``.

Both are registered through entry points (``pyproject.toml``); nothing in hgbench names them.
Walked through in hgbench's ``docs/method-authors.md`` and ``docs/task-authors.md``.
"""
