"""``hgbench bench compare BASE HEAD``: interleaved base-against-head timing, paired statistics.

- :mod:`~hgbench.bench.ab.sides`: a side (a git ref or a checkout path) as a source tree.
- :mod:`~hgbench.bench.ab.worker`: the timing worker, run with one side's hgbench.
- :mod:`~hgbench.bench.ab.rounds`: the worker pools and the ABAB… schedule of rounds.
- :mod:`~hgbench.bench.ab.decide`: pure functions from paired samples to an interval and a verdict.
- :mod:`~hgbench.bench.ab.report`: the JSON file and the Markdown table.
- :mod:`~hgbench.bench.ab.cli`: the command.

See ``docs/ci-timing.md``.
"""
