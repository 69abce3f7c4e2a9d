"""Exact reversible learning (Maclaurin, Duvenaud & Adams, ICML 2015) and its naive
unrolled baseline. Importing this package registers the ``reversible`` and ``unrolled_full``
methods."""

from hgbench.methods.reversible.method import Reversible, ScheduleMethod
from hgbench.methods.reversible.unrolled_full import UnrolledFull

__all__ = ["Reversible", "ScheduleMethod", "UnrolledFull"]
