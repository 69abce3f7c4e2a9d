"""Measurement tools over methods and tasks (below ``bench`` in the layering: they import
``hgbench.methods`` and ``hgbench.tasks``, never ``hgbench.bench`` or ``hgbench.reports``).

* :mod:`hgbench.analysis.fidelity`: a method's hypergradient against the exact one on a
  quadratic, and small drivers that step a method without the harness;
* :mod:`hgbench.analysis.cost`: counter-implied cost and measured unit costs.
"""
