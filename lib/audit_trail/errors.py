"""Exceptions, grouped by what the caller should do about them.

Messages never carry secrets: sources build them from status codes and error codes only.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

# What a real error code looks like (CMN-102, OAU-251, invalid_grant; HTTP-ish 4xx.1). Anything
# else a server sends in an error field may be an echo of what it was sent: a JWT, a Basic header.
_SAFE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
UNRECOGNISED_CODE = "unrecognised"
# A code this long that is part of a secret is taken for an echo of the secret.
_ECHO_MIN = 8


def safe_code(value: object, secrets: Iterable[str] = ()) -> str:
    """A server's error code fit to appear in a message, a log line or an event.

    Returns ``value`` when it is a short code of letters, digits and ``_ . : -`` (at most 64 characters)
    that is not an echo of one of ``secrets``; ``"-"`` when there is no code; otherwise the fixed
    placeholder :data:`UNRECOGNISED_CODE`. The value is never quoted back, whatever it held.
    """
    if value is None or value == "":
        return "-"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return UNRECOGNISED_CODE
    code = str(value)
    if not _SAFE_CODE.fullmatch(code):
        return UNRECOGNISED_CODE
    for secret in secrets:
        if secret and (secret in code or (len(code) >= _ECHO_MIN and code in secret)):
            return UNRECOGNISED_CODE
    return code


class AuditTrailError(Exception):
    """Base of every error this add-on raises on purpose."""


class ConfigError(AuditTrailError):
    """An input setting is wrong; the message names the field and the fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class SourceError(AuditTrailError):
    """The audit API refused or failed a request."""

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class AuthenticationError(SourceError):
    """Credentials or permissions are wrong; retrying will not help until an admin fixes them."""


class FatalSourceError(SourceError):
    """A request the API will never accept as sent (4xx other than auth and rate limits)."""


class RetriableSourceError(SourceError):
    """A transient failure (5xx, timeout, connection reset): back off and try again.

    ``immediate`` marks a failure the source has already remedied (a rejected token it dropped), so the
    retry needs no backoff; it still goes through the pacer like any request.
    """

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[str] = None,
                 immediate: bool = False) -> None:
        super().__init__(message, status, code)
        self.immediate = immediate


class RateLimited(SourceError):
    """The API answered 429; nothing may be sent to it for ``retry_after`` seconds (None: it did not say)."""

    def __init__(self, message: str, retry_after: Optional[float], group: str = "", code: Optional[str] = None,
                 window_seconds: Optional[float] = None) -> None:
        super().__init__(message, status=429, code=code)
        self.retry_after = retry_after
        self.group = group
        self.window_seconds = window_seconds


class WorkPending(SourceError):
    """The source's work outlasts this run (an export still being prepared); the next run resumes it. Not a
    failure: the window's summary says "stopped"."""


class RetriesExhausted(AuditTrailError):
    """Backoff gave up; the run ends and the next interval resumes from the checkpoint."""

    def __init__(self, cause: BaseException, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts: {cause}")
        self.cause = cause
        self.attempts = attempts


class CheckpointError(AuditTrailError):
    """The checkpoint could not be read or written."""


class DeadlineExceeded(AuditTrailError):
    """A call had no complete answer within its total deadline, however slowly the peer kept it alive."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what}: no complete answer within {seconds:g} s")
        self.what = what
        self.seconds = seconds
