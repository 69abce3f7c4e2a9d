"""The Clarke et al. (2022) family: one-pass implicit differentiation (``implicit``, three
variants), Lorraine et al. (2020) (``lorraine``) and the comparison's Baydin arm
(``baydin_loglr``). Importing this package registers all of them."""

from hgbench.methods.implicit.baydin import BaydinLogLR
from hgbench.methods.implicit.clarke import Implicit, Lorraine, neumann_hypergradient

__all__ = ["BaydinLogLR", "Implicit", "Lorraine", "neumann_hypergradient"]
