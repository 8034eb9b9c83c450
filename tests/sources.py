"""One adapter per audit source, so a test of the engine or the Splunk layer is written once and run for each.

An adapter starts the source's simulator and knows what the generic tests need of it: the input's parameters,
records to collect (a backlog, recent ones, one with a hostile display name), the secrets to look for, how to
slow, trickle or rate-limit its API, and what "every record exactly once" means for its data (records with ids,
or rows without, keyed by content and time).

    adapter = ADAPTERS["ringcentral"]
    sim = adapter.start()
    runner = InputRunner(tmp, splunkd, scheme=adapter.scheme, sourcetype=adapter.sourcetype)
    runner.configure(adapter.params(sim))
    adapter.backlog(sim, 300, seed=1)
    out = runner.run()
    assert adapter.written([out]) == adapter.expected(sim)
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple

from tests.conftest import CLIENT_SECRET, JWT, input_params, sim_config
from tests.harness import RunOutput

# Every character XML 1.0 cannot carry, among ordinary text: unpaired surrogates, U+FFFE, U+FFFF and C0 controls.
HOSTILE_NAME = "Mallory \ud800 \udfff \ufffe \uffff \x00 \x07 \x1b \x1f <hidden/> & \"Admin\" \U0001F512"


def _canonical(record: Any) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


class SourceAdapter:
    """What a generic test needs to know about one source; see the module docstring."""

    name = ""
    scheme = ""
    sourcetype = ""
    secret_fields: Tuple[str, ...] = ()
    destination_field = ""  # where the secrets are sent: a changed value needs them entered again
    identity_field = ""  # the app or client the secrets belong to, likewise
    api_paths: Tuple[str, ...] = ()  # where a trickle can be injected, the collection path first
    hostile_name = HOSTILE_NAME  # the display name this simulator can serve
    reaches_before_1970 = False  # whether its windows can start before 1970 (no retention floor)

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self, sim: Any) -> None:
        sim.stop()

    def params(self, sim: Any, **overrides: Any) -> Dict[str, str]:
        """The input's settings against ``sim``, as an admin would save them (plain secrets)."""
        raise NotImplementedError

    def backlog(self, sim: Any, n: int, seed: int) -> None:
        """``n`` records spread over the last days, all within what a first run collects."""
        raise NotImplementedError

    def add_recent(self, sim: Any, n: int, seed: int) -> None:
        """``n`` records from the last minute, visible now (for the run after a first one)."""
        raise NotImplementedError

    def add_hostile(self, sim: Any, name: str, seed: int) -> Dict[str, Any]:
        """A record whose display name is ``name``; returns it as the input must write it (see ``strip``)."""
        raise NotImplementedError

    def display_name(self, record: Dict[str, Any]) -> Any:
        raise NotImplementedError

    def add_at_ms(self, sim: Any, times_ms: Sequence[int], seed: int) -> None:
        """One record at each of these epoch milliseconds, shown to the millisecond (``reaches_before_1970`` only)."""
        raise NotImplementedError

    def small_pages(self, sim: Any, runner: Any) -> None:
        """Makes each request of ``runner``'s input return at most 100 records (after any change of policies:
        runners of one input share their entry script)."""
        runner.configure(self.params(sim, page_size="100"))

    def strip(self, record: Dict[str, Any]) -> Dict[str, Any]:
        """A written record without the fields the API renders per request."""
        return record

    def secrets(self, sim: Any) -> List[str]:
        raise NotImplementedError

    def api_requests(self, sim: Any) -> int:
        """Requests the simulator has received on its API (not its control endpoints)."""
        raise NotImplementedError

    def delay(self, sim: Any, seconds: float, count: int) -> None:
        """The next ``count`` collection requests are answered ``seconds`` late (each within the read timeout)."""
        raise NotImplementedError

    def trickle(self, sim: Any, path: str, interval: float) -> None:
        """The next request on ``path`` (one of ``api_paths``) is answered a byte every ``interval`` seconds."""
        raise NotImplementedError

    def rate_limit(self, sim: Any, retry_after: str) -> None:
        """The next collection request is answered 429 with this Retry-After."""
        raise NotImplementedError

    def clear_faults(self, sim: Any) -> None:
        sim.clear_faults()

    def expected(self, sim: Any) -> Counter:
        """Every record the input must have written by now, once each, as (canonical JSON, splunkd time)."""
        raise NotImplementedError

    def written(self, outputs: Iterable[RunOutput]) -> Counter:
        """What runs wrote, in the form of ``expected``."""
        found: Counter = Counter()
        for output in outputs:
            for event in output.events:
                if event.sourcetype == self.sourcetype:
                    found[(_canonical(self.strip(event.json())), event.time)] += 1
        return found

    def __repr__(self) -> str:
        return self.name


def epoch_text(ms: int) -> str:
    """Epoch milliseconds as splunkd's ``<time>`` text."""
    sign = "-" if ms < 0 else ""
    seconds, millis = divmod(abs(ms), 1000)
    return f"{sign}{seconds}.{millis:03d}"


class RingCentral(SourceAdapter):
    name = "ringcentral"
    scheme = "ringcentral_audit"
    sourcetype = "ringcentral:audit"
    secret_fields = ("client_secret", "jwt")
    destination_field = "server_url"
    identity_field = "client_id"
    api_paths = ("search", "token")

    def start(self) -> Any:
        from tests.sim.ringcentral_sim import RingCentralSimulator

        return RingCentralSimulator(sim_config()).start()

    def params(self, sim: Any, **overrides: Any) -> Dict[str, str]:
        return {k: str(v) for k, v in input_params(sim, **overrides).items()}

    def backlog(self, sim: Any, n: int, seed: int) -> None:
        now = datetime.now(timezone.utc)
        sim.generate(n, now - timedelta(days=5), now - timedelta(minutes=2), seed=seed)

    def add_recent(self, sim: Any, n: int, seed: int) -> None:
        now = datetime.now(timezone.utc)
        sim.generate(n, now - timedelta(seconds=60), now - timedelta(seconds=2), seed=seed)

    def add_hostile(self, sim: Any, name: str, seed: int) -> Dict[str, Any]:
        from tests.sim.records import generate_records

        now = datetime.now(timezone.utc)
        [record] = generate_records(1, now - timedelta(hours=3), now - timedelta(hours=2), seed)
        record["initiator"]["name"] = name
        record["target"]["name"] = name
        sim.add_records([record])
        return record

    def display_name(self, record: Dict[str, Any]) -> Any:
        return (record.get("initiator") or {}).get("name")

    def secrets(self, sim: Any) -> List[str]:
        import base64

        basic = base64.b64encode(f"{sim.config.client_id}:{CLIENT_SECRET}".encode()).decode()
        return [CLIENT_SECRET, JWT, basic]

    def api_requests(self, sim: Any) -> int:
        stats = sim.stats()
        return int(stats["heavy_requests"] + stats["auth_requests"])

    def delay(self, sim: Any, seconds: float, count: int) -> None:
        sim.inject("stall", count=count, seconds=seconds)

    def trickle(self, sim: Any, path: str, interval: float) -> None:
        sim.inject("trickle", count=1, path=path, interval=interval)

    def rate_limit(self, sim: Any, retry_after: str) -> None:
        sim.inject("429", count=1, retry_after=retry_after)

    def expected(self, sim: Any) -> Counter:
        def time_text(event_time: str) -> str:
            moment = datetime.strptime(event_time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
            return epoch_text(round(moment.timestamp() * 1000))

        return Counter((_canonical(r), time_text(r["eventTime"])) for r in sim.records)


class LivePerson(SourceAdapter):
    name = "liveperson"
    scheme = "liveperson_audit"
    sourcetype = "liveperson:audit"
    secret_fields = ("app_secret", "access_token", "access_token_secret")
    destination_field = "domain_url"
    identity_field = "app_key"
    api_paths = ("audit", "domain")
    # Its simulator writes JSON as UTF-8 text, which cannot hold an unpaired surrogate: everything else is kept.
    hostile_name = HOSTILE_NAME.replace("\ud800 \udfff ", "")

    def start(self) -> Any:
        from tests.sim.liveperson_sim import LivePersonSimulator, SimConfig

        return LivePersonSimulator(SimConfig()).start()

    def params(self, sim: Any, **overrides: Any) -> Dict[str, str]:
        cfg = sim.config
        values: Dict[str, Any] = {
            "account_id": cfg.account_id, "app_key": cfg.app_key, "app_secret": cfg.app_secret,
            "access_token": cfg.access_token, "access_token_secret": cfg.access_token_secret,
            "domain_url": sim.base_url, "ca_bundle": sim.ca_path, "settle_seconds": "0", "overlap_seconds": "900",
            "page_size": "100", "log_level": "DEBUG", "index": "lp_audit", "interval": "300",
            "start_date": (datetime.now(timezone.utc) - timedelta(days=10)).strftime("%Y-%m-%d"),
        }
        values.update(overrides)
        return {k: str(v) for k, v in values.items() if v is not None}

    def backlog(self, sim: Any, n: int, seed: int) -> None:
        now = datetime.now(timezone.utc)
        sim.generate(n, now - timedelta(days=5), now - timedelta(minutes=2), seed=seed)

    def add_recent(self, sim: Any, n: int, seed: int) -> None:
        now = time.time()
        sim.generate(n, now - 60, now - 2, seed=seed)

    def _served(self, sim: Any) -> Sequence[str]:
        from tests.sim.liveperson_records import ACTION_TYPE, PUBLIC_FIELDS

        return PUBLIC_FIELDS + ((ACTION_TYPE,) if sim.config.action_type == "selectable" else ())

    def add_hostile(self, sim: Any, name: str, seed: int) -> Dict[str, Any]:
        from tests.sim.liveperson_records import generate_rows

        now = time.time()
        [row] = generate_rows(1, now - 3 * 3600, now - 2 * 3600, seed, account_id=sim.config.account_id)
        row = dict(row, originator=name, objectName=name)
        sim.add_records([row])
        return {k: row[k] for k in self._served(sim) if k in row and k != "changeDate"}

    def display_name(self, record: Dict[str, Any]) -> Any:
        return record.get("originator")

    def strip(self, record: Dict[str, Any]) -> Dict[str, Any]:
        return {k: v for k, v in record.items() if k != "changeDate"}

    def secrets(self, sim: Any) -> List[str]:
        cfg = sim.config
        return [cfg.app_secret, cfg.access_token_secret, cfg.access_token]

    def api_requests(self, sim: Any) -> int:
        return len(sim.stats()["requests"])

    def delay(self, sim: Any, seconds: float, count: int) -> None:
        sim.inject("stall", count=count, seconds=seconds)

    def trickle(self, sim: Any, path: str, interval: float) -> None:
        sim.inject("trickle", count=1, path=path, interval=interval)

    def rate_limit(self, sim: Any, retry_after: str) -> None:
        sim.inject("429", count=1, retry_after=retry_after)

    def expected(self, sim: Any) -> Counter:
        served = self._served(sim)
        found: Counter = Counter()
        now = time.time()
        for row in sim.ground_truth():
            if row.get("visible_at") and row["visible_at"] > now:
                continue
            fields = {k: row[k] for k in served if k in row and k != "changeDate"}
            found[(_canonical(fields), f"{int(row['instant'])}.000")] += 1
        return found


class Resolver(SourceAdapter):
    name = "resolver"
    scheme = "resolver_audit"
    sourcetype = "resolver:audit"
    secret_fields = ("api_key",)
    destination_field = "base_url"
    identity_field = ""  # the API key alone says who calls: only the environment's host binds it
    api_paths = ()  # TODO: tests/sim/resolver_sim.py has no trickle fault yet (export, job poll, signed download)
    # Its export is a UTF-8 CSV file, which cannot hold an unpaired surrogate.
    hostile_name = HOSTILE_NAME.replace("\ud800 \udfff ", "")
    reaches_before_1970 = True
    api_key = "rsv-Ap1-K3y-0123456789abcdefXYZ"

    def start(self, **config: Any) -> Any:
        from tests.sim.resolver_sim import ResolverSimulator, SimConfig

        return ResolverSimulator(SimConfig(api_key=self.api_key, job_seconds=0.02, job_pending_seconds=0.01,
                                           **config)).start()

    def params(self, sim: Any, **overrides: Any) -> Dict[str, str]:
        values: Dict[str, Any] = {
            "base_url": sim.base_url, "api_key": self.api_key, "ca_bundle": sim.ca_path, "settle_seconds": "0",
            "overlap_seconds": "900", "job_timeout_seconds": "10", "log_level": "DEBUG", "index": "resolver",
            "interval": "300", "start_date": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 10 * 86400)),
        }
        values.update(overrides)
        values.pop("page_size", None)  # an export is one file, not pages of a chosen size
        return {k: str(v) for k, v in values.items() if v is not None}

    def _add(self, sim: Any, n: int, start_ms: int, end_ms: int, seed: int) -> None:
        from tests.sim.resolver_records import generate_rows

        sim.add_records(generate_rows(n, start_ms, end_ms, seed))

    def backlog(self, sim: Any, n: int, seed: int) -> None:
        now = int(time.time() * 1000)
        self._add(sim, n, now - 5 * 86_400_000, now - 120_000, seed)

    def add_recent(self, sim: Any, n: int, seed: int) -> None:
        now = int(time.time() * 1000)
        self._add(sim, n, now - 60_000, now - 2_000, seed)

    def add_hostile(self, sim: Any, name: str, seed: int) -> Dict[str, Any]:
        from tests.sim.resolver_records import generate_rows

        now = int(time.time() * 1000)
        [row] = generate_rows(1, now - 3 * 3_600_000, now - 2 * 3_600_000, seed)
        row = row._replace(subject=name, performed_by=name)
        sim.add_records([row])
        return sim.csv_fields(row)

    def display_name(self, record: Dict[str, Any]) -> Any:
        return record.get("Performed By")

    def add_at_ms(self, sim: Any, times_ms: Sequence[int], seed: int) -> None:
        from tests.sim.resolver_records import generate_rows

        sim.set_config(time_millis=True)
        for offset, at_ms in enumerate(times_ms):
            sim.add_records(generate_rows(1, at_ms, at_ms, seed + offset))

    def small_pages(self, sim: Any, runner: Any) -> None:
        # An export's row cap is the page size: the simulator's and the source's (a constructor value) together.
        sim.set_config(cap=100)
        script = Path(runner.script)
        text = script.read_text()
        if "main(spec()," in text:
            script.write_text(text.replace("main(spec(),", "main(spec(max_results=100),"))

    def secrets(self, sim: Any) -> List[str]:
        return [self.api_key]

    def api_requests(self, sim: Any) -> int:
        return len(sim.stats()["requests"])

    def delay(self, sim: Any, seconds: float, count: int) -> None:
        sim.inject("stall", count=count, seconds=seconds, path="export")

    def rate_limit(self, sim: Any, retry_after: str) -> None:
        sim.inject("429", count=1, retry_after=retry_after, path="export")

    def expected(self, sim: Any) -> Counter:
        found: Counter = Counter()
        for row in sim.ground_truth(visible_only=True):
            ms = row.at_ms if sim.config.time_millis else row.at_ms - row.at_ms % 1000
            found[(_canonical(sim.csv_fields(row)), epoch_text(ms))] += 1
        return found


ADAPTERS: Dict[str, SourceAdapter] = {adapter.name: adapter for adapter in (RingCentral(), LivePerson(), Resolver())}
