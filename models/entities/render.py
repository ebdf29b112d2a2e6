"""Entities highlighted in HTML with spaCy's displacy (``manual=True``), for people who would rather look.

The page is self-contained (inline styles, no script, no CDN). Masked entities are shown masked:
the displayed text substitutes each entity's answer ``text`` for the original slice, so a page
rendered from a default answer carries no raw personal data either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.schema import Entity

COLORS = {
    "ORDER_ID": "#f9d67a",
    "PHONE": "#f4a4a4",
    "EMAIL": "#f4a4a4",
    "ID_NUMBER": "#e57373",
    "MONEY": "#a5d6a7",
    "DATETIME": "#90caf9",
    "URL": "#cfd8dc",
    "PERSON": "#ce93d8",
    "ORG": "#80cbc4",
    "LOCATION": "#ffcc80",
    "PRODUCT": "#b39ddb",
}


def displacy_doc(text: str, entities: Sequence[Entity], title: str | None = None) -> dict[str, Any]:
    """displacy's manual format, with masked entity texts substituted into the displayed text."""
    shown: list[str] = []
    ents: list[dict[str, Any]] = []
    pos = 0
    shift = 0
    for e in sorted(entities, key=lambda x: x.start):
        if e.start < pos:
            continue
        shown.append(text[pos : e.start])
        surface = e.text if e.text != text[e.start : e.end] else text[e.start : e.end]
        start = e.start + shift
        shown.append(surface)
        shift += len(surface) - (e.end - e.start)
        ents.append({"start": start, "end": start + len(surface), "label": e.type})
        pos = e.end
    shown.append(text[pos:])
    return {"text": "".join(shown), "ents": ents, "title": title}


def render_html(docs: Sequence[dict[str, Any]], page: bool = True) -> str:
    """One HTML page (or fragment) for displacy manual docs built by :func:`displacy_doc`."""
    from models.entities.spacy_import import import_spacy

    import_spacy()
    from spacy import displacy

    html: str = displacy.render(
        list(docs), style="ent", manual=True, page=page, jupyter=False, options={"colors": COLORS}
    )
    return html
