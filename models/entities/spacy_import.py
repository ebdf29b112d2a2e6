"""Import spaCy without letting thinc import PyTorch.

thinc probes ``import torch`` when it is imported and keeps it loaded if present. The serving
install has no torch, but development and training environments do, and a serving process there
would pay seconds and hundreds of MB for a library the entity pipelines never use. So the first
spaCy import hides torch for its duration; a later ``import torch`` elsewhere works as usual.
"""

from __future__ import annotations

import sys
from types import ModuleType


def import_spacy() -> ModuleType:
    if "thinc" not in sys.modules and "torch" not in sys.modules:
        sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` raise ImportError
        try:
            import spacy
        finally:
            del sys.modules["torch"]
    import spacy

    return spacy
