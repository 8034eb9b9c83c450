"""Exceptions, grouped by what the caller should do about them.

Messages never carry secrets: sources build them from status codes and error codes only.
"""

from __future__ import annotations

from typing import Optional


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
    """The API answered 429; nothing may be sent to it for ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float, group: str = "", code: Optional[str] = None,
                 window_seconds: Optional[float] = None) -> None:
        super().__init__(message, status=429, code=code)
        self.retry_after = retry_after
        self.group = group
        self.window_seconds = window_seconds


class RetriesExhausted(AuditTrailError):
    """Backoff gave up; the run ends and the next interval resumes from the checkpoint."""

    def __init__(self, cause: BaseException, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts: {cause}")
        self.cause = cause
        self.attempts = attempts


class CheckpointError(AuditTrailError):
    """The checkpoint could not be read or written."""
