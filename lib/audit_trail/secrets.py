"""Secrets in splunkd's storage/passwords, and the stanza masking Splunk documents for modular inputs.

An admin types a client secret or JWT into the input once; the first run moves it into
storage/passwords and rewrites the stanza with a mask, so no secret stays in ``local/inputs.conf``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional, Tuple

from .errors import ConfigError

MASK = "********"


class SecretStore:
    """Secrets of one input kind in storage/passwords (realm ``<app>#<scheme>``, user ``<input>#<field>``).

    The realm is read once per run (one REST call, long values reassembled by solnlib) and kept in
    memory: a run reads several secrets, and a missing one is normal (no token cached yet).
    """

    def __init__(self, session_key: str, app: str, scheme: str, splunkd_scheme: str, host: str, port: int) -> None:
        from solnlib.credentials import CredentialManager, CredentialNotExistException
        from splunklib import client

        self._missing = CredentialNotExistException
        self._manager = CredentialManager(
            session_key, app, owner="nobody", realm=f"{app}#{scheme}", scheme=splunkd_scheme, host=host, port=port
        )
        # solnlib keeps its chunking and reassembly of long secrets, but talks to splunkd through splunklib's
        # own transport: solnlib's requests session loads the system CA store for a splunkd connection it
        # does not verify, which was a tenth of an idle poll. Same collection class, same namespace.
        self._manager._storage_passwords = client.Service(
            scheme=splunkd_scheme, host=host, port=port, token=session_key, owner="nobody", app=app
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


def resolve_secrets(
    params: Dict[str, str],
    fields: Iterable[str],
    store: SecretStore,
    input_name: str,
    mask_stanza: Callable[[Dict[str, str]], None],
    partial: Optional[Dict[str, PartialSecret]] = None,
    store_new: bool = True,
) -> Dict[str, str]:
    """Returns ``params`` with every secret field holding its real value.

    Plain values are stored and masked in the stanza (one update for all fields); masked values are
    read back from storage/passwords. With ``store_new`` False (checking an edit before it is saved)
    plain values are used as they are and nothing is written.
    """
    resolved = dict(params)
    to_mask: Dict[str, str] = {}
    for field in fields:
        value = params.get(field) or ""
        if not value:
            continue
        if partial and field in partial:
            masked, secret = partial[field].split(value)
            if secret is not None:
                if not store_new:
                    continue
                store.set(input_name, field, secret)
                to_mask[field] = masked
            elif MASK in value:
                resolved[field] = partial[field].join(value, _stored(store, input_name, field))
            continue
        if value == MASK:
            resolved[field] = _stored(store, input_name, field)
        elif store_new:
            store.set(input_name, field, value)
            to_mask[field] = MASK
    if to_mask:
        mask_stanza(to_mask)
    return resolved


def _stored(store: SecretStore, input_name: str, field: str) -> str:
    stored = store.get(input_name, field)
    if stored is None:
        raise ConfigError(field, "is masked but no stored value was found in storage/passwords; "
                                 "enter the value again in the input's settings")
    return stored
