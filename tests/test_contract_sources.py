"""The contract cases of test_contract.py, run against the real sources over their simulators (in-process, so
every page boundary and every checkpoint save can be cut): a restart at every page boundary, a SIGKILL between
any page's flush and its checkpoint, late rows and identical rows: 0 lost, 0 repeated (a SIGKILL may repeat the
page it interrupted)."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from audit_trail.config import CommonSettings
from audit_trail.http import HttpSettings, build_session
from audit_trail.modinput import BuildContext, Policies, TokenStore
from tests.contract.harness import Input, Killed

NOW = datetime.now(timezone.utc)


@dataclass
class Real:
    """A real source over its simulator: how to build it, add rows, and say what must be written."""

    sim: Any
    make_source: Callable[[], Any]
    add: Callable[[int, datetime, datetime, int], None]  # n rows over [start, end], seed
    add_twins: Callable[[datetime, int], None]  # k identical rows at one moment
    expected: Callable[[], Counter]
    page_size: int

    def written(self, inp: Input) -> Counter:
        return Counter(self.event_key(e) for e in inp.sink.events)

    event_key: Callable[[Dict[str, Any]], str] = lambda e: json.dumps(e, sort_keys=True)


def _build(spec: Any, params: Dict[str, str], ca_path: str) -> Any:
    policies = Policies(timeout=(3.0, 5.0))
    common = CommonSettings.parse(params, None, spec.defaults)
    session = build_session(HttpSettings(timeout=policies.timeout, ca_bundle=ca_path, total_seconds=20.0))
    return spec.build(BuildContext(params, common, session, TokenStore(None, ""), policies, logging.getLogger("src")))


@contextlib.contextmanager
def ringcentral() -> Iterator[Real]:
    from audit_trail.sources.ringcentral import spec
    from tests.conftest import input_params, sim_config
    from tests.sim.records import generate_records
    from tests.sim.ringcentral_sim import RingCentralSimulator

    with RingCentralSimulator(sim_config(heavy_limit=100000, auth_limit=1000)) as sim:
        params = {k: str(v) for k, v in input_params(sim, page_size="100").items()}
        tokens = TokenStore(None, "")

        def make() -> Any:
            source = _build(spec(), params, sim.ca_path)
            source.auth.cache = _cache(tokens)  # one token for the whole case, as storage/passwords keeps it
            return source

        def add(n: int, start: datetime, end: datetime, seed: int) -> None:
            sim.add_records(generate_records(n, start, end, seed))

        seeds = iter(range(5000, 6000))

        def twins(at: datetime, k: int) -> None:
            # RingCentral records always have distinct ids: a burst at one millisecond is the nearest thing.
            sim.add_records(generate_records(k, at, at, next(seeds), same_time=at))

        yield Real(sim, make, add, twins, lambda: Counter(r["id"] for r in sim.records), 100,
                   event_key=lambda e: e["id"])


def _cache(tokens: TokenStore) -> Any:
    from audit_trail.sources.ringcentral import token_cache_json

    return token_cache_json(tokens.load, tokens.save)


@contextlib.contextmanager
def liveperson() -> Iterator[Real]:
    from audit_trail.sources.liveperson import spec
    from tests.sim.liveperson_records import ACTION_TYPE, PUBLIC_FIELDS, generate_rows, identical
    from tests.sim.liveperson_sim import LivePersonSimulator, SimConfig

    with LivePersonSimulator(SimConfig(tie_order="shuffled")) as sim:
        cfg = sim.config
        params = {"account_id": cfg.account_id, "app_key": cfg.app_key, "app_secret": cfg.app_secret,
                  "access_token": cfg.access_token, "access_token_secret": cfg.access_token_secret,
                  "domain_url": sim.base_url, "page_size": "50"}

        def add(n: int, start: datetime, end: datetime, seed: int) -> None:
            sim.generate(n, start, end, seed=seed)

        template = generate_rows(1, NOW - timedelta(days=1), NOW - timedelta(hours=1), 77,
                                 account_id=cfg.account_id)[0]

        def twins(at: datetime, k: int) -> None:
            sim.add_records(identical(dict(template, instant=at.timestamp(), objectName="twin"), k))

        fields = (*PUBLIC_FIELDS, ACTION_TYPE)

        def key(row: Dict[str, Any]) -> str:
            return json.dumps({k: row[k] for k in fields if k in row and k != "changeDate"}, sort_keys=True)

        def expected() -> Counter:
            return Counter(key(r) + f"@{int(r['instant'])}" for r in sim.ground_truth())

        def event_key(event: Dict[str, Any]) -> str:
            when = datetime.strptime(event["changeDate"][:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
            return key(event) + f"@{int(when.timestamp())}"

        yield Real(sim, lambda: _build(spec(), params, sim.ca_path), add, twins, expected, 50, event_key=event_key)


SOURCES = {"ringcentral": ringcentral, "liveperson": liveperson}


@pytest.fixture(params=sorted(SOURCES))
def real(request: Any) -> Iterator[Real]:
    with SOURCES[request.param]() as source:
        yield source


def new_input(real: Real) -> Input:
    now_ms = int(time.time() * 1000)
    return Input(make_source=real.make_source, now_ms=now_ms, start_ms=now_ms - 10 * 86_400_000,
                 page_size=real.page_size, overlap_seconds=1800)


def assert_exactly(real: Real, inp: Input, repeats_allowed: int = 0) -> None:
    want, got = real.expected(), real.written(inp)
    assert not want - got, f"{sum((want - got).values())} rows lost"
    assert sum((got - want).values()) <= repeats_allowed, f"{sum((got - want).values())} rows repeated"


def backlog(real: Real, seed: int) -> None:
    real.add(320, NOW - timedelta(days=6), NOW - timedelta(minutes=5), seed)
    real.add_twins(NOW - timedelta(days=2), 3)


def test_a_backlog_then_late_and_identical_rows_exactly_once(real: Real) -> None:
    backlog(real, 1)
    inp = new_input(real)
    inp.poll()
    real.add(4, NOW - timedelta(minutes=4), NOW - timedelta(minutes=3), 2)  # visible late, inside the overlap
    real.add_twins(NOW - timedelta(minutes=2), 2)
    inp.poll(advance_seconds=1)
    real.add_twins(NOW - timedelta(minutes=2), 1)  # ... and one more copy of that same second, later still
    inp.poll(advance_seconds=1)
    assert_exactly(real, inp)


def test_a_restart_at_every_page_boundary(real: Real) -> None:
    backlog(real, 3)
    stops = 0
    for requests in range(1, 60):
        inp = new_input(real)
        first = inp.poll(max_requests=requests)
        inp.poll(advance_seconds=1)
        assert_exactly(real, inp)
        if first.error is None:
            break
        stops += 1
    assert stops >= 3


def test_a_sigkill_between_any_page_flush_and_its_checkpoint(real: Real) -> None:
    backlog(real, 4)
    dry = new_input(real)
    dry.poll()
    for kill_at in range(1, dry.store.saves + 1):
        inp = new_input(real)
        inp.store.kill_on_save = kill_at
        with pytest.raises(Killed):
            inp.poll()
        del inp.sink.events[inp.sink.flushed:]
        inp.poll(advance_seconds=1)
        assert_exactly(real, inp, repeats_allowed=real.page_size)
