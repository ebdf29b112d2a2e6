"""Inference runtime of tousu: text handling, the ONNX encoder, task heads, batching.

Nothing in this package imports fastapi; the HTTP layer lives in ``service``.
"""
