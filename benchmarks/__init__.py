"""dockline's benchmark suite: dockline against its anchors, in one run on one machine.

`python benchmarks/run.py [--quick]` runs it; see docs/BENCHMARKS.md.
"""
