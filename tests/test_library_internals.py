"""The one private library attribute the add-on relies on, checked so an upgrade that changes it fails here.

``SecretStore`` gives solnlib 7.0.0's CredentialManager splunklib's transport (with a total deadline) by
replacing its ``_storage_passwords``. If solnlib renamed or stopped using that attribute, the replacement
would silently do nothing: secrets would still work, but without the deadline. (EventWriter's ``_out`` and
``header_written`` are checked in test_edge_hardening.py.)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))


def test_solnlib_credential_manager_reads_passwords_through_storage_passwords() -> None:
    import inspect

    from solnlib.credentials import CredentialManager
    from splunklib.client import StoragePasswords

    manager = CredentialManager("key", "TA-audit-trail", owner="nobody", realm="r", scheme="https",
                                host="127.0.0.1", port=1)
    assert isinstance(manager._storage_passwords, StoragePasswords)
    # Every call to splunkd goes through that one attribute: the service is used only to create it.
    source = inspect.getsource(CredentialManager)
    assert source.count("self.service.") == 1 and "self._storage_passwords = self.service.storage_passwords" in source


def test_secret_store_replaces_the_transport_with_a_deadline() -> None:
    from audit_trail.secrets import SecretStore

    store = SecretStore("key", "TA-audit-trail", "ringcentral_audit", "https", "127.0.0.1", 1, total_seconds=2.0)
    service = store._manager._storage_passwords.service
    # splunklib keeps the handler it was given: ours, not its default (which has no deadline).
    assert service.http.handler.__module__ == "audit_trail.http"
