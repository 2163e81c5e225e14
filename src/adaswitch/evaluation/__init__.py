"""Evaluation: run methods over a benchmark slice through a solver (:mod:`runner`, :mod:`sweep`)
and report what :mod:`adaswitch.grading` makes of the records (:mod:`report`)."""
