"""Secrets in splunkd's storage/passwords, and the stanza masking Splunk documents for modular inputs.

An admin types a client secret or JWT into the input once; the first run moves it into
storage/passwords and rewrites the stanza with a mask, so no secret stays in ``local/inputs.conf``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional, Tuple

from .errors import ConfigError
from .http import SPLUNKD_TOTAL_SECONDS, splunkd_handler

MASK = "********"


class SecretStore:
    """Secrets of one input kind in storage/passwords (realm ``<app>#<scheme>``, user ``<input>#<field>``).

    The realm is read once per run (one REST call, long values reassembled by solnlib) and kept in
    memory: a run reads several secrets, and a missing one is normal (no token cached yet).
    """

    def __init__(self, session_key: str, app: str, scheme: str, splunkd_scheme: str, host: str, port: int,
                 total_seconds: float = SPLUNKD_TOTAL_SECONDS) -> None:
        from solnlib.credentials import CredentialManager, CredentialNotExistException
        from splunklib import client

        self._missing = CredentialNotExistException
        self._manager = CredentialManager(
            session_key, app, owner="nobody", realm=f"{app}#{scheme}", scheme=splunkd_scheme, host=host, port=port
        )
        # solnlib keeps its chunking and reassembly of long secrets, but talks to splunkd through splunklib's
        # own transport: solnlib's requests session loads the system CA store for a splunkd connection it
        # does not verify, which was a tenth of an idle poll. Same collection class, same namespace.
        # Every call has a total deadline (splunklib's own handler has none): a splunkd that accepts and never
        # answers, or answers a byte at a time, fails the run instead of holding it.
        self._manager._storage_passwords = client.Service(
            handler=splunkd_handler(total_seconds), scheme=splunkd_scheme, host=host, port=port, token=session_key,
            owner="nobody", app=app,
        ).storage_passwords
        self._realm = f"{app}#{scheme}"
        self._cache: Optional[Dict[str, str]] = None

    def _all(self) -> Dict[str, str]:
        if self._cache is None:
            self._cache = {
                entry["username"]: entry["clear_password"]
                for entry in self._manager.get_clear_passwords_in_realm()
                if entry.get("realm") == self._realm
            }
        return self._cache

    def get(self, input_name: str, field: str) -> Optional[str]:
        return self._all().get(f"{input_name}#{field}")

    def set(self, input_name: str, field: str, value: str) -> None:
        if self.get(input_name, field) == value:
            return
        self._manager.set_password(f"{input_name}#{field}", value)
        self._all()[f"{input_name}#{field}"] = value

    def delete(self, input_name: str, field: str) -> None:
        with contextlib.suppress(self._missing):
            self._manager.delete_password(f"{input_name}#{field}")
        self._all().pop(f"{input_name}#{field}", None)


@dataclass(frozen=True)
class PartialSecret:
    """A field whose secret is only part of its value, such as a proxy URL's password.

    ``split(value)`` returns ``(value with the secret masked, secret or None)``; ``join(masked, secret)``
    puts the secret back.
    """

    split: Callable[[str], Tuple[str, Optional[str]]]
    join: Callable[[str, str], str]


def binding_of(*parts: str) -> str:
    """A fingerprint of where a secret may be sent, from the values that decide it.

    Callers pass what names the destination, normalised so that cosmetic edits do not change it: e.g. the
    API server's ``host[:port]`` (``http.url_host``), the client id and the proxy's ``host:port`` (empty
    without a proxy). Only the digest is stored; none of the parts is.
    """
    canonical = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


# A stored secret is this JSON envelope: the secret and the binding it was entered for. The leading key
# cannot begin a secret 1.0.0 stored (client secrets, JWTs and proxy passwords are not JSON objects).
_ENVELOPE_KEY = "ta_audit_trail_secret"


def _envelope(secret: str, binding: str) -> str:
    return json.dumps({_ENVELOPE_KEY: 1, "binding": binding, "secret": secret}, separators=(",", ":"))


def _open_envelope(stored: str) -> Tuple[str, Optional[str]]:
    """``(secret, binding)``; binding None for a plain value stored by 1.0.0."""
    if stored.startswith('{"' + _ENVELOPE_KEY + '":'):
        try:
            data = json.loads(stored)
            return str(data["secret"]), str(data["binding"])
        except (ValueError, KeyError, TypeError):
            pass
    return stored, None


def resolve_secrets(
    params: Dict[str, str],
    fields: Iterable[str],
    store: SecretStore,
    input_name: str,
    mask_stanza: Callable[[Dict[str, str]], None],
    partial: Optional[Dict[str, PartialSecret]] = None,
    store_new: bool = True,
    *,
    binding: str,
) -> Dict[str, str]:
    """Returns ``params`` with every secret field holding its real value.

    Plain values are stored with ``binding`` (see :func:`binding_of`) and masked in the stanza (one update
    for all fields); masked values are read back from storage/passwords, and only when they were stored for
    this same ``binding``: a secret entered for another server, client or proxy raises :class:`ConfigError`
    and is never sent. With ``store_new`` False (checking an edit before it is saved) plain values are used
    as they are and nothing is written.

    Upgrade from 1.0.0: its stored secrets carry no binding. Such a value is accepted once, and (when
    ``store_new``) stored again at once with the current binding, so every later edit is checked.

    Whatever field fails, the secrets already taken from the stanza are masked before the error is raised:
    none stays in ``inputs.conf`` because another field was wrong.
    """
    resolved = dict(params)
    to_mask: Dict[str, str] = {}
    try:
        for field in fields:
            value = params.get(field) or ""
            if not value:
                continue
            if partial and field in partial:
                try:
                    masked, secret = partial[field].split(value)
                except ValueError:
                    # The value is not repeated: it holds a secret that failed to parse.
                    raise ConfigError(field, "could not be parsed to store its password; check its form "
                                             "(a password with : / ? # @ must be percent-encoded)") from None
                if secret is not None:
                    if not store_new:
                        continue
                    store.set(input_name, field, _envelope(secret, binding))
                    to_mask[field] = masked
                elif MASK in value:
                    stored = _stored(store, input_name, field, binding, store_new)
                    resolved[field] = partial[field].join(value, stored)
                continue
            if value == MASK:
                resolved[field] = _stored(store, input_name, field, binding, store_new)
            elif store_new:
                store.set(input_name, field, _envelope(value, binding))
                to_mask[field] = MASK
    except BaseException:
        if to_mask:
            # The error at hand is the one to report; mask_stanza reports its own failures.
            with contextlib.suppress(Exception):
                mask_stanza(to_mask)
        raise
    if to_mask:
        mask_stanza(to_mask)
    return resolved


def _stored(store: SecretStore, input_name: str, field: str, binding: str, store_new: bool) -> str:
    stored = store.get(input_name, field)
    if stored is None:
        raise ConfigError(field, "is masked but no stored value was found in storage/passwords; "
                                 "enter the value again in the input's settings")
    secret, bound_to = _open_envelope(stored)
    if bound_to is None:
        if store_new:
            store.set(input_name, field, _envelope(secret, binding))
    elif not hmac.compare_digest(bound_to, binding):
        raise ConfigError(field, "was entered for another server, client ID or proxy; enter it again in the "
                                 "input's settings (a stored secret is only ever sent where it was entered for)")
    return secret
