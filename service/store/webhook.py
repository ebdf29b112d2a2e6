"""Alert delivery to an optional webhook: JSON, HMAC-signed, retried with backoff, off the analysis path.

The background loop of every process (API, workers) delivers; an alert is claimed by a conditional
UPDATE of its attempt count, so one process sends each attempt. The body is the alert as
``GET /v1/alerts`` lists it; ``X-Tousu-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body
bytes with ``TOUSU_STORE_WEBHOOK_SECRET``. A non-2xx answer or a network error is retried after
10 s, 20 s, 40 s ... (at most an hour apart) until ``TOUSU_STORE_WEBHOOK_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable

import httpx
import orjson
from sqlalchemy import Engine, select, update

from service.store.queries import alert_item
from service.store.tables import alerts

logger = logging.getLogger(__name__)

MAX_AGE_S = 24 * 3600  # alerts older than this when first seen by a (new) webhook are not sent
Post = Callable[[str, bytes, dict[str, str]], int]


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> float:
    return float(min(3600, 10 * 2 ** max(0, attempts - 1)))


def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    return httpx.post(url, content=body, headers=headers, timeout=5.0, follow_redirects=False).status_code


def deliver_due(
    engine: Engine, url: str, secret: bytes | None, now: float, max_attempts: int, post: Post = http_post
) -> int:
    """Send every alert that is due; returns how many were delivered."""
    a = alerts.c
    with engine.connect() as conn:
        due = list(
            conn.execute(
                select(alerts)
                .where(
                    a.delivered_at.is_(None),
                    a.attempts < max_attempts,
                    a.created_at >= now - MAX_AGE_S,
                    a.next_attempt_at.is_(None) | (a.next_attempt_at <= now),
                )
                .order_by(a.seq)
                .limit(100)
            )
        )
    delivered = 0
    for row in due:
        with engine.begin() as conn:
            claimed = conn.execute(
                update(alerts)
                .where(a.seq == row.seq, a.attempts == row.attempts, a.delivered_at.is_(None))
                .values(attempts=row.attempts + 1, next_attempt_at=now + backoff(row.attempts + 1))
            ).rowcount
        if not claimed:
            continue  # another process is sending it
        body = orjson.dumps(alert_item(row))
        headers: dict[str, str] = {"content-type": "application/json", "x-tousu-alert-id": str(row.seq)}
        if secret is not None:
            headers["x-tousu-signature"] = sign(secret, body)
        try:
            status = post(url, body, headers)
        except httpx.HTTPError as exc:
            logger.warning("alert %d: webhook failed (%s); attempt %d", row.seq, type(exc).__name__, row.attempts + 1)
            continue
        if 200 <= status < 300:
            with engine.begin() as conn:
                conn.execute(update(alerts).where(a.seq == row.seq).values(delivered_at=now))
            delivered += 1
        else:
            logger.warning("alert %d: webhook answered %d; attempt %d", row.seq, status, row.attempts + 1)
    return delivered
