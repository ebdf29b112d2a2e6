"""Topics: the recipe (``recipe``, ``tousu train topics``), corpora (``data``), jieba words (``text``),
the model card (``card``) and ``tousu topics report`` (``report``)."""

from training.topics.recipe import main

__all__ = ["main"]
