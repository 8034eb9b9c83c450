"""ISO 8601 <-> epoch milliseconds. Audit APIs speak UTC ISO strings; the engine computes in integer ms."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Dict

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


_EPOCH_DAY = datetime(1970, 1, 1, tzinfo=timezone.utc).toordinal()
_DAY_MS: Dict[str, int] = {}


def parse_iso_ms(text: str) -> int:
    """Parses an ISO 8601 date or date-time into epoch milliseconds (UTC when no offset is given).

    Raises ValueError on anything else, so callers can say which field was wrong.
    """
    # The form every audit record's eventTime takes, parsed by position: it is on the per-record path.
    if isinstance(text, str) and len(text) == 24 and text[23] == "Z" and text[10] == "T" and text[19] == ".":
        digits = text[11:13] + text[14:16] + text[17:19] + text[20:23]
        if digits.isdigit() and text[13] == text[16] == ":" and text[:4].isdigit():
            day_ms = _DAY_MS.get(text[:10])
            if day_ms is None:
                day_ms = (datetime.strptime(text[:10], "%Y-%m-%d").toordinal() - _EPOCH_DAY) * 86_400_000
                if len(_DAY_MS) < 4096:
                    _DAY_MS[text[:10]] = day_ms
            hours, minutes, seconds = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
            if hours < 24 and minutes < 60 and seconds < 60:
                return day_ms + ((hours * 60 + minutes) * 60 + seconds) * 1000 + int(digits[6:9])
    match = _ISO.match(text.strip()) if isinstance(text, str) else None
    if not match:
        msg = f"not an ISO 8601 date-time: {text!r}"
        raise ValueError(msg)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    moment = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=timezone.utc
    )
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    epoch_ms = _epoch_ms(moment) + millis
    if offset and offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        epoch_ms -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * 1000
    return epoch_ms


def _epoch_ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_iso_ms(epoch_ms: int) -> str:
    """Formats epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (the form the audit APIs return).

    Times before 1970 count back from the epoch (-1 is 1969-12-31T23:59:59.999Z). Computed without
    ``fromtimestamp``, which refuses negative times on Windows, and without ``strftime``, which does not
    pad years before 1000 to four digits on every platform.
    """
    days, millis = divmod(int(epoch_ms), 86_400_000)
    day = date.fromordinal(_EPOCH_DAY + days)
    seconds, millis = divmod(millis, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"
