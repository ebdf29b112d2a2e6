"""Complaint entities: structured patterns, statistical NER and normalisers in a spaCy pipeline."""
