"""API keys and tenants: who is calling, checked before any route runs.

Keys come from ``TOUSU_API_KEYS`` (``tenant:key,...``) and ``TOUSU_API_KEYS_FILE`` (one entry a line);
an entry is either a key (hashed as it is read, then dropped) or ``tenant:sha256:<hex>``, the line
``tousu keys TENANT`` prints, so a key file never holds a usable key. A request sends
``Authorization: Bearer <key>``; its SHA-256 is compared with every stored hash by
``hmac.compare_digest`` (no early exit), so timing says nothing about which bytes matched. Keys are
long random tokens (``tousu keys``: 256 bits; at least 24 characters are required), so a fast unsalted
hash is enough: unlike a password there is nothing guessable to brute-force from a leaked hash.

With keys, every ``/v1/*`` route needs one (401 ``unauthorized`` with ``WWW-Authenticate: Bearer``),
the caller's tenant is put in the request scope (:func:`tenant_of`) for the routes to scope jobs by,
and the request-rate bucket of that tenant is charged (:mod:`service.ratelimit`). ``/metrics`` and
the docs (``/docs``, ``/redoc``, ``/openapi.json``, ``/dashboard``) are open, need a key, or are 404,
as ``TOUSU_EXPOSE_METRICS`` / ``TOUSU_EXPOSE_DOCS`` say. ``/health`` is always open (load balancers).

Without keys the service answers everyone, which is only safe on a loopback address:
:func:`check_exposure` refuses any other host unless ``TOUSU_AUTH=off`` says so on purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from models.settings import is_loopback
from service.errors import ApiError, ErrorType, error_response
from service.ratelimit import RateLimiter, make_buckets
from service.settings import Settings

logger = logging.getLogger(__name__)

TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_TENANT = re.compile(TENANT_PATTERN)
_HASHED = re.compile(r"^sha256:([0-9a-f]{64})$")
MIN_KEY_CHARS = 24
SCOPE_KEY = "tousu.tenant"
DOC_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/dashboard", "/dashboard/plotly.min.js")
METRICS_PATHS = ("/metrics",)


class ConfigError(RuntimeError):
    """A setting that makes the service unsafe or unusable: raised before it starts, with what to change."""


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return "tsk_" + secrets.token_urlsafe(32)


def hash_line(tenant: str, key: str) -> str:
    """What a key file holds for ``key``: the tenant and the key's hash, never the key."""
    return f"{tenant}:sha256:{key_hash(key)}"


def parse_keys(text: str, where: str) -> list[tuple[str, str]]:
    """``tenant:key`` / ``tenant:sha256:<hex>`` entries (commas or lines; ``#`` comments) -> (tenant, hash).

    Errors name the entry's position, never its text (it may be a key).
    """
    out: list[tuple[str, str]] = []
    entries = [e.strip() for line in text.splitlines() for e in line.split("#", 1)[0].split(",")]
    for n, entry in enumerate((e for e in entries if e), start=1):
        tenant, sep, secret = entry.partition(":")
        tenant, secret = tenant.strip(), secret.strip()
        if not sep or not _TENANT.match(tenant):
            raise ValueError(f"{where}: entry {n} is not `tenant:key` (tenant: letters, digits, . _ -; up to 64)")
        hashed = _HASHED.match(secret)
        if hashed is not None:
            out.append((tenant, hashed.group(1)))
        elif len(secret) < MIN_KEY_CHARS:
            raise ValueError(f"{where}: the key of entry {n} ({tenant}) is shorter than {MIN_KEY_CHARS} characters")
        else:
            out.append((tenant, key_hash(secret)))
    return out


@dataclass(frozen=True)
class KeyRing:
    """Tenant and SHA-256 of every accepted key."""

    entries: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        pairs: list[tuple[str, str]] = []
        if settings.api_keys is not None:
            pairs += parse_keys(settings.api_keys.get_secret_value(), "TOUSU_API_KEYS")
        if settings.api_keys_file is not None:
            try:
                text = settings.api_keys_file.read_text(encoding="utf-8")
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise ConfigError(f"TOUSU_API_KEYS_FILE cannot be read ({reason})") from None
            try:
                pairs += parse_keys(text, "TOUSU_API_KEYS_FILE")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            if not pairs:
                raise ConfigError("TOUSU_API_KEYS_FILE holds no key")
        return cls(tuple((tenant, bytes.fromhex(digest)) for tenant, digest in dict.fromkeys(pairs)))

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    def tenant(self, key: str) -> str | None:
        """The key's tenant, or None; every stored hash is compared, in constant time each."""
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        found: str | None = None
        for tenant, stored in self.entries:
            if hmac.compare_digest(digest, stored) and found is None:
                found = tenant
        return found


def check_exposure(settings: Settings, keys: KeyRing, host: str | None = None) -> None:
    """Refuse to serve a non-loopback address without keys, unless ``TOUSU_AUTH=off`` says so on purpose."""
    bind = settings.host if host is None else host
    if keys.enabled or settings.auth == "off" or is_loopback(bind):
        return
    raise ConfigError(
        f"refusing to serve {bind!r} without API keys: anyone who reaches the port could read every job. "
        "Set TOUSU_API_KEYS (see `tousu keys`) or TOUSU_API_KEYS_FILE, bind 127.0.0.1, or set TOUSU_AUTH=off "
        "if a gateway in front of the service authenticates callers"
    )


def tenant_of(request: Request) -> str | None:
    """The caller's tenant; None when the service runs without keys (one local user sees everything)."""
    tenant: str | None = request.scope.get(SCOPE_KEY)
    return tenant


def _unauthorized(message: str) -> ApiError:
    return ApiError(ErrorType.UNAUTHORIZED, message, {"WWW-Authenticate": 'Bearer realm="tousu"'})


class AccessMiddleware:
    """Pure ASGI (streamed job results pass through untouched): authenticate, gate, charge the request rate."""

    def __init__(self, app: ASGIApp, settings: Settings, keys: KeyRing, limiter: RateLimiter) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.gated: dict[str, str] = {p: settings.expose_docs for p in DOC_PATHS}
        self.gated.update({p: settings.expose_metrics for p in METRICS_PATHS})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        try:
            gate = self.gated.get(path.rstrip("/") or "/")
            if gate == "off":
                raise ApiError(ErrorType.NOT_FOUND, "not found")
            needs_key = path == "/v1" or path.startswith("/v1/") or gate == "key"
            if needs_key and self.keys.enabled:
                tenant = self._authenticate(scope)
                scope[SCOPE_KEY] = tenant
                if path.startswith("/v1/"):
                    await self.limiter.check_request(tenant)
        except ApiError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authenticate(self, scope: Scope) -> str:
        header = _header(scope, b"authorization")
        if header is None:
            raise _unauthorized("send an API key: Authorization: Bearer <key>")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise _unauthorized("the Authorization header must be `Bearer <key>`")
        tenant = self.keys.tenant(key.strip())
        if tenant is None:
            logger.info("refused an unknown API key")  # never the key, not even a prefix
            raise _unauthorized("unknown API key")
        return tenant


def _header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def openapi_security(schema: dict[str, Any]) -> None:
    """Declare the bearer scheme and require it on every ``/v1/*`` operation (only when keys are configured)."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["ApiKey"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (TOUSU_API_KEYS); `tousu keys TENANT` makes one.",
    }
    for path, item in schema.get("paths", {}).items():
        if path.startswith("/v1/"):
            for op in item.values():
                if isinstance(op, dict):
                    op["security"] = [{"ApiKey": []}]


def install(app: FastAPI, settings: Settings) -> RateLimiter:
    """Keys, the exposure check, the limiter and the middleware; after ``service.openapi.install`` (it wraps the
    document with the bearer scheme when keys are configured). Raises :class:`ConfigError` before anything runs."""
    keys = KeyRing.from_settings(settings)
    check_exposure(settings, keys)
    limiter = RateLimiter(settings, make_buckets(settings.redis_url))
    app.state.limiter = limiter
    # Innermost (appended, not inserted first): the app's timing middleware counts and times 401s and 429s too.
    app.user_middleware.append(Middleware(AccessMiddleware, settings=settings, keys=keys, limiter=limiter))
    if keys.enabled:
        build: Callable[[], dict[str, Any]] = app.openapi

        def openapi() -> dict[str, Any]:
            schema = build()
            if "securitySchemes" not in schema.get("components", {}):
                openapi_security(schema)
            return schema

        app.openapi = openapi  # type: ignore[method-assign]
    logger.info(
        "access: %s",
        f"{len({t for t, _ in keys.entries})} tenant(s) with API keys"
        if keys.enabled
        else "no API keys (local use)" + (", TOUSU_AUTH=off" if settings.auth == "off" else ""),
    )
    return limiter
