"""RingCentral Audit Trail API: ``POST /restapi/v1.0/account/{accountId}/audit-trail/search``.

Facts this module relies on (RingCentral's public API spec and developer guide):
- JWT bearer grant at /restapi/oauth/token with HTTP Basic client auth; access tokens live about an
  hour and refresh tokens are not issued by default, so an expiring token is replaced by a new JWT
  grant. The token endpoint is in the Auth group (5 a minute), hence the token cache.
- The search is in the Heavy group (10 requests a minute, 60 s penalty restarted by every request
  during it); it returns ``records`` and ``paging`` {page, perPage, total (pages), totalFound}.
- At most 180 days and 10,000 records are searchable; a page holds at most 1,000 records.
- Sort order and bound inclusivity are not documented: the engine does not rely on either.
- Pacing: a 429 without Retry-After is documented as "retry after 30 s", but a request made during the
  Heavy group's 60 s penalty restarts it, so the wait is at least that window.
- Whatever the server sends is checked before it is used: a token reply that is not JSON or lacks a usable
  access token is an error with a summary; an unreadable ``expires_in`` is taken for the documented hour (a
  token that dies sooner is refused with 401 and replaced); paging numbers must be whole numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple

from .. import __version__
from ..config import https_url, required, text
from ..errors import (
    AuthenticationError,
    ConfigError,
    FatalSourceError,
    RateLimited,
    RetriableSourceError,
    safe_code,
)
from ..http import retry_after
from ..pacing import RetryPolicy
from ..source import AT_CAP_SPLIT, TOTALS_EXACT, UNORDERED, Capabilities, Page, RateInfo, Window
from ..timefmt import format_iso_ms, parse_iso_ms

SCHEME = "ringcentral_audit"
SOURCETYPE = "ringcentral:audit"
DEFAULT_SERVER = "https://platform.ringcentral.com"
SEARCH_PATH = "/restapi/v1.0/account/{account}/audit-trail/search"
HEAVY_WINDOW_SECONDS = 60.0
MAX_PAGE_SIZE = 1000
# "Searching is limited to the last 10,000 records or last 180 days": one search reaches all the API keeps.
# Times and bounds are ISO strings to the millisecond; the order is not documented.
CAPABILITIES = Capabilities(bound_resolution_ms=1, time_resolution_ms=1, order=UNORDERED, totals=TOTALS_EXACT,
                            max_results=10000, at_cap=AT_CAP_SPLIT, max_page_size=MAX_PAGE_SIZE,
                            max_records_kept=10000, retention_seconds=180 * 86400.0, processing_delay_seconds=300.0)
RETRY = RetryPolicy(default_retry_after=30.0)
SECRET_FIELDS = ("client_secret", "jwt")
# "Access tokens live about an hour": the lifetime assumed when the token reply's expires_in is unreadable.
DEFAULT_TOKEN_SECONDS = 3600.0


@dataclass(frozen=True)
class RingCentralSettings:
    server_url: str
    client_id: str
    client_secret: str
    jwt: str
    account_id: str

    @classmethod
    def parse(cls, params: Dict[str, str]) -> RingCentralSettings:
        account = text(params, "account_id", "~") or "~"
        if account != "~" and not account.isdigit():
            msg = f"must be ~ (the JWT user's account) or a numeric account ID, got {account!r}"
            raise ConfigError("account_id", msg)  # noqa: EM101 - the field name, not the message
        jwt = required(params, "jwt", "paste the JWT credential created in the RingCentral Developer Console")
        if jwt.count(".") != 2 and jwt != "********":
            msg = "does not look like a JWT (three dot-separated parts); paste the whole JWT credential"
            raise ConfigError("jwt", msg)  # noqa: EM101 - the field name, not the message
        return cls(
            server_url=https_url(params, "server_url", DEFAULT_SERVER),
            client_id=required(params, "client_id", "copy the Client ID of your RingCentral REST API app"),
            client_secret=required(params, "client_secret", "copy the Client secret of your RingCentral REST API app"),
            jwt=jwt,
            account_id=account,
        )


class TokenCache(Protocol):
    def load(self) -> Optional[Dict[str, Any]]: ...

    def save(self, token: Dict[str, Any]) -> None: ...


def _error_code(response: Any, secrets: Sequence[str] = ()) -> str:
    """The first RingCentral error code of a response body (errors[0].errorCode, else errorCode/error), reduced
    to a short, safe token: a server that echoes the assertion or the Basic header in it must not put a secret
    (or a forged log line) into a message."""
    try:
        body = response.json()
    except ValueError:
        return "-"
    if not isinstance(body, dict):
        return "-"
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("errorCode"):
        code = safe_code(errors[0]["errorCode"], secrets)
        param = errors[0].get("parameterName")
        return f"{code} parameter={safe_code(param, secrets)}" if param else code
    return safe_code(body.get("errorCode") or body.get("error"), secrets)


def _rate_info(response: Any) -> RateInfo:
    headers = response.headers

    def number(name: str) -> Optional[int]:
        try:
            return int(headers[name])
        except (KeyError, ValueError):
            return None

    window = number("X-Rate-Limit-Window")
    return RateInfo(limit=number("X-Rate-Limit-Limit"), remaining=number("X-Rate-Limit-Remaining"),
                    window_seconds=float(window) if window else None,
                    group=headers.get("X-Rate-Limit-Group", ""))


class RingCentralAuth:
    """Access tokens from the JWT grant, via the official SDK, cached until shortly before they expire.

    The SDK is wrapped because it has no timeouts, opens a session per request, and puts the
    Authorization header into its exception text: here every call goes through the run's pooled
    session (timeout, proxy, CA bundle) and errors are rebuilt from status and error code only.
    """

    def __init__(
        self,
        settings: RingCentralSettings,
        session: Any,
        cache: TokenCache,
        timeout: Any,
        clock: Callable[[], float] = time.time,
        renew_margin: float = 300.0,
    ) -> None:
        self.settings = settings
        self.session = session
        self.cache = cache
        self.timeout = timeout
        self.clock = clock
        self.renew_margin = renew_margin
        self.logins = 0
        self._token: Optional[Dict[str, Any]] = None

    def authorization(self) -> str:
        token = self._token or self._cached()
        if token is None or token["expires_at"] - self.renew_margin <= self.clock():
            token = self.login()
        self._token = token
        return f"{token.get('token_type') or 'bearer'} {token['access_token']}"

    def _cached(self) -> Optional[Dict[str, Any]]:
        token = self.cache.load()
        fingerprint = self._fingerprint()
        if isinstance(token, dict) and token.get("access_token") and token.get("for") == fingerprint:
            return token
        return None

    def _fingerprint(self) -> str:
        # A token is reused only with the server, app and JWT it was issued for; a hash stands for
        # the secrets, since the fingerprint is stored beside the token.
        secrets = hashlib.sha256(f"{self.settings.client_secret}|{self.settings.jwt}".encode()).hexdigest()[:16]
        return f"{self.settings.server_url}|{self.settings.client_id}|{secrets}"

    def _secrets(self) -> Sequence[str]:
        # The Basic header's credentials too: a server may echo that header, which holds the client secret encoded.
        basic = f"{self.settings.client_id}:{self.settings.client_secret}".encode()
        return (self.settings.client_secret, self.settings.jwt, base64.b64encode(basic).decode("ascii"))

    def invalidate(self) -> None:
        self._token = None
        self.cache.save({})

    def login(self) -> Dict[str, Any]:
        """Runs the JWT grant and caches the token; raises the add-on's own errors, never the SDK's."""
        from ringcentral.http.api_exception import ApiException

        replies: List[Any] = []
        platform = self._platform(replies)
        self.logins += 1
        try:
            platform.login(jwt=self.settings.jwt)
        except ApiException as exc:
            raise self._login_error(exc) from None
        except Exception:  # the SDK choked on a successful reply's body (not JSON, a field of the wrong type)
            if not replies:
                raise
        # The token is read from the reply here rather than from the SDK, which takes any field as it comes
        # (a non-JSON body, or an expires_in of "abc", fails inside it with an unhelpful exception).
        token = self._token_from(replies[-1])
        self.cache.save(token)
        return token

    def _token_from(self, response: Any) -> Dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            msg = (f"the token endpoint answered HTTP {response.status_code} with a body that is not JSON; check "
                   "server_url, and proxy_url if a proxy answers in the server's place")
            raise RetriableSourceError(msg, response.status_code) from None
        access_token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(access_token, str) or not access_token:
            msg = "the token endpoint answered without an access_token"
            raise AuthenticationError(msg, response.status_code)
        token_type = data.get("token_type")
        lifetime = _seconds(data.get("expires_in"))
        return {
            "access_token": access_token,
            # Only a plain scheme name goes into the Authorization header.
            "token_type": token_type if isinstance(token_type, str) and token_type.isalpha() else "bearer",
            "expires_at": self.clock() + (DEFAULT_TOKEN_SECONDS if lifetime is None else lifetime),
            "owner_id": data.get("owner_id") if isinstance(data.get("owner_id"), (str, int)) else None,
            "for": self._fingerprint(),
        }

    def _platform(self, replies: List[Any]) -> Any:
        from ringcentral.http.api_response import ApiResponse
        from ringcentral.http.client import Client
        from ringcentral.platform.platform import Platform

        session, timeout = self.session, self.timeout

        class PooledClient(Client):
            def load_response(self, request: Any) -> Any:
                response = session.send(request, timeout=timeout)
                replies.append(response)
                return ApiResponse(request, response)

        return Platform(PooledClient(), self.settings.client_id, self.settings.client_secret,
                        self.settings.server_url, name="TA-audit-trail", version=__version__)

    def _login_error(self, exc: Any) -> Exception:
        response = exc.api_response().response()
        if response is None:
            cause = type(exc.__context__).__name__ if exc.__context__ is not None else "unknown"
            return RetriableSourceError(f"token request to {self.settings.server_url} failed: {cause}")
        status, code = response.status_code, _error_code(response, self._secrets())
        if status == 429:
            return RateLimited(f"token request rate limited ({code})", retry_after(response), "auth", code,
                               _rate_info(response).window_seconds)
        if status >= 500:
            return RetriableSourceError(f"token endpoint HTTP {status} ({code})", status, code)
        return AuthenticationError(
            f"RingCentral rejected the JWT login (HTTP {status} {code}): check client_id, client_secret and jwt, "
            "that the app uses the JWT auth flow, and that the JWT belongs to this server_url",
            status, code,
        )


class RingCentralSource:
    """The RingCentral audit search; the cursor is the page number."""

    name = "ringcentral"
    sourcetype = SOURCETYPE
    capabilities = CAPABILITIES
    # The API sends details (every changed parameter) before actionId, initiator and target.
    bulky_fields: Tuple[str, ...] = ("details",)

    def __init__(self, settings: RingCentralSettings, session: Any, auth: RingCentralAuth, timeout: Any,
                 page_size: int = MAX_PAGE_SIZE) -> None:
        self.settings = settings
        self.session = session
        self.auth = auth
        self.timeout = timeout
        self.page_size = page_size
        self.memory: Dict[str, Any] = {}
        self.url = settings.server_url + SEARCH_PATH.format(account=settings.account_id)

    def fetch(self, window: Window, cursor: Any, page_size: int) -> Page:
        page_no = int(cursor or 1)
        body = {
            "eventTimeFrom": format_iso_ms(window.start_ms),
            "eventTimeTo": format_iso_ms(window.end_ms),
            "page": page_no,
            "perPage": page_size,
        }
        logins = self.auth.logins
        response = self._post(body)
        if response.status_code == 401 and self.auth.logins == logins:
            # A cached token died early (revoked, or evicted by the 5-session cap): drop it and let the
            # engine retry through its pacer, which logs in again. A token fresh from the JWT grant that
            # is refused falls through to an authentication error.
            self.auth.invalidate()
            code = _error_code(response, self.auth._secrets())
            msg = f"access token rejected (HTTP 401 {code}); logging in again"
            raise RetriableSourceError(msg, 401, code, immediate=True)
        return self._page(response, page_no, page_size)

    def _post(self, body: Dict[str, Any]) -> Any:
        import requests

        headers = {"Authorization": self.auth.authorization(), "Accept": "application/json"}
        try:
            return self.session.post(self.url, json=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            msg = f"audit search request failed: {type(exc).__name__}"
            raise RetriableSourceError(msg) from None

    def _page(self, response: Any, page_no: int, page_size: int) -> Page:
        status = response.status_code
        if status == 200:
            try:
                # Parsed from the bytes: a 1,000-record page decoded to text first would be held twice.
                data = json.loads(response.content)
            except ValueError:
                msg = "audit search answered 200 with a body that is not JSON"
                raise RetriableSourceError(msg, 200) from None
            records = data.get("records") if isinstance(data, dict) else None
            if not isinstance(records, list):
                # A proxy's page or a changed API; taking it as "no records" would move the checkpoint
                # past records never read.
                msg = "audit search answered 200 without a records list"
                raise RetriableSourceError(msg, 200)
            paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
            raw_per_page = paging.get("perPage")
            per_page = _count(raw_per_page)
            if raw_per_page is not None and (per_page is None or not 1 <= per_page <= MAX_PAGE_SIZE
                                             or len(records) > per_page):
                msg = (f"audit search answered with inconsistent paging (perPage={_shown(raw_per_page)}, "
                       f"{len(records)} records)")
                raise FatalSourceError(msg, 200)
            total_pages = _count(paging.get("total"))
            return Page(records=records, next_cursor=self._next(records, page_no, per_page or page_size, total_pages),
                        total=_count(paging.get("totalFound")),
                        # Pages vanished under us: the listing shrank while it was read.
                        moved=not records and total_pages is not None and page_no < total_pages,
                        rate=_rate_info(response))
        raise self._error(response)

    @staticmethod
    def _next(records: List[Any], page_no: int, per_page: int, total_pages: Optional[int]) -> Optional[int]:
        if not records:
            return None
        # Results past the cap are unreachable whatever the paging says.
        if page_no * per_page >= CAPABILITIES.max_results:  # type: ignore[operator]
            return None
        # The API's page count is authoritative; a short page only ends paging when there is none, since an
        # API that caps the page size below the one asked for returns only "short" pages.
        if total_pages is not None:
            return page_no + 1 if page_no < total_pages else None
        return page_no + 1 if len(records) >= per_page else None

    def _error(self, response: Any) -> Exception:
        status = response.status_code
        code = _error_code(response, self.auth._secrets())
        if status == 429:
            msg = f"audit search rate limited ({code})"
            rate = _rate_info(response)
            # Without headers, assume the Heavy plan's documented 60 s window: a shorter wait would land
            # inside the penalty and restart it.
            return RateLimited(msg, retry_after(response), rate.group or "heavy", code,
                               rate.window_seconds or HEAVY_WINDOW_SECONDS)
        if status >= 500:
            return RetriableSourceError(f"audit search HTTP {status} ({code})", status, code)
        if status == 401:
            msg = f"audit search refused a fresh token (HTTP 401 {code}); check the app's credentials"
            return AuthenticationError(msg, status, code)
        if status == 403:
            msg = (f"audit search forbidden (HTTP 403 {code}): the app needs the 'Read Audit Trail' permission and "
                   "the JWT's user a role with Audit Trail access (e.g. Super Admin)")
            return AuthenticationError(msg, status, code)
        if status == 404:
            msg = f"audit search not found (HTTP 404 {code}): check account_id (~ or your numeric account ID)"
            return FatalSourceError(msg, status, code)
        return FatalSourceError(f"audit search rejected the request (HTTP {status} {code})", status, code)

    def record_id(self, record: Dict[str, Any]) -> Optional[str]:
        value = record.get("id")
        return str(value) if value not in (None, "") else None

    def record_time_ms(self, record: Dict[str, Any]) -> Optional[int]:
        value = record.get("eventTime")
        if not isinstance(value, str):
            return None
        try:
            return parse_iso_ms(value)
        except ValueError:
            return None

    def check_access(self) -> None:
        self.auth.login()

    def close(self) -> None:
        self.session.close()


def token_cache_json(load: Callable[[], Optional[str]], save: Callable[[str], None]) -> TokenCache:
    """A TokenCache over a string store (storage/passwords)."""

    class _Cache:
        def load(self) -> Optional[Dict[str, Any]]:
            raw = load()
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return None

        def save(self, token: Dict[str, Any]) -> None:
            save(json.dumps(token, separators=(",", ":")))

    return _Cache()


def _seconds(value: Any) -> Optional[float]:
    """A lifetime in seconds the server sent (a number, or a numeral string), or None where it is unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def _shown(value: Any) -> str:
    """A paging value the server sent, fit for a message: a number as it is, anything else as a safe code."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return safe_code(value)


def _count(value: Any) -> Optional[int]:
    """A paging number the API sent, or None where it is absent or not a whole non-negative number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _build(context: Any) -> RingCentralSource:
    from ..config import integer

    settings = RingCentralSettings.parse(context.params)
    page_size = integer(context.params, "page_size", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    cache = token_cache_json(context.tokens.load, context.tokens.save)
    policies = context.policies
    auth = RingCentralAuth(settings, context.session, cache, policies.timeout, renew_margin=policies.token_renew_margin)
    return RingCentralSource(settings, context.session, auth, policies.timeout, page_size)


def spec() -> Any:
    """The ``ringcentral_audit`` modular input (argument names are a contract with admins' configs)."""
    from ..config import Setting
    from ..http import proxy_with_password, split_proxy_password, url_host
    from ..modinput import InputSpec
    from ..secrets import PartialSecret

    return InputSpec(
        scheme=SCHEME,
        title="RingCentral Audit Trail",
        description="Collects the RingCentral Audit Trail (admin changes, logins, lockouts) as "
                    "ringcentral:audit events, each record exactly once.",
        arguments=(
            Setting("server_url", "Server URL", f"RingCentral platform URL, https only. Default {DEFAULT_SERVER}",
                    DEFAULT_SERVER),
            Setting("client_id", "Client ID", "Client ID of a RingCentral REST API app using the JWT auth flow "
                                              "with the Read Audit Trail permission", required=True),
            Setting("client_secret", "Client secret", "Client secret of that app; moved to storage/passwords "
                                                      "on the first run", required=True),
            Setting("jwt", "JWT credential", "JWT of a user with the Super Admin role or a role with the Audit "
                    "Trail permission; moved to storage/passwords on the first run", required=True),
            Setting("account_id", "Account ID", "~ for the JWT user's account, or a numeric account ID. Default ~",
                    "~"),
            Setting("page_size", "Page size", f"Records per request, 1-{MAX_PAGE_SIZE}. Default {MAX_PAGE_SIZE}",
                    str(MAX_PAGE_SIZE), "number"),
        ),
        secret_fields=(*SECRET_FIELDS, "proxy_url"),
        partial_secrets={"proxy_url": PartialSecret(split=split_proxy_password, join=proxy_with_password)},
        defaults={"settle_seconds": "300"},
        retry=RETRY,
        build=_build,
        destination=lambda params: (url_host(params.get("server_url") or DEFAULT_SERVER),
                                    (params.get("client_id") or "").strip()),
    )
