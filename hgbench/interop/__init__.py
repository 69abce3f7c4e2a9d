"""Adapters that run methods written for other libraries inside hgbench's runner.

* :mod:`hgbench.interop.higher`: a method written as a ``higher.innerloop_ctx`` loop over an
  ``nn.Module`` and a ``torch.optim`` optimizer (the ``higher`` extra:
  ``pip install 'hgbench[higher]'``); :mod:`hgbench.interop.higher_unrolled` is one, the
  truncated Diff-through-Opt of Clarke et al. (2022) as their code writes it.

Like methods, adapters import nothing from ``hgbench.bench`` or ``hgbench.reports``.
"""
