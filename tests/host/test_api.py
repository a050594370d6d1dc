"""The JSON API: spawn, exit, tree, registry pages; auth, permissions and bad input."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import quote

import pytest
from django.test import AsyncClient

from supervision import commands
from supervision import host as hosting
from supervision import runtime as rt
from supervision.greeter import REGISTRY
from supervision.models import AuditLog
from tests.host.conftest import eventually

pytestmark = pytest.mark.django_db(transaction=True)


async def post(client: AsyncClient, url: str, body: object) -> tuple[int, dict]:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    r = await client.post(url, raw, content_type="application/json")
    return r.status_code, r.json()


async def test_spawn_returns_201_with_the_pid_and_the_greeter_runs(host, staff_client):
    status, body = await post(staff_client, "/api/greeters", {"name": "Ann", "lifetime": 30})
    assert status == 201, body
    pid = rt.Pid.parse(body["pid"])
    assert body["name"] == "Ann" and body["lifetime"] == 30
    where = await host.run(_whereis(rt.via(REGISTRY, "greeter_for_Ann")))
    assert where == pid


async def _whereis(name):
    return rt.whereis(name)


async def test_spawn_of_a_running_name_is_409_with_the_running_pid(host, staff_client):
    _, first = await post(staff_client, "/api/greeters", {"name": "Bob", "lifetime": 30})
    status, body = await post(staff_client, "/api/greeters", {"name": "  Bob  "})  # the same after trimming
    assert status == 409
    assert body["pid"] == first["pid"] and "already running" in body["error"]


async def test_spawn_with_lifetime_zero_greets_once_and_is_gone(host, staff_client):
    status, body = await post(staff_client, "/api/greeters", {"name": "Cy"})
    assert status == 201
    pid = rt.Pid.parse(body["pid"])
    await eventually(lambda: not host.node.is_alive(pid))
    assert await host.run(_lookup("greeter_for_Cy")) == []


async def _lookup(key):
    return rt.Registry.lookup(REGISTRY, key)


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "200"),
        ({"name": "tab\there"}, "control"),
        ({"name": "nl\nhere"}, "control"),
        ({"name": "nul\x00"}, "control"),
        ({"name": 42}, "name must be a string"),
        ({"name": ["a"]}, "name must be a string"),
        ({"name": "a", "lifetime": -1}, "lifetime"),
        ({"name": "a", "lifetime": 86_401}, "lifetime"),
        ({"name": "a", "lifetime": "5"}, "lifetime must be a number"),
        ({"name": "a", "lifetime": True}, "lifetime must be a number"),
        ({"name": "a", "colour": "red"}, "unknown field"),
        ({}, "name"),
        ([], "JSON object"),
        ("not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
async def test_bad_spawn_input_is_400_with_a_message(host, staff_client, body, fragment):
    status, answer = await post(staff_client, "/api/greeters", body)
    assert status == 400
    assert fragment in answer["error"]


async def test_nan_and_infinite_lifetimes_are_refused(host, staff_client):
    for raw in (
        '{"name": "a", "lifetime": NaN}',
        '{"name": "a", "lifetime": Infinity}',
        '{"name": "a", "lifetime": 1e999}',
    ):
        status, answer = await post(staff_client, "/api/greeters", raw)
        assert status == 400, raw
        assert "lifetime" in answer["error"]


async def test_api_needs_a_login_and_control_rights(host, viewer_client):
    status, body = await post(AsyncClient(), "/api/greeters", {"name": "Ann"})
    assert status == 401 and "log in" in body["error"]
    status, body = await post(viewer_client, "/api/greeters", {"name": "Ann"})
    assert status == 403
    status, body = await post(viewer_client, "/api/processes/<0.1.0>/exit", {"reason": "kill"})
    assert status == 403
    r = await AsyncClient().get("/api/tree")
    assert r.status_code == 401
    r = await viewer_client.get("/api/tree")  # viewing is for any logged-in user
    assert r.status_code == 200


async def test_api_enforces_csrf_for_session_auth(host, staff):
    client = AsyncClient(enforce_csrf_checks=True)
    await client.aforce_login(staff)
    r = await client.post("/api/greeters", json.dumps({"name": "Ann"}), content_type="application/json")
    assert r.status_code == 403  # no token
    await client.get("/")  # the page sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    r = await client.post(
        "/api/greeters", json.dumps({"name": "Ann"}), content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert r.status_code == 201


async def test_exit_with_each_reason(host, staff_client):
    for reason, restarted in (("crash", True), ("kill", True), ("shutdown", False), ("normal", False)):
        name = f"exit-{reason}"
        _, body = await post(staff_client, "/api/greeters", {"name": name, "lifetime": 60})
        pid = body["pid"]
        status, answer = await post(staff_client, f"/api/processes/{quote(pid)}/exit", {"reason": reason})
        assert status == 200, answer
        assert answer["pid"] == pid and answer["reason"] == reason
        old = rt.Pid.parse(pid)
        assert not host.node.is_alive(old)
        if restarted:  # transient: an abnormal exit restarts it under a new pid, same name
            new = await eventually(lambda n=name: host.run(_whereis(rt.via(REGISTRY, f"greeter_for_{n}"))))
            assert new != old
        else:
            await eventually(lambda n=name: _gone(host, n))


async def _gone(host, name):
    return await host.run(_lookup(f"greeter_for_{name}")) == []


async def test_exit_errors(host, staff_client):
    status, body = await post(staff_client, f"/api/processes/{quote('<0.999999.0>')}/exit", {"reason": "kill"})
    assert status == 404 and "no process" in body["error"]
    status, body = await post(staff_client, "/api/processes/not-a-pid/exit", {"reason": "kill"})
    assert status == 400 and "pid" in body["error"]
    status, body = await post(staff_client, f"/api/processes/{quote('<0.1.0>')}/exit", {"reason": "explode"})
    assert status == 400 and "reason" in body["error"]
    status, body = await post(staff_client, f"/api/processes/{quote('<0.1.0>')}/exit", {"reason": "kill", "x": 1})
    assert status == 400 and "unknown field" in body["error"]
    status, body = await post(staff_client, f"/api/processes/{quote('<0.1.0>')}/exit", {})
    assert status == 400 and "reason" in body["error"]  # no default: stopping is always asked for


async def test_unknown_api_urls_are_json_404s(staff_client):
    for url in ("/api/processes//exit", "/api/registry/", "/api/", "/api/nothing/here"):
        r = await staff_client.get(url)
        assert r.status_code == 404 and "no such API endpoint" in r.json()["error"], url


async def test_a_failed_csrf_check_on_the_api_is_json(staff):
    client = AsyncClient(enforce_csrf_checks=True)
    await client.aforce_login(staff)
    r = await client.post(
        "/api/greeters", '{"name": "x"}', content_type="application/json", headers={"X-CSRFToken": "bad"}
    )
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = await client.post("/greeters/spawn", {"name": "x"})
    assert r.status_code == 403 and "text/html" in r["Content-Type"]


async def test_every_command_is_audited_with_user_source_and_result(host, staff_client):
    await post(staff_client, "/api/greeters", {"name": "Audited", "lifetime": 60})
    await post(staff_client, "/api/greeters", {"name": "Audited", "lifetime": 60})
    await post(staff_client, f"/api/processes/{quote('<0.999999.0>')}/exit", {"reason": "kill"})
    rows = [r async for r in AuditLog.objects.order_by("id")]
    assert [(r.username, r.source, r.action, r.target, r.ok) for r in rows] == [
        ("ops", "api", "spawn", "Audited", True),
        ("ops", "api", "spawn", "Audited", False),
        ("ops", "api", "exit", "<0.999999.0>", False),
    ]
    assert "already running" in rows[1].result


async def test_tree_json_shows_the_seed_tree_with_strategy_and_budget(host, staff_client):
    for i in range(25):
        await post(staff_client, "/api/greeters", {"name": f"t{i}", "lifetime": 60})
    feed = await host.feed()
    await eventually(lambda: sum(1 for p in feed.mirror.procs.values() if p.kind == "Greeter") == 25)
    r = await staff_client.get("/api/tree")
    body = r.json()
    [root] = body["tree"]
    assert root["name"] == "supervision.root" and root["strategy"] == "rest_for_one"
    assert root["max_restarts"] == 3 and root["restarts_in_window"] == 0
    subs = {s["name"]: s for s in root["supervisors"]}
    dyn = subs["GreeterSupervisor"]
    assert dyn["strategy"] == "one_for_one" and dyn["workers"]["total"] == 25 and dyn["workers"]["pages"] == 2
    assert len(dyn["workers"]["items"]) == 20
    assert subs["GreeterRegistry"]["keys"] == "unique"
    r = await staff_client.get("/api/tree", {"tree_q": "greeter_for_t1"})  # t1, t10..t19
    dyn = {s["name"]: s for s in r.json()["tree"][0]["supervisors"]}["GreeterSupervisor"]
    assert dyn["workers"]["total"] == 11
    r = await staff_client.get("/api/tree", {"sup": dyn["pid"], "page": 2})
    dyn = {s["name"]: s for s in r.json()["tree"][0]["supervisors"]}["GreeterSupervisor"]
    assert dyn["workers"]["page"] == 2 and len(dyn["workers"]["items"]) == 5


async def test_registry_json_pages_and_searches(host, staff_client):
    for i in range(30):
        await post(staff_client, "/api/greeters", {"name": f"r{i}", "lifetime": 60})
    feed = await host.feed()
    await eventually(lambda: len(feed.mirror.registries[REGISTRY].rows) == 30)
    body = (await staff_client.get(f"/api/registry/{REGISTRY}")).json()
    assert (body["total"], body["pages"], len(body["entries"])) == (30, 2, 20)
    entry = body["entries"][0]
    assert set(entry) == {"key", "pid", "value", "registered_at"} and entry["key"].startswith("greeter_for_r")
    body = (await staff_client.get(f"/api/registry/{REGISTRY}", {"q": "greeter_for_r2", "page": 1})).json()
    assert body["total"] == 11  # r2 and r20..r29
    r = await staff_client.get("/api/registry/NoSuchRegistry")
    assert r.status_code == 404 and REGISTRY in r.json()["registries"]


async def test_the_root_supervisor_cannot_be_stopped_from_outside(host, staff_client):
    for reason in ("kill", "normal", "crash"):
        status, body = await post(staff_client, f"/api/processes/{quote(str(host.root))}/exit", {"reason": reason})
        assert status == 409 and "root supervisor" in body["error"]
    assert host.node.is_alive(host.root)


async def test_healthz_is_503_once_the_tree_is_gone(host):
    assert (await AsyncClient().head("/healthz")).status_code == 200  # load balancers probe with HEAD

    async def kill_root():
        rt.node().exit(host.root, "kill")

    await host.run(kill_root())
    r = await AsyncClient().get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "down"


async def test_healthz_and_metrics(host):
    r = await AsyncClient().get("/healthz")  # open: no login
    assert r.status_code == 200 and r.json()["status"] == "ok"
    text = (await AsyncClient().get("/metrics")).content.decode()
    assert "supervision_node_up 1.0" in text
    assert 'supervision_registry_entries{registry="GreeterRegistry"} 0.0' in text
    assert 'supervision_exits_total{reason="normal"}' in text
    assert "supervision_event_lag" in text and "supervision_ws_frames_dropped_total" in text
    host.stop(10)
    r = await AsyncClient().get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "down"
    text = (await AsyncClient().get("/metrics")).content.decode()
    assert "supervision_node_up 0.0" in text


async def _block_the_node(seconds):
    time.sleep(seconds)  # a stalled node loop: nothing on it runs meanwhile


async def test_a_command_the_node_does_not_answer_in_time_is_504_and_says_it_may_still_happen(
    host, staff_client, monkeypatch
):
    monkeypatch.setattr(hosting.Host.run, "__defaults__", (0.2,))  # COMMAND_TIMEOUT, shortened
    monkeypatch.setattr(commands, "STOP_TIMEOUT", 0.1)
    monkeypatch.setattr(commands, "ANSWER_GRACE", 0.1)
    stall = host.thread.submit(_block_the_node(1.0))
    status, body = await post(staff_client, "/api/greeters", {"name": "Late"})
    assert status == 504 and "may still start" in body["error"], body
    status, body = await post(staff_client, f"/api/processes/{quote(str(host.root))}/exit", {"reason": "kill"})
    assert status == 409  # the root is refused before the node is asked
    pid = host.node.whereis("GreeterSupervisor")  # a plain read: the node's loop need not run
    status, body = await post(staff_client, f"/api/processes/{quote(str(pid))}/exit", {"reason": "kill"})
    assert status == 504 and "may still exit" in body["error"], body
    await asyncio.wrap_future(stall)
    entry = await AuditLog.objects.filter(target="Late").afirst()
    assert entry is not None and "may still start" in entry.result


async def test_greeters_past_the_servers_limit_are_503(staff_client, settings):
    settings.SUPERVISION_MAX_GREETERS = 2
    h = hosting.from_settings(name="capped").start()
    previous = hosting.install(h)
    try:
        for name in ("c1", "c2"):
            assert (await post(staff_client, "/api/greeters", {"name": name, "lifetime": 60}))[0] == 201
        status, body = await post(staff_client, "/api/greeters", {"name": "c3", "lifetime": 60})
        assert status == 503 and "max_children" in body["error"]
    finally:
        hosting.install(previous)
        h.stop(10)
