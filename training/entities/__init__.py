"""Entities: the NER corpus (``data``), the token-head recipe (``recipe``), the served config and card (``card``),
the generated labelled set (``testset``) and the hand-written set's builder (``written``)."""

from training.entities.recipe import main

__all__ = ["main"]
