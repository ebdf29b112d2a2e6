"""Evidence spans (hidden-dissatisfaction cues, risk reasons) never carry the personal data the
entities block masks: a cue quoting a phone number is masked the same way, unless ``include_pii``."""

from __future__ import annotations

import pytest

from models.pii import mask_evidence
from models.pipeline import AnalysisInput
from models.registry import Registry
from models.schema import Cue, HiddenDissatisfaction, RiskReason

TEXT = "难道要我再打13800138000吗？"
PII = [(6, 17, "138****8000")]


def test_a_cue_covering_a_phone_carries_the_masked_phone() -> None:
    block = HiddenDissatisfaction(
        detected=True, score=0.9, cues=[Cue(type="rhetorical_question", text=TEXT, start=0, end=len(TEXT))]
    )
    masked = mask_evidence(block, TEXT, PII)
    assert masked.cues[0].text == "难道要我再打138****8000吗？"
    assert (masked.cues[0].start, masked.cues[0].end) == (0, len(TEXT))  # offsets still point at the original
    assert block.cues[0].text == TEXT  # the input is not modified


def test_partial_overlap_is_starred_and_untouched_spans_are_kept() -> None:
    partial = RiskReason(signal="repetition", contribution=0.1, detail="", text="再打1380", start=4, end=10)
    elsewhere = RiskReason(signal="urgency", contribution=0.1, detail="", text="难道", start=0, end=2)
    no_span = RiskReason(signal="negative_intensity", contribution=0.2, detail="")
    out = mask_evidence([partial, elsewhere, no_span], TEXT, PII)
    assert out[0].text == "再打****"
    assert out[1] is elsewhere and out[2] is no_span


#: The rhetorical question (with the phone) comes first, so the risk stage quotes it as its hidden-dissatisfaction
#: reason; the sarcasm after it makes the message clearly hidden-dissatisfied, so that reason is given.
SERVED_TEXT = TEXT + "你们的效率真是让人佩服。"


@pytest.mark.model
def test_served_answer_masks_pii_inside_cues_and_reasons(registry: Registry) -> None:
    analyzer = registry.analyzer
    [masked] = analyzer.analyze_batch([AnalysisInput.prepare(SERVED_TEXT)])
    assert masked.hidden_dissatisfaction is not None and masked.risk is not None
    cues = [c.text for c in masked.hidden_dissatisfaction.cues]
    reasons = [r.text for r in masked.risk.reasons if r.text]
    assert "难道要我再打138****8000吗？" in cues  # the rhetorical question is found, with the number masked
    assert "13800138000" not in masked.model_dump_json()
    [raw] = analyzer.analyze_batch([AnalysisInput.prepare(SERVED_TEXT, {"include_pii": True})])
    assert raw.hidden_dissatisfaction is not None
    assert TEXT in [c.text for c in raw.hidden_dissatisfaction.cues]
    assert reasons  # the risk stage quoted the cue too, and it was masked above
