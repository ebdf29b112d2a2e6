"""Sentiment: the same-source corpus (``data``), the recipe (``recipe``), leave-one-source-out (``loso``)."""

from training.sentiment.recipe import main

__all__ = ["main"]
