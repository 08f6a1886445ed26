"""Turn provider failures into :class:`~framework.domain.llm.ProviderError` for the router.

Every adapter raises ``ProviderError(kind, status, retry_after)`` and nothing else; the
router decides from ``kind`` alone whether to wait, rotate the key, fail over or stop.

* :func:`classify_anthropic`: exceptions of the anthropic SDK (2.x).
* :func:`classify_openai_like`: exceptions of the groq SDK (or any Stainless-made
  OpenAI-style SDK), plus aiohttp/httpx transport errors and timeouts.
* :func:`classify_status`: a bare HTTP status with its message and headers (the aiohttp
  OpenAI-compatible adapter has no SDK exception to classify).

SDKs are never imported here: an exception of the groq SDK can only exist once groq is
in ``sys.modules``, so the checks look there. A bot without Groq configured never pays
for importing it, and the Anthropic adapter can import this module freely.

Status mapping (the same for every provider)::

    429                       RATE_LIMIT (retry_after from retry-after-ms / retry-after)
    401, 403, 402             AUTH        (and a 400 about the credit balance: the key's
                                           account cannot pay, another key or provider can)
    503, 529, 498             OVERLOADED  (498: Groq flex-tier capacity)
    408, 504                  TIMEOUT
    other 5xx, 409            SERVER
    400/413/422 about length  CONTEXT_TOO_LONG (Groq's 413 about tokens per minute: RATE_LIMIT)
    other 4xx (404 included)  BAD_REQUEST
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..redact import Redactor
from ..domain import ErrorKind, ProviderError

__all__ = [
    "classify_anthropic",
    "classify_openai_like",
    "classify_status",
    "parse_retry_after",
    "message_from_body",
    "model_unavailable",
    "redact_key",
    "scrub_error",
]

_MAX_MESSAGE = 300  # provider messages can quote the whole request back; keep logs readable

_CONTEXT = re.compile(
    r"prompt is too long|context[ _-]?(?:length|window)|maximum context|too many (?:input )?tokens"
    r"|reduce the length|input is too long|request too large|exceeds? the (?:model'?s )?(?:maximum|context)",
    re.IGNORECASE,
)
_PER_MINUTE = re.compile(r"per minute|\bTPM\b|rate[ _]limit", re.IGNORECASE)
_CREDIT = re.compile(r"credit balance|billing|insufficient[ _]quota", re.IGNORECASE)
_MODEL_GONE = re.compile(
    r"model_not_found|model_decommissioned|decommissioned|model .{0,80}(?:does not exist|not found|not supported)",
    re.IGNORECASE,
)


def parse_retry_after(headers: Mapping[str, str] | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from ``retry-after-ms``, else ``retry-after`` (seconds or an HTTP date).

    The same precedence as the SDKs' own retry loop. ``None`` when absent or unreadable.
    """
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        return max(0.0, float(lowered["retry-after-ms"]) / 1000)
    except (KeyError, ValueError):
        pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - now())


def message_from_body(body: Any) -> str:
    """The error message of an API error body (OpenAI, Groq, Anthropic and Gemini shapes)."""
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            body = json.loads(text)
        except ValueError:
            return text.strip()[:_MAX_MESSAGE]
    if isinstance(body, list) and body:  # Gemini wraps the error object in a list
        body = body[0]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, str):
            return error[:_MAX_MESSAGE]
        if isinstance(error, dict):
            parts = [str(error[k]) for k in ("code", "type") if isinstance(error.get(k), str)]
            message = error.get("message")
            if isinstance(message, str):
                parts.append(message)
            return " ".join(parts)[:_MAX_MESSAGE]
    return ""


def classify_status(
    provider: str, status: int, message: str = "", headers: Mapping[str, str] | None = None
) -> ProviderError:
    """A ProviderError for an HTTP error status (see the module's table)."""
    message = (message or f"HTTP {status}")[:_MAX_MESSAGE]
    retry_after = parse_retry_after(headers)
    if status == 429:
        kind = ErrorKind.RATE_LIMIT
    elif status in (401, 402, 403) or (status == 400 and _CREDIT.search(message)):
        kind = ErrorKind.AUTH
    elif status in (498, 503, 529):
        kind = ErrorKind.OVERLOADED
    elif status in (408, 504):
        kind = ErrorKind.TIMEOUT
    elif status >= 500 or status == 409:
        kind = ErrorKind.SERVER
    elif status == 413 and _PER_MINUTE.search(message):
        # Groq says 413 when one request is bigger than the model's tokens-per-minute
        # limit: another model (or a higher-tier key) can take it, so fail over.
        kind = ErrorKind.RATE_LIMIT
    elif status in (400, 413, 422) and (status == 413 or _CONTEXT.search(message)):
        kind = ErrorKind.CONTEXT_TOO_LONG
    else:
        kind = ErrorKind.BAD_REQUEST
    return ProviderError(provider, kind, message, status=status, retry_after=retry_after)


def model_unavailable(error: ProviderError) -> bool:
    """True when a BAD_REQUEST is about the model (unknown or retired), not the request.

    The router skips such a model and goes on down the chain: a retired Groq model in a
    waterfall must not stop every request that reaches it.
    """
    return error.kind is ErrorKind.BAD_REQUEST and (error.status == 404 or bool(_MODEL_GONE.search(str(error))))


def _transport(exc: BaseException, provider: str) -> ProviderError | None:
    """Timeouts and connection failures outside any SDK (asyncio, aiohttp, httpx)."""
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return ProviderError(provider, ErrorKind.TIMEOUT, "timed out")
    for module_name, timeout_names, connection_names in (
        ("aiohttp", ("ServerTimeoutError", "ConnectionTimeoutError", "SocketTimeoutError"), ("ClientError",)),
        ("httpx", ("TimeoutException",), ("TransportError",)),
    ):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        if any(isinstance(exc, getattr(module, n)) for n in timeout_names if hasattr(module, n)):
            return ProviderError(provider, ErrorKind.TIMEOUT, f"timed out ({type(exc).__name__})")
        if any(isinstance(exc, getattr(module, n)) for n in connection_names if hasattr(module, n)):
            return ProviderError(provider, ErrorKind.SERVER, f"connection failed: {type(exc).__name__}: {exc}"[:_MAX_MESSAGE])
    if isinstance(exc, OSError):  # refused, reset, DNS
        return ProviderError(provider, ErrorKind.SERVER, f"connection failed: {exc}"[:_MAX_MESSAGE])
    return None


def _stainless(exc: BaseException, provider: str, sdk: Any) -> ProviderError | None:
    """The error tree shared by the SDKs Stainless generates (anthropic, groq, openai)."""
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError(provider, ErrorKind.TIMEOUT, "request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderError(provider, ErrorKind.SERVER, f"connection failed: {exc.message}"[:_MAX_MESSAGE])
    if isinstance(exc, sdk.APIStatusError):
        message = getattr(exc, "api_message", None) or message_from_body(exc.body) or exc.message
        error_type = getattr(exc, "type", None)
        if isinstance(error_type, str) and error_type not in message:
            message = f"{error_type}: {message}"
        return classify_status(provider, exc.status_code, message, exc.response.headers)
    if isinstance(exc, sdk.APIResponseValidationError):
        return ProviderError(provider, ErrorKind.SERVER, "the response did not match the API schema")
    return None


def classify_anthropic(exc: BaseException, provider: str = "anthropic") -> ProviderError:
    """Classify an exception raised while calling Claude through the anthropic SDK.

    Unknown exceptions become SERVER (retryable): a bug in one provider's path should not
    stop a reply that another provider could still give; the router logs them.
    """
    if isinstance(exc, ProviderError):
        return exc
    sdk = sys.modules.get("anthropic")
    if sdk is not None:
        found = _stainless(exc, provider, sdk)
        if found is not None:
            return found
        if isinstance(exc, sdk.CredentialsError):
            return ProviderError(provider, ErrorKind.AUTH, f"credentials: {exc}"[:_MAX_MESSAGE])
    found = _transport(exc, provider)
    if found is not None:
        return found
    return ProviderError(provider, ErrorKind.SERVER, f"unexpected {type(exc).__name__}: {exc}"[:_MAX_MESSAGE])


def classify_openai_like(exc: BaseException, provider: str) -> ProviderError:
    """Classify an exception from the groq SDK, an OpenAI-style SDK or a plain HTTP client.

    Groq has no 529 class: status 503/529 becomes OVERLOADED through the status table.
    """
    if isinstance(exc, ProviderError):
        return exc
    for name in ("groq", "openai"):
        sdk = sys.modules.get(name)
        if sdk is not None and hasattr(sdk, "APIError") and isinstance(exc, sdk.APIError):
            found = _stainless(exc, provider, sdk)
            if found is not None:
                return found
    found = _transport(exc, provider)
    if found is not None:
        return found
    return ProviderError(provider, ErrorKind.SERVER, f"unexpected {type(exc).__name__}: {exc}"[:_MAX_MESSAGE])


def redact_key(text: str, value: str, alias: str) -> str:
    """``text`` with the key's value (and anything key-shaped) replaced by its alias."""
    return Redactor({value: alias} if value else {})(text)


def scrub_error(error: ProviderError, value: str, alias: str) -> ProviderError:
    """The error itself, or a copy whose message no longer holds the key (some APIs quote it)."""
    text = str(error)
    clean = redact_key(text, value, alias)
    if clean == text:
        return error
    prefix = f"{error.provider}: {error.kind.value}: "
    return ProviderError(
        error.provider, error.kind, clean.removeprefix(prefix), status=error.status, retry_after=error.retry_after
    )
