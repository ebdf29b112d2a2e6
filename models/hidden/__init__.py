"""Hidden dissatisfaction: the unhappy customer who never says so (see ``models/hidden/stage.py``).

``CueFinder`` (evidence spans) and ``ExplicitLexicon`` are plain classes other stages may reuse,
e.g. the risk stage for ``threat_to_leave`` spans.
"""

from __future__ import annotations

from models.hidden.cues import CUE_TYPES, CueFinder, CueSpan, ExplicitLexicon

__all__ = ["CUE_TYPES", "CueFinder", "CueSpan", "ExplicitLexicon"]
