"""Escalation risk: which messages need a human now, and why (issue 7).

``signals`` turns a message, the blocks of earlier stages and the request's history into signal
values in [0, 1] with evidence; ``scorer`` combines them with the versioned config
(``models/heads/risk/risk.json``) into ``{level, score, reasons, handoff}``; ``repetition`` counts
a customer's recent messages (Redis or in-process); ``stage`` plugs it all into the pipeline.
"""
