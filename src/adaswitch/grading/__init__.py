"""Grading: what a run's records say, below everything that drives a solver.

Step labels against the gold answer (:mod:`rules`), the figures of a run and the comparisons
between runs (:mod:`metrics`), offline scores of recorded step features (:mod:`signals`), and
the records and run directories they read (:mod:`records`, :mod:`rundir`). The learning stages
and the calibration of a cloud budget use these; :mod:`adaswitch.evaluation` (the runner, the
sweep and the report) sits above them and drives the solver."""
