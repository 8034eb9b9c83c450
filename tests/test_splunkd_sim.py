"""The splunkd simulator, exercised only through the real splunklib 2.1.1 and solnlib 7.0.0 clients."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List

import pytest
import requests
from solnlib.credentials import CredentialManager, CredentialNotExistException
from solnlib.modular_input.checkpointer import KVStoreCheckpointer
from splunklib import binding, client, data

from tests.sim.splunkd_sim import MASK, SplunkdSimulator, no_client_backoff

APP = "TA-audit-trail"
KEY = "sim-session-key"
# The realm UCC uses for an account tab: it holds '#' and '/', both of which must survive the round trip.
REALM = "__REST_CREDENTIAL__#TA-audit-trail#configs/conf-ta_audit_trail_account"
KIND = "ringcentral_audit"
COLLECTION = "ta_audit_trail_checkpoints"
SEP = "``splunk_cred_sep``"


@pytest.fixture
def sd() -> Iterator[SplunkdSimulator]:
    sim = SplunkdSimulator(app=APP, session_key=KEY, tls=True).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    return no_client_backoff(monkeypatch)


def _creds(sd: SplunkdSimulator, realm: str = REALM, session_key: str = KEY) -> CredentialManager:
    return CredentialManager(session_key, APP, realm=realm, scheme=sd.scheme, host=sd.host, port=sd.port)


def _checkpointer(sd: SplunkdSimulator, name: str = COLLECTION) -> KVStoreCheckpointer:
    return KVStoreCheckpointer(name, sd.session_key, APP, scheme=sd.scheme, host=sd.host, port=sd.port)


def _service(sd: SplunkdSimulator, **namespace: str) -> client.Service:
    namespace = namespace or {"owner": "nobody", "app": APP}
    return client.connect(host=sd.host, port=sd.port, scheme=sd.scheme, token=sd.session_key, **namespace)


def _entries(response: Any) -> List[Dict[str, Any]]:
    """Parse an Atom feed with splunklib's own loader, as its collections do."""
    feed = data.load(response.body.read().decode("utf-8"))["feed"]
    entries = feed.get("entry", [])
    return entries if isinstance(entries, list) else [entries]


def _statuses(sd: SplunkdSimulator, fragment: str) -> List[int]:
    return [r["status"] for r in sd.requests if fragment in r["path"]]


# ------------------------------------------------------------------------------------------- transport, auth
def test_server_uri_is_https_on_loopback_and_cert_verifies_against_ca(sd: SplunkdSimulator) -> None:
    assert sd.server_uri == f"https://127.0.0.1:{sd.port}"
    reply = requests.get(
        f"{sd.server_uri}/services/server/info", headers={"Authorization": f"Splunk {KEY}"}, verify=sd.ca_path
    )
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/xml")


def test_plain_http_mode_serves_the_same_api() -> None:
    with SplunkdSimulator(app=APP, session_key=KEY, tls=False) as sim:
        assert sim.server_uri.startswith("http://127.0.0.1:")
        assert _service(sim).info["version"].startswith("9.")


def test_request_without_session_key_gets_401_with_splunkd_xml_body(sd: SplunkdSimulator) -> None:
    reply = requests.get(f"{sd.server_uri}/services/server/info", verify=sd.ca_path)
    assert reply.status_code == 401
    assert '<msg type="WARN">call not properly authenticated</msg>' in reply.text
    assert sd.requests[-1]["status"] == 401


def test_wrong_session_key_raises_authentication_error_in_splunklib(sd: SplunkdSimulator) -> None:
    service = client.Service(host=sd.host, port=sd.port, scheme=sd.scheme, token="expired", owner="nobody", app=APP)
    with pytest.raises(binding.AuthenticationError) as caught:
        service.storage_passwords.list()
    assert caught.value.status == 401


def test_wrong_session_key_raises_authentication_error_in_solnlib(sd: SplunkdSimulator, pauses: List[float]) -> None:
    with pytest.raises(binding.AuthenticationError):
        _creds(sd, session_key="expired").get_password("account")
    # solnlib retries HTTPError subclasses too: 4 attempts, each re-sent once by splunklib's autologin.
    assert _statuses(sd, "storage/passwords") == [401] * 8
    assert pauses == [1, 2, 4]


def test_unknown_endpoint_is_404_with_error_body_and_is_recorded(sd: SplunkdSimulator) -> None:
    with pytest.raises(binding.HTTPError) as caught:
        _service(sd).get("configs/conf-ta_audit_trail_settings")
    assert caught.value.status == 404
    assert str(caught.value).endswith("-- Not Found")
    assert sd.requests[-1]["path"] == f"/servicesNS/nobody/{APP}/configs/conf-ta_audit_trail_settings"


def test_requests_record_method_path_query_and_body(sd: SplunkdSimulator) -> None:
    sd.set_input(KIND, "prod", {"client_id": "abc"})
    _service(sd).post(f"data/inputs/{KIND}/prod", interval="60")
    _service(sd).get(f"data/inputs/{KIND}", count=5)
    post, get = sd.requests
    assert post == {
        "method": "POST",
        "path": f"/servicesNS/nobody/{APP}/data/inputs/{KIND}/prod",
        "query": {},
        "body": "interval=60",
        "status": 200,
    }
    assert get["query"] == {"count": "5"}


# ---------------------------------------------------------------------------- storage/passwords via solnlib
def test_credential_round_trip(sd: SplunkdSimulator) -> None:
    manager = _creds(sd)
    manager.set_password("account", "s3cret")
    assert manager.get_password("account") == "s3cret"
    assert {"realm": REALM, "username": f"account{SEP}1", "clear_password": "s3cret"} in sd.passwords()


def test_900_character_jwt_round_trips_through_255_character_chunks(sd: SplunkdSimulator) -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9." + "x" * 850 + ".sig-" + "y" * 24
    assert len(jwt) == 900
    manager = _creds(sd)
    manager.set_password("jwt", jwt)
    assert manager.get_password("jwt") == jwt
    stored = sd.passwords()
    assert [p["username"] for p in stored] == [f"jwt{SEP}{i}" for i in range(1, 6)]
    assert [len(p["clear_password"]) for p in stored[:4]] == [255, 255, 255, 135]
    assert stored[4]["clear_password"] == CredentialManager.END_MARK
    # The secret travels only in POST bodies, never in a URL.
    for request in sd.requests:
        assert jwt[:255] not in request["path"]
        assert all(jwt[:255] not in value for value in request["query"].values())


def test_colon_in_username_and_unicode_secret_round_trip(sd: SplunkdSimulator) -> None:
    manager = _creds(sd)
    secret = "pä:ss:wörd 🔑 &=+%"
    manager.set_password("acct:prod", secret)
    assert manager.get_password("acct:prod") == secret
    names = [e["title"] for e in _entries(_service(sd).get("storage/passwords", count=-1))]
    assert names == [f"{REALM}:acct\\:prod{SEP}1:", f"{REALM}:acct\\:prod{SEP}2:"]


def test_setting_an_existing_password_updates_it_through_409(sd: SplunkdSimulator) -> None:
    manager = _creds(sd)
    manager.set_password("account", "first-value")
    manager.set_password("account", "second")
    assert manager.get_password("account") == "second"
    assert 409 in _statuses(sd, "storage/passwords")


def test_delete_password_removes_every_chunk(sd: SplunkdSimulator) -> None:
    manager = _creds(sd)
    manager.set_password("jwt", "z" * 600)
    manager.set_password("other", "keep")
    manager.delete_password("jwt")
    assert [p["username"] for p in sd.passwords()] == [f"other{SEP}1", f"other{SEP}2"]
    with pytest.raises(CredentialNotExistException):
        manager.get_password("jwt")
    with pytest.raises(CredentialNotExistException):
        manager.delete_password("jwt")


def test_missing_password_raises_credential_not_exist(sd: SplunkdSimulator) -> None:
    _creds(sd, realm="another-realm").set_password("account", "elsewhere")
    with pytest.raises(CredentialNotExistException):
        _creds(sd).get_password("account")


# ---------------------------------------------------------------------- storage/passwords wire format
def test_password_entry_names_escape_colons_and_backslashes_as_splunkd_does(sd: SplunkdSimulator) -> None:
    passwords = _service(sd).storage_passwords
    colons = passwords.create("changeme", "user:end", ":start")
    assert (colons.name, colons.realm, colons.username) == ("\\:start:user\\:end:", ":start", "user:end")
    slashes = passwords.create("changeme", "\\user", "\\realm")
    assert slashes.name == "\\\\realm:\\\\user:"
    no_realm = passwords.create("changeme", "solo")
    assert (no_realm.name, no_realm.realm) == (":solo:", None)
    assert no_realm.clear_password == "changeme"
    assert no_realm.content["password"] == MASK
    assert no_realm.encrypted_password.startswith("$7$")
    assert "changeme" not in no_realm.encrypted_password
    # splunkd resolves an entry with or without its trailing colon.
    assert ":solo" in passwords
    assert ":solo:" in passwords
    colons.delete()
    assert [p.name for p in passwords.list()] == [":solo:", "\\\\realm:\\\\user:"]


def test_duplicate_password_create_is_409(sd: SplunkdSimulator) -> None:
    passwords = _service(sd).storage_passwords
    passwords.create("one", "user", "realm")
    with pytest.raises(binding.HTTPError) as caught:
        passwords.create("two", "user", "realm")
    assert caught.value.status == 409
    assert "already exists" in str(caught.value)


def test_password_listing_honours_count_offset_search_and_json(sd: SplunkdSimulator) -> None:
    passwords = _service(sd).storage_passwords
    for index in range(5):
        passwords.create(f"pw{index}", f"user{index}", f"realm{index % 2}")
    service = _service(sd)
    page = service.get("storage/passwords", count=2, offset=1)
    feed = data.load(page.body.read().decode("utf-8"))["feed"]
    assert feed["totalResults"] == "5"
    assert [e["title"] for e in feed["entry"]] == ["realm0:user2:", "realm0:user4:"]
    default_page = _entries(service.get("storage/passwords"))
    assert len(default_page) == 5
    searched = [p.username for p in passwords.list(search="realm=realm1")]
    assert searched == ["user1", "user3"]
    body = json.loads(service.get("storage/passwords", output_mode="json", count=0).body.read())
    assert body["paging"] == {"total": 5, "perPage": 5, "offset": 0}
    first = body["entry"][0]
    assert first["name"] == "realm0:user0:"
    assert first["content"]["clear_password"] == "pw0"
    assert first["content"]["password"] == MASK
    assert first["acl"]["app"] == APP


def test_passwords_are_scoped_to_their_app_namespace(sd: SplunkdSimulator) -> None:
    _creds(sd).set_password("account", "value")
    other_app = _service(sd, owner="nobody", app="search").storage_passwords
    assert other_app.list() == []
    everywhere = client.Service(host=sd.host, port=sd.port, scheme=sd.scheme, token=KEY).storage_passwords
    assert len(everywhere.list()) == 2


# ------------------------------------------------------------------------------ KVStoreCheckpointer via solnlib
def test_checkpointer_creates_the_missing_collection(sd: SplunkdSimulator) -> None:
    _checkpointer(sd)
    assert sd.kv_collection(COLLECTION) == {}
    assert sd.kv_collection_config(COLLECTION) == {"field.state": "string"}
    assert _statuses(sd, "storage/collections/config") == [404, 201, 200]
    _checkpointer(sd)
    assert _statuses(sd, "storage/collections/config")[3:] == [200, 200]


def test_checkpointer_get_update_batch_update_and_delete(sd: SplunkdSimulator) -> None:
    checkpoints = _checkpointer(sd)
    assert checkpoints.get("prod") is None
    state = {"version": 1, "bookmark": "2024-05-01T00:00:00Z", "recent_ids": ["a", "b"]}
    checkpoints.update("prod", state)
    assert checkpoints.get("prod") == state
    assert sd.kv_collection(COLLECTION)["prod"]["state"] == json.dumps(state)
    checkpoints.batch_update([{"_key": "eu", "state": 1}, {"_key": "us", "state": "x"}])
    assert (checkpoints.get("eu"), checkpoints.get("us")) == (1, "x")
    checkpoints.delete("prod")
    assert checkpoints.get("prod") is None
    checkpoints.delete("prod")
    assert sorted(sd.kv_collection(COLLECTION)) == ["eu", "us"]


def test_kv_data_endpoint_speaks_splunkd_json(sd: SplunkdSimulator) -> None:
    service = _service(sd)
    service.kvstore.create("scratch", fields={"n": "number"})
    collection = service.kvstore["scratch"].data
    generated = collection.insert({"n": 1, "tag": "a"})["_key"]
    assert len(generated) == 24
    assert collection.insert({"_key": "k/2", "n": 2, "tag": "b"}) == {"_key": "k/2"}
    assert collection.batch_save({"_key": "k3", "n": 3}, {"_key": "k/2", "n": 20}) == ["k3", "k/2"]
    assert collection.query_by_id("k/2") == {"n": 20, "_user": "nobody", "_key": "k/2"}
    assert [d["n"] for d in collection.query(query={"n": {"$gte": 3}}, sort="n:-1")] == [20, 3]
    assert collection.query(query={"tag": "a"}, fields="tag") == [{"tag": "a", "_key": generated}]
    with pytest.raises(binding.HTTPError) as caught:
        collection.query_by_id("missing")
    assert caught.value.status == 404
    assert json.loads(caught.value.body) == {"messages": [{"type": "ERROR", "text": "Could not find object."}]}
    collection.delete_by_id("k3")
    collection.delete(json.dumps({"tag": "a"}))
    assert list(sd.kv_collection("scratch")) == ["k/2"]


def test_kv_collection_config_is_404_when_missing(sd: SplunkdSimulator) -> None:
    with pytest.raises(KeyError):
        _service(sd).kvstore["nope"]
    assert sd.requests[-1]["status"] == 404


# ------------------------------------------------------------------------------------------ KV store disabled
def test_kvstore_disabled_makes_checkpointer_constructor_raise_http_503(
    sd: SplunkdSimulator, pauses: List[float]
) -> None:
    sd.kvstore_enabled = False
    with pytest.raises(binding.HTTPError) as caught:
        _checkpointer(sd)
    assert type(caught.value) is binding.HTTPError
    assert caught.value.status == 503
    assert "KV Store is disabled." in str(caught.value)
    # urllib3 Retry (5 re-sends on 5xx, https pools only) inside each of solnlib's 4 attempts.
    assert _statuses(sd, "storage/collections") == [503] * 24
    assert pauses == [1, 2, 4]


def test_kvstore_disabled_data_only_fails_on_first_get_and_update(sd: SplunkdSimulator, pauses: List[float]) -> None:
    sd.kvstore_enabled = False
    sd.kvstore_config_readable_when_disabled = True
    checkpoints = _checkpointer(sd)
    with pytest.raises(binding.HTTPError) as on_get:
        checkpoints.get("prod")
    with pytest.raises(binding.HTTPError) as on_update:
        checkpoints.update("prod", {"v": 1})
    assert on_get.value.status == on_update.value.status == 503
    assert json.loads(on_get.value.body)["messages"][0]["text"] == "KV Store is disabled."


def test_server_info_and_kvstore_status_report_the_kv_store_state(sd: SplunkdSimulator) -> None:
    service = _service(sd)
    assert service.info["kvStoreStatus"] == "ready"
    sd.kvstore_enabled = False
    service = _service(sd)
    assert service.info["kvStoreStatus"] == "disabled"
    status = _entries(service.get("/services/kvstore/status"))[0]["content"]["current"]
    assert (status["status"], status["disabled"]) == ("disabled", "1")


# -------------------------------------------------------------------------------------------- splunkd 5xx
def test_one_5xx_is_absorbed_by_solnlib_retry(sd: SplunkdSimulator, pauses: List[float]) -> None:
    manager = _creds(sd)
    manager.set_password("account", "value")
    sd.fail_next("storage/passwords", 500)
    assert manager.get_password("account") == "value"
    assert _statuses(sd, "storage/passwords")[-2:] == [500, 200]
    assert pauses == [1]


def test_persistent_5xx_raises_http_error_after_four_attempts(sd: SplunkdSimulator, pauses: List[float]) -> None:
    manager = _creds(sd)
    manager.set_password("account", "value")
    sd.clear_requests()
    sd.fail_next("storage/passwords", 500, count=10, text="Internal error: disk full")
    with pytest.raises(binding.HTTPError) as caught:
        manager.get_password("account")
    assert type(caught.value) is binding.HTTPError
    assert caught.value.status == 500
    assert str(caught.value) == "HTTP 500 Internal Server Error -- Internal error: disk full"
    assert _statuses(sd, "storage/passwords") == [500] * 4
    assert pauses == [1, 2, 4]


def test_kv_5xx_is_absorbed_by_urllib3_retry_without_solnlib_retry(sd: SplunkdSimulator, pauses: List[float]) -> None:
    checkpoints = _checkpointer(sd)
    sd.fail_next(f"data/{COLLECTION}/prod", 503, count=2)
    assert checkpoints.get("prod") is None
    assert _statuses(sd, f"data/{COLLECTION}/prod") == [503, 503, 404]
    assert pauses == []


def test_fail_next_is_consumed_then_normal_service_resumes(sd: SplunkdSimulator) -> None:
    service = _service(sd)
    sd.fail_next("server/info", 502, count=2)
    for _ in range(2):
        with pytest.raises(binding.HTTPError) as caught:
            service.get("/services/server/info")
        assert caught.value.status == 502
    assert service.get("/services/server/info").status == 200


def test_hang_accepts_reads_and_never_answers_until_released(sd: SplunkdSimulator) -> None:
    quick = client.Service(handler=binding.handler(timeout=0.5), scheme=sd.scheme, host=sd.host, port=sd.port,
                           token=sd.session_key, owner="nobody", app=APP)
    sd.hang("storage/collections/data", count=1)
    sd.hang("server/info")
    with pytest.raises(OSError):  # a socket timeout: the request was accepted, never answered
        quick.get(f"storage/collections/data/{COLLECTION}/prod")
    assert _checkpointer(sd).get("prod") is None, "a counted hang is used up"
    with pytest.raises(OSError):
        quick.get("/services/server/info")
    with pytest.raises(OSError):
        quick.get("/services/server/info")
    assert [r["status"] for r in sd.requests if "server/info" in r["path"]] == ["hung", "hung"]
    sd.clear_hangs()
    assert quick.get("/services/server/info").status == 200


def test_put_kv_document_stores_what_a_client_could_not_read(sd: SplunkdSimulator) -> None:
    checkpoints = _checkpointer(sd)  # creates the collection
    sd.put_kv_document(COLLECTION, "prod", {"state": '{"version": 2, "watermark_ms": 17'})
    assert sd.kv_collection(COLLECTION)["prod"]["state"] == '{"version": 2, "watermark_ms": 17'
    with pytest.raises(ValueError):
        checkpoints.get("prod")
    with pytest.raises(KeyError):
        sd.put_kv_document("no_such_collection", "prod", {"state": "{}"})


# ------------------------------------------------------------------------------------------------ data/inputs
def test_posting_a_masked_secret_rewrites_the_stanza(sd: SplunkdSimulator) -> None:
    sd.set_input(KIND, "prod", {"client_id": "abc", "client_secret": "s3cret", "interval": 300, "disabled": False})
    service = _service(sd)
    service.post(f"data/inputs/{KIND}/prod", client_secret=MASK)
    assert sd.inputs_conf(KIND, "prod") == {
        "client_id": "abc",
        "client_secret": MASK,
        "interval": "300",
        "disabled": "0",
    }
    entry = _entries(service.get(f"data/inputs/{KIND}/prod"))[0]
    assert entry["title"] == "prod"
    content = entry["content"]
    assert (content["client_secret"], content["client_id"], content["index"]) == (MASK, "abc", "default")
    assert content["eai:acl"]["app"] == APP


def test_input_entity_update_through_the_inputs_collection(sd: SplunkdSimulator) -> None:
    sd.set_input(KIND, "prod", {"client_secret": "s3cret"})
    sd.set_input(KIND, "dev", {"client_secret": "other"})
    service = _service(sd)
    prod = service.inputs["prod", KIND]
    assert prod.kind == KIND
    prod.update(client_secret=MASK)
    prod.refresh()
    assert prod.content["client_secret"] == MASK
    assert sd.inputs_conf(KIND, "dev") == {"client_secret": "other"}
    assert sorted(i.name for i in service.inputs.list(KIND)) == ["dev", "prod"]
    assert service.inputs.kinds == [KIND]
    assert service.inputs["dev"].content["client_secret"] == "other"
    prod.disable()
    assert sd.inputs_conf(KIND, "prod")["disabled"] == "1"


def test_script_style_service_without_namespace_reaches_the_same_stanza(sd: SplunkdSimulator) -> None:
    sd.set_input(KIND, "prod", {"client_secret": "s3cret"})
    # splunklib.modularinput.Script.service builds exactly this: no owner, no app.
    service = client.Service(scheme=sd.scheme, host=sd.host, port=sd.port, token=sd.session_key)
    service.post(f"data/inputs/{KIND}/prod", client_secret=MASK)
    assert sd.requests[-1]["path"] == f"/services/data/inputs/{KIND}/prod"
    assert sd.inputs_conf(KIND, "prod") == {"client_secret": MASK}


def test_declared_scheme_rejects_unknown_arguments_with_400(sd: SplunkdSimulator) -> None:
    sd.set_input(KIND, "prod", {"client_id": "abc"}, scheme_args=["client_id", "client_secret"])
    service = _service(sd)
    service.post(f"data/inputs/{KIND}/prod", client_secret=MASK, interval="60")
    with pytest.raises(binding.HTTPError) as caught:
        service.post(f"data/inputs/{KIND}/prod", clientsecret=MASK)
    assert caught.value.status == 400
    assert sd.inputs_conf(KIND, "prod") == {"client_id": "abc", "client_secret": MASK, "interval": "60"}


def test_missing_input_is_404(sd: SplunkdSimulator) -> None:
    sd.set_input(KIND, "prod", {})
    service = _service(sd)
    with pytest.raises(KeyError):
        service.inputs["staging", KIND]
    with pytest.raises(binding.HTTPError) as caught:
        service.post(f"data/inputs/{KIND}/staging", client_secret=MASK)
    assert caught.value.status == 404
    with pytest.raises(binding.HTTPError):
        service.get("data/inputs/unknown_kind/prod")
