"""Collaborative learning: self-practice, collaborative examination, reflective learning.

The stages write plain JSONL files (trajectories, labelled steps, supervised records) so each can be
inspected, resumed and reused; the heavy training stack is imported only by the fine-tuning module.
"""
