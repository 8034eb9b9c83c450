"""Request pacing and retry policy, as plain values with injected clocks.

Some APIs punish a request made during a rate-limit penalty by restarting the penalty, so the pacer's
job is to never send that request: it spaces requests by the rate-limit headers the API reports and,
after a 429, stays silent for the whole Retry-After. Every wait is capped (a header can say anything).
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Deque, Optional

from .errors import RateLimited, RetriableSourceError, RetriesExhausted
from .source import RateInfo

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient failures (5xx, timeouts, resets).

    ``max_attempts`` counts every try of one request (1 = never retry). The first retry waits
    ``backoff_factor`` seconds, each later one twice the previous, capped at ``backoff_max``;
    ``jitter`` adds up to that fraction at random so many inputs do not retry in step.
    ``max_rate_limited`` bounds the 429s accepted in one run before the run ends and the next
    interval resumes from the checkpoint; ``default_retry_after`` is used when a 429 has no
    Retry-After header; ``retry_after_max`` caps any wait an API asks for (Retry-After, a rate-limit window).
    """

    max_attempts: int = 5
    backoff_factor: float = 2.0
    backoff_max: float = 60.0
    jitter: float = 0.25
    max_rate_limited: int = 5
    default_retry_after: float = 30.0
    retry_after_max: float = 600.0
    attempts: int = 0

    def increment(self, error: BaseException) -> RetryPolicy:
        """Returns the policy after one more failed attempt, or raises RetriesExhausted."""
        following = replace(self, attempts=self.attempts + 1)
        if following.attempts >= self.max_attempts:
            raise RetriesExhausted(error, following.attempts) from error
        return following

    def backoff_seconds(self, rand: Callable[[], float] = random.random) -> float:
        if self.attempts <= 0:
            return 0.0
        base = min(self.backoff_max, self.backoff_factor * (2 ** (self.attempts - 1)))
        return base * (1.0 + self.jitter * rand())

    def clamp_retry_after(self, seconds: Optional[float]) -> float:
        if seconds is None:
            return self.default_retry_after
        return max(0.0, min(float(seconds), self.retry_after_max))


class Pacer:
    """Spaces requests to one rate-limited API group and enforces quiet periods after a 429.

    The server's own count is authoritative (``X-Rate-Limit-Remaining``), but it only arrives with a
    response; our own send times fill the gap. When the budget is spent, the next request waits for
    the oldest of our requests to leave the window, or a whole window if our requests alone do not
    explain the exhaustion (another integration shares the user's budget).
    """

    def __init__(self, clock: Clock = time.monotonic, sleep: Sleep = time.sleep, margin: float = 0.25,
                 max_window: float = 600.0) -> None:
        self._clock = clock
        self._sleep = sleep
        self._margin = margin
        self._max_window = max_window
        self._sent: Deque[float] = deque()
        self._limit: Optional[int] = None
        self._window: Optional[float] = None
        self._remaining: Optional[int] = None
        self._exhausted_at: Optional[float] = None
        self._quiet_until = 0.0

    def wait_needed(self) -> float:
        """Seconds to wait before the next request may be sent (0 when it may go now)."""
        now = self._clock()
        return max(0.0, self._quiet_until - now, self._budget_wait(now))

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    def sent(self) -> None:
        """Records that a request is going out now."""
        self._sent.append(self._clock())

    def _budget_wait(self, now: float) -> float:
        if not self._limit or not self._window:
            return 0.0
        while self._sent and self._sent[0] <= now - self._window:
            self._sent.popleft()
        ours_exhaust = len(self._sent) >= self._limit
        if ours_exhaust:
            return self._sent[0] + self._window + self._margin - now
        if self._remaining == 0 and self._exhausted_at is not None:
            return self._exhausted_at + self._window + self._margin - now
        return 0.0

    def after_response(self, rate: RateInfo) -> None:
        if rate.limit:
            self._limit = rate.limit
        if rate.window_seconds:
            self._window = min(rate.window_seconds, self._max_window)
        self._remaining = rate.remaining
        self._exhausted_at = self._clock() if rate.remaining == 0 else None

    def on_rate_limited(self, error: RateLimited, policy: RetryPolicy) -> float:
        """Records a 429 and returns the silence it imposes; the next request waits it out.

        Without Retry-After, the documented 30 s is not enough on its own: the penalty lasts a whole
        rate-limit window and a request inside it restarts it, so the wait is at least the window the API
        reported.
        """
        if error.window_seconds:
            self._window = min(error.window_seconds, self._max_window)
        if error.retry_after is not None:
            quiet = policy.clamp_retry_after(error.retry_after)
        else:
            window = error.window_seconds or self._window or 0.0
            quiet = policy.clamp_retry_after(max(policy.default_retry_after, window))
        self._quiet_until = self._clock() + quiet + self._margin
        return quiet

    def on_transient(self, error: RetriableSourceError, policy: RetryPolicy) -> float:
        wait = 0.0 if error.immediate else policy.backoff_seconds()
        self._quiet_until = max(self._quiet_until, self._clock() + wait)
        return wait
