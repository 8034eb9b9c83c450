"""Shared fixtures: the staged app, a RingCentral simulator, a splunkd stand-in, and an input runner."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import REPO, InputRunner, stage_app
from tests.sim.ringcentral_sim import RingCentralSimulator, SimConfig


def _b64(data: Dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


# Shaped like a RingCentral JWT credential (header.payload.signature, ~700 characters): long enough that
# solnlib stores it in several storage/passwords chunks.
JWT = ".".join([
    _b64({"kid": "87762f8e5e6f4a1a", "typ": "JWT", "alg": "RS256"}),
    _b64({"aud": "https://platform.ringcentral.com/restapi/oauth/token", "sub": "402539300008",
          "iss": "https://platform.ringcentral.com", "exp": 3900000000, "iat": 1732000000,
          "jti": "Xh3Qm0uC8a1cTq1e9sVuLw"}),
    base64.urlsafe_b64encode(bytes(range(256)) * 2).decode().rstrip("="),
])
CLIENT_SECRET = "sIm-Cl13nt-s3cr3t-XYZ0123456789abcdef"
CLIENT_ID = "sim-client-id-AbCdEf"


def sim_config(**overrides: Any) -> SimConfig:
    values: Dict[str, Any] = dict(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, jwt=JWT,
        # Minute-long windows and penalties shrunk to seconds so rate-limit behaviour runs quickly.
        heavy_window=2.0, heavy_penalty=1.0, auth_window=2.0, auth_penalty=1.0,
    )
    values.update(overrides)
    return SimConfig(**values)


@pytest.fixture(scope="session")
def app_dir() -> Path:
    return stage_app()


@pytest.fixture
def sim() -> Iterator[RingCentralSimulator]:
    simulator = RingCentralSimulator(sim_config())
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def splunkd() -> Iterator[Any]:
    from tests.sim.splunkd_sim import SplunkdSimulator

    server = SplunkdSimulator(app="TA-audit-trail", session_key="sim-session-key")
    server.start()
    # The app is installed: splunkd has created the KV store collections its collections.conf declares.
    server.install_collections((REPO / "default" / "collections.conf").read_text())
    try:
        yield server
    finally:
        server.stop()


def input_params(sim: RingCentralSimulator, **overrides: Any) -> Dict[str, Any]:
    params: Dict[str, Any] = {
        "server_url": sim.base_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "jwt": JWT,
        "account_id": "~",
        "ca_bundle": sim.ca_path,
        "settle_seconds": "0",
        "overlap_seconds": "600",
        "page_size": "1000",
        "log_level": "DEBUG",
        "index": "rc_audit",
        "host": "rc-collector",
        "interval": "300",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


@pytest.fixture
def runner(tmp_path: Path, sim: RingCentralSimulator, splunkd: Any, app_dir: Path) -> InputRunner:
    input_runner = InputRunner(tmp_path, splunkd)
    input_runner.configure(input_params(sim))
    return input_runner
