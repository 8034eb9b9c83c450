"""A throw-away certificate authority so loopback test servers can speak real TLS."""

from __future__ import annotations

import shutil
import ssl
import tempfile
from pathlib import Path
from typing import Sequence

import trustme


class LoopbackTLS:
    """A private CA plus one server certificate for the loopback names.

    Clients verify against ``ca_path`` exactly as they would verify a production CA bundle, so the code under
    test keeps certificate verification switched on.
    """

    def __init__(self, hostnames: Sequence[str] = ("127.0.0.1", "localhost")) -> None:
        self._ca = trustme.CA(organization_name="TA-audit-trail test CA")
        self._server_cert = self._ca.issue_cert(*hostnames)
        self._dir = Path(tempfile.mkdtemp(prefix="rcsim-tls-"))
        self.ca_path = str(self._dir / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_path)

    def server_context(self) -> ssl.SSLContext:
        """Return a server-side context presenting the loopback certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server_cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Return a client-side context that trusts only this CA."""
        ctx = ssl.create_default_context(cafile=self.ca_path)
        return ctx

    def cleanup(self) -> None:
        """Delete the CA file; clients must not be started afterwards."""
        shutil.rmtree(self._dir, ignore_errors=True)
