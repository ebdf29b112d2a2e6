"""Hidden dissatisfaction: the corpus (``data``), the recipe (``recipe``), the model card (``card``)."""

from training.hidden.recipe import main

__all__ = ["main"]
