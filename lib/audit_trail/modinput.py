"""The modular input splunkd runs: scheme, argument validation, and one collection run per stanza.

Nothing here is specific to one audit API: a source module provides an :class:`InputSpec`, and
``bin/<scheme>.py`` hands it to :func:`main`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from . import APP_NAME
from .checkpoint import (
    Checkpoint,
    FileCheckpointStore,
    KVStoreCheckpointStore,
    ResilientCheckpointStore,
    checkpoint_key,
)
from .collector import CollectionPolicy, Collector
from .config import SHARED_SETTINGS, CommonSettings, Setting, log_level
from .errors import AuditTrailError, ConfigError
from .http import HttpSettings, build_session, splunkd_handler, url_host
from .logs import for_input, get_logger, quoted
from .pacing import Pacer, RetryPolicy
from .runlock import RunLock
from .secrets import MASK, PartialSecret, SecretStore, binding_of, resolve_secrets
from .source import AuditSource

CHECKPOINT_COLLECTION = "ta_audit_trail_checkpoints"


@dataclass(frozen=True)
class Splunkd:
    """Where this run's splunkd answers, from the input definition splunkd passed on stdin."""

    scheme: str
    host: str
    port: int
    session_key: str
    timeout: float = 30.0  # the total seconds of each call: a splunkd that accepts and never answers ends it

    @classmethod
    def from_metadata(cls, metadata: Dict[str, Any], timeout: float = 30.0) -> Splunkd:
        parts = urlsplit(metadata.get("server_uri") or "https://127.0.0.1:8089")
        return cls(parts.scheme or "https", parts.hostname or "127.0.0.1", parts.port or 8089,
                   metadata.get("session_key") or "", timeout)

    def service(self) -> Any:
        from splunklib import client

        return client.Service(handler=splunkd_handler(self.timeout), scheme=self.scheme, host=self.host, port=self.port,
                              token=self.session_key, owner="nobody", app=APP_NAME)

    def secret_store(self, scheme: str) -> SecretStore:
        return SecretStore(self.session_key, APP_NAME, scheme, self.scheme, self.host, self.port, self.timeout)

    def mask_input(self, kind: str, name: str, fields: Dict[str, str]) -> None:
        """Rewrites the input's stanza in whatever app defines it (the entity's own ACL decides)."""
        from urllib.parse import quote

        from splunklib import client
        from splunklib.binding import UrlEncoded

        # Quoted once here; splunklib must not quote it again (a space would become %2520).
        path = UrlEncoded(f"data/inputs/{kind}/{quote(name, safe='')}", skip_encode=True)
        entity = client.Input(self.service(), path)
        entity.update(**fields)


@dataclass(frozen=True)
class Policies:
    """Every tunable behaviour of a run, as plain values; ``main`` takes them as an argument (tests shrink the
    timings this way, through the same constructor the product uses).

    ``retry`` None: the source's own retry defaults (``InputSpec.retry``). ``timeout`` is (connect, read)
    seconds and ``request_deadline`` the total seconds one vendor call may take; ``splunkd_timeout`` bounds
    each splunkd REST and KV store call. ``max_run_seconds`` (None: a little under the input's interval)
    and ``max_requests`` are a run's budget.
    """

    retry: Optional[RetryPolicy] = None
    timeout: Tuple[float, float] = (10.0, 60.0)
    request_deadline: float = 300.0
    splunkd_timeout: float = 30.0
    retention_margin_seconds: float = 3600.0
    token_renew_margin: float = 300.0
    max_run_seconds: Optional[float] = None
    max_requests: int = 5000
    poll_interval: float = 2.0  # first wait between polls of an asynchronous job (it backs off from there)


class TokenStore:
    """A string slot in storage/passwords for a source's cached access token (or memory when offline)."""

    def __init__(self, store: Optional[SecretStore], input_name: str) -> None:
        self._store = store
        self._input = input_name
        self._value: Optional[str] = None

    def load(self) -> Optional[str]:
        if self._store is None:
            return self._value
        return self._store.get(self._input, "token")

    def save(self, value: str) -> None:
        if self._store is None:
            self._value = value
            return
        self._store.set(self._input, "token", value)


@dataclass(frozen=True)
class BuildContext:
    """What a source is built from: the input's settings with real secrets, the parsed shared settings, the
    run's pooled HTTP session (proxy, CA bundle), a slot for a cached token, and the run's policies."""

    params: Dict[str, str]
    common: CommonSettings
    session: Any
    tokens: TokenStore
    policies: Policies
    logger: Any = None  # the input's logger: what a source learns about its API is worth a log line


Build = Callable[[BuildContext], AuditSource]


@dataclass(frozen=True)
class InputSpec:
    """What a source contributes to the generic modular input: its own arguments only (the shared ones,
    ``config.SHARED_SETTINGS``, are added here), its secrets, and how to build it from the parsed settings."""

    scheme: str
    title: str
    description: str
    arguments: Sequence[Setting]
    secret_fields: Sequence[str]
    build: Build
    partial_secrets: Dict[str, PartialSecret] = field(default_factory=dict)
    defaults: Dict[str, str] = field(default_factory=dict)  # the source's own defaults for shared settings
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Where the secrets go (hosts, client id) from the raw settings: stored secrets are bound to it, so an edit
    # that points the input elsewhere needs them entered again. The proxy's host is added here.
    destination: Callable[[Dict[str, str]], Sequence[str]] = lambda _params: ()

    def binding(self, params: Dict[str, str]) -> str:
        return binding_of(self.scheme, *self.destination(params), url_host(params.get("proxy_url") or ""))

    def all_arguments(self) -> List[Setting]:
        shared = [Setting(s.name, s.title, f"{s.description}. Default {self.defaults[s.name]}", self.defaults[s.name],
                          s.data_type, s.required) if s.name in self.defaults else s for s in SHARED_SETTINGS]
        return [*self.arguments, *shared]


def _script_class(spec: InputSpec, policies: Policies, stop: threading.Event) -> Any:
    from splunklib.modularinput import Argument, Scheme, Script

    class AuditInputScript(Script):
        def get_scheme(self) -> Any:
            scheme = Scheme(spec.title)
            scheme.description = spec.description
            scheme.use_external_validation = True
            scheme.use_single_instance = False
            scheme.streaming_mode = Scheme.streaming_mode_xml
            for arg in spec.all_arguments():
                scheme.add_argument(Argument(
                    arg.name, title=arg.title, description=arg.description,
                    data_type=Argument.data_type_number if arg.data_type == "number" else Argument.data_type_string,
                    required_on_create=arg.required, required_on_edit=False,
                ))
            return scheme

        def validate_input(self, definition: Any) -> None:
            validate(spec, policies, definition.metadata, dict(definition.parameters))

        def stream_events(self, inputs: Any, ew: Any) -> None:
            from .emit import EventStream

            # The stream is ours, not splunklib's EventWriter's: it escapes what XML cannot carry and is closed
            # here, after the last stanza, whatever happened (EventWriter.close() then writes nothing).
            stream = EventStream(sys.stdout)
            try:
                for stanza, params in inputs.inputs.items():
                    if stop.is_set():
                        break
                    run_stanza(spec, policies, stanza, dict(params), dict(inputs.metadata), stream, stop)
            finally:
                stream.close()

    return AuditInputScript


def validate(spec: InputSpec, policies: Policies, metadata: Dict[str, Any], params: Dict[str, str]) -> None:
    """Checks every field, then proves the credentials with one live token request.

    Raises ValueError with a message naming the field and the fix; splunkd shows it to the admin.
    """
    try:
        if any(MASK in (params.get(f) or "") for f in spec.secret_fields):
            # Editing an existing input: splunkd passes the masks, the real values are stored. Nothing
            # is written: a rejected edit must leave the running input's secrets as they were.
            splunkd = Splunkd.from_metadata(metadata, policies.splunkd_timeout)
            name = metadata.get("name") or ""
            params = resolve_secrets(params, spec.secret_fields, splunkd.secret_store(spec.scheme), name,
                                     mask_stanza=lambda _fields: None, partial=spec.partial_secrets,
                                     store_new=False, binding=spec.binding(params))
        common = CommonSettings.parse(params, os.environ.get("SPLUNK_HOME"), spec.defaults)
        session = build_session(HttpSettings(timeout=policies.timeout, proxy_url=common.proxy_url,
                                             ca_bundle=common.ca_bundle, total_seconds=policies.request_deadline))
        source = spec.build(BuildContext(params, common, session, TokenStore(None, ""), policies))
        try:
            source.check_access()
        finally:
            source.close()
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    except AuditTrailError as exc:
        msg = f"settings are valid but the test login failed: {exc}"
        raise ValueError(msg) from None


def run_stanza(spec: InputSpec, policies: Policies, stanza: str, params: Dict[str, str],
               metadata: Dict[str, Any], stream: Any, stop: Optional[threading.Event] = None) -> None:
    """One collection run of one input; every failure is logged to the add-on's log, never raised."""

    name = stanza.split("://", 1)[-1]
    try:
        level = log_level(params, "log_level")
    except ConfigError:
        level = "INFO"  # the bad value is reported below, once the logger exists
    base_logger = get_logger(spec.scheme, level)
    logger = for_input(base_logger, name)
    lock = RunLock(metadata.get("checkpoint_dir") or ".", checkpoint_key(spec.scheme, name))
    try:
        acquired = lock.try_acquire()
    except OSError as exc:
        logger.error("action=run_skipped reason=checkpoint_dir_unusable error=%s fix=%s",
                     quoted(f"{type(exc).__name__} errno={exc.errno}"),
                     quoted("make splunkd's modinputs checkpoint directory writable"))
        return
    if not acquired:
        # A slow run overlapping the next interval, or a restart: two runs would both write everything.
        logger.warning("action=run_skipped reason=already_running holder_pid=%s", lock.holder() or "-")
        return
    try:
        _run_locked(spec, policies, stanza, name, params, metadata, stream, stop, base_logger, logger)
    finally:
        lock.release()


def _run_locked(spec: InputSpec, policies: Policies, stanza: str, name: str, params: Dict[str, str],
                metadata: Dict[str, Any], stream: Any, stop: Optional[threading.Event], base_logger: Any,
                logger: Any) -> None:
    from solnlib import log as solnlog

    from .emit import SplunkEventSink

    solnlog.modular_input_start(base_logger, stanza)
    started = time.time()
    source: Optional[AuditSource] = None
    try:
        splunkd = Splunkd.from_metadata(metadata, policies.splunkd_timeout)
        secrets = splunkd.secret_store(spec.scheme)
        # Secrets first: a setting that fails to parse must not keep them in the stanza run after run.
        params = resolve_secrets(
            params, spec.secret_fields, secrets, name,
            mask_stanza=lambda fields: _mask(splunkd, spec.scheme, name, fields, logger),
            partial=spec.partial_secrets, binding=spec.binding(params),
        )
        common = CommonSettings.parse(params, os.environ.get("SPLUNK_HOME"), spec.defaults)
        session = build_session(HttpSettings(timeout=policies.timeout, proxy_url=common.proxy_url,
                                             ca_bundle=common.ca_bundle, total_seconds=policies.request_deadline))
        source = spec.build(BuildContext(params, common, session, TokenStore(secrets, name), policies, logger))
        store = ResilientCheckpointStore(
            lambda: KVStoreCheckpointStore(CHECKPOINT_COLLECTION, splunkd.session_key, APP_NAME,
                                           splunkd.scheme, splunkd.host, splunkd.port,
                                           timeout=policies.splunkd_timeout),
            FileCheckpointStore(metadata.get("checkpoint_dir") or "."),
            logger,
        )
        checkpoint = Checkpoint(store, checkpoint_key(spec.scheme, name))
        if checkpoint.first_run:
            logger.info("action=first_run start_date=%s", quoted(params.get("start_date") or "-"))
        elif checkpoint.upgraded_from is not None:
            logger.info("action=checkpoint_upgraded from_version=%s", checkpoint.upgraded_from)
        source.memory = checkpoint.state.memory
        sink = SplunkEventSink(stream, stanza, index=params.get("index"), host=params.get("host"))
        collector = Collector(
            source, checkpoint, sink,
            CollectionPolicy(settle_seconds=common.settle_seconds,
                             # At least a second of overlap covers an API whose upper bound is exclusive.
                             overlap_seconds=max(common.overlap_seconds, 1),
                             page_size=source.page_size,
                             retention_margin_seconds=policies.retention_margin_seconds,
                             start_ms=common.start_ms,
                             max_requests=policies.max_requests,
                             max_run_seconds=_run_seconds(policies, params)),
            policies.retry or spec.retry,
            # A pause the API asks for ends early when splunkd asks the input to stop.
            Pacer(max_window=(policies.retry or spec.retry).retry_after_max, sleep=_pause(stop)),
            logger, input_name=name, stop_requested=stop.is_set if stop is not None else (lambda: False),
        )
        result = collector.run()
        solnlog.events_ingested(base_logger, stanza, source.sourcetype, result.records_emitted,
                                params.get("index") or "default")
        logger.info("action=run_complete records_emitted=%d windows=%d duration_seconds=%.3f status=%s",
                    result.records_emitted, len(result.windows), time.time() - started,
                    "error" if result.error else "ok")
    except ConfigError as exc:
        logger.error("action=configuration_error field=%s error=%s", exc.field, quoted(str(exc)))
    except AuditTrailError as exc:
        logger.error("action=collection_failed error=%s", quoted(f"{type(exc).__name__}: {exc}"))
    except Exception as exc:  # noqa: BLE001 - the boundary: one stanza's failure must not kill the process
        # Type and message only: a third-party message could quote request details.
        logger.error("action=collection_failed error=%s", quoted(f"unexpected {type(exc).__name__}"))
        logger.debug("action=collection_failed_detail where=%s", quoted(_frames(exc)))
    finally:
        if source is not None:
            source.close()
        solnlog.modular_input_end(base_logger, stanza)


def _pause(stop: Optional[threading.Event]) -> Callable[[float], None]:
    """The pacer's sleep: a pause the API asked for ends early when splunkd asks the input to stop."""
    if stop is None:
        return time.sleep

    def pause(seconds: float) -> None:
        stop.wait(seconds)

    return pause


def _frames(exc: BaseException) -> str:
    """Where an unexpected exception was raised (file, line, function), without its message or locals: a
    third-party message can quote request details, a URL with a signature, or a secret."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    return " < ".join(f"{os.path.basename(f.filename)}:{f.lineno}:{f.name}" for f in reversed(frames))


def _run_seconds(policies: Policies, params: Dict[str, str]) -> Optional[float]:
    """The run's deadline: the policy's, else a little under the input's interval, so runs do not pile up."""
    if policies.max_run_seconds is not None:
        return policies.max_run_seconds
    try:
        interval = float(params.get("interval") or 0)
    except ValueError:
        return None  # a cron schedule: splunkd starts the next run only when this one has ended
    return max(60.0, interval * 0.9) if interval > 0 else None


def _mask(splunkd: Splunkd, kind: str, name: str, fields: Dict[str, str], logger: logging.LoggerAdapter) -> None:
    try:
        splunkd.mask_input(kind, name, fields)
        logger.info("action=secrets_masked fields=%s", ",".join(sorted(fields)))
    except Exception as exc:  # noqa: BLE001 - the secret is stored; masking is retried next run
        logger.warning("action=mask_failed fields=%s error=%s", ",".join(sorted(fields)), type(exc).__name__)


def main(spec: InputSpec, argv: Optional[List[str]] = None, policies: Optional[Policies] = None) -> int:
    import warnings

    # The package leaves out requests' optional charset detector on purpose (see requirements.txt);
    # its import-time notice about that would reach splunkd's log as an error line.
    warnings.filterwarnings("ignore", message="Unable to find acceptable character detection dependency")
    args = argv if argv is not None else sys.argv
    stop = threading.Event()
    if len(args) == 1:
        # splunkd stops an input with SIGTERM: finish the page in hand, checkpoint it, close the stream.
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    script = _script_class(spec, policies or Policies(), stop)()
    return int(script.run(args))
