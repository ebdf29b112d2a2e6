"""Metrics that training and evaluation both need, in one neutral package.

``training/`` and ``evaluation/`` import from here, never from each other's metric code, so the
recipes and the evaluators score a model the same way (``scores``: accuracy, macro-F1, ECE, temperature,
span P/R/F1; ``binary``: the binary reports of hidden dissatisfaction).
"""
