"""The device check: one time-boxed command that proves and measures the CUDA path.

``scripts/device_check.py`` runs, each step in a forked child with its own time limit
(:mod:`.orchestrate`), the CUDA-marked tests (:mod:`.cudatests`), paper-scale step times and
peaks against plain-PyTorch floors (:mod:`.paper`), batched inits against one by one and the
Clarke UCI suite estimate (:mod:`.batched`), then judges the issue's targets
(:mod:`.targets`) and writes ``device_check.json`` and ``device_check.md`` (:mod:`.report`).
``docs/device-check.md`` is the runbook.
"""
