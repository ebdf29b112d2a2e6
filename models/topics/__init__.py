"""Topics and root-cause categories at serving time: BERTopic's saved files assigned in NumPy.

``model.py`` (topic assignment), ``taxonomy.py`` (zero-shot categories from an editable file),
``align.py`` (stable ids across refits), ``stage.py`` (the pipeline stage and its loader).
Training lives in ``training/topics/``; nothing here imports BERTopic, UMAP or HDBSCAN.
"""
