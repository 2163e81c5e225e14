"""Evaluation: run a method over a benchmark slice, score it, measure its cost, and report."""
