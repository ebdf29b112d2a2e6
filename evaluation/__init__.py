"""Evaluations (``tousu evaluate <task>``); reports are written to ``evaluation/reports/``."""
