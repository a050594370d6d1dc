"""The dashboard page and its forms, with htmx and without JavaScript."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.test import AsyncClient

from supervision import host as hosting
from supervision import runtime as rt
from supervision.greeter import REGISTRY
from supervision.models import AuditLog
from tests.host.conftest import eventually

pytestmark = pytest.mark.django_db(transaction=True)

HX = {"HX-Request": "true"}
EVIL = "<img src=x onerror=alert(1)>"


async def greeters(host) -> int:
    feed = await host.feed()
    return sum(1 for p in feed.mirror.procs.values() if p.kind == "Greeter")


async def test_the_page_needs_a_login(host):
    r = await AsyncClient().get("/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    r = await AsyncClient().get("/accounts/login/")
    assert r.status_code == 200 and b"Log in" in r.content


async def test_the_page_shows_the_tree_registry_log_forms_and_the_socket(host, staff_client):
    r = await staff_client.get("/")
    html = r.content.decode()
    assert r.status_code == 200
    for needle in ('id="tree"', 'id="registry"', 'id="event-log"', 'id="process-panel"', 'ws-connect="/ws/dashboard/?',
                   "supervision.root", "GreeterSupervisor", "GreeterRegistry", "rest_for_one", "restarts 0/3 in 5s",
                   'name="csrfmiddlewaretoken"', "htmx-2.0.11.min.js", "htmx-ext-ws-2.0.4.min.js"):  # fmt: skip
        assert needle in html, needle


async def test_spawn_by_htmx_answers_a_fragment_and_the_tree_shows_the_greeter(host, staff_client):
    r = await staff_client.post("/greeters/spawn", {"name": "Ann", "lifetime": "30"}, headers=HX)
    assert r.status_code == 201
    html = r.content.decode()
    assert html.startswith('<div id="spawn-result" class="result ok"') and "greeter for &#x27;Ann&#x27;" in html
    await eventually(lambda: greeters(host))
    page = (await staff_client.get("/")).content.decode()
    assert "greeter_for_Ann" in page


async def test_spawn_without_javascript_redirects_with_a_message(host, staff_client):
    r = await staff_client.post("/greeters/spawn", {"name": "Bea", "lifetime": "30"})
    assert r.status_code == 302 and r["Location"] == "/"
    page = (await staff_client.get("/")).content.decode()
    assert "started the greeter for &#x27;Bea&#x27;" in page


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": ""}, "Give the greeter a name."),
        ({"name": "   "}, "Give the greeter a name."),
        ({"name": "x" * 201}, "at most 200 characters"),
        ({"name": "a\x07b"}, "control characters"),
        ({"name": "ok", "lifetime": "-1"}, "lifetime"),
        ({"name": "ok", "lifetime": "nan"}, "lifetime"),
        ({"name": "ok", "lifetime": "1e9"}, "lifetime"),
        ({"name": "ok", "lifetime": "soon"}, "lifetime"),
    ],
)
async def test_bad_form_input_gets_a_clear_message_never_a_500(host, staff_client, data, message):
    r = await staff_client.post("/greeters/spawn", data, headers=HX)
    assert r.status_code == 400 and message in r.content.decode()
    r = await staff_client.post("/greeters/spawn", data)  # without JavaScript: the page, with the message
    assert r.status_code == 400
    html = r.content.decode()
    assert message in html and 'id="tree"' in html
    assert await greeters(host) == 0


async def test_a_malicious_name_is_text_everywhere(host, staff_client, staff):
    r = await staff_client.post("/greeters/spawn", {"name": EVIL, "lifetime": "30"}, headers=HX)
    assert r.status_code == 201 and EVIL not in r.content.decode()
    await eventually(lambda: greeters(host))
    page = (await staff_client.get("/")).content.decode()
    assert EVIL not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    # the audit log in the admin escapes it too
    admin = AsyncClient()
    staff.is_superuser = True
    await staff.asave()
    await admin.aforce_login(staff)
    r = await admin.get("/admin/supervision/auditlog/")
    assert r.status_code == 200
    assert EVIL not in r.content.decode() and "&lt;img src=x onerror=alert(1)&gt;" in r.content.decode()


async def test_a_taken_name_answers_with_the_running_pid(host, staff_client):
    await staff_client.post("/greeters/spawn", {"name": "Dup", "lifetime": "30"}, headers=HX)
    r = await staff_client.post("/greeters/spawn", {"name": "Dup"}, headers=HX)
    assert r.status_code == 409
    pid = await host.run(_whereis(rt.via(REGISTRY, "greeter_for_Dup")))
    assert f"already running as {pid}".replace("<", "&lt;").replace(">", "&gt;") in r.content.decode()


async def _whereis(name):
    return rt.whereis(name)


async def test_viewers_see_the_page_but_may_not_spawn_or_kill(host, viewer_client):
    page = (await viewer_client.get("/")).content.decode()
    assert "(read-only)" in page
    r = await viewer_client.post("/greeters/spawn", {"name": "Nope"}, headers=HX)
    assert r.status_code == 403 and "staff only" in r.content.decode()
    r = await viewer_client.post("/processes/exit", {"pid": str(host.root), "reason": "kill"}, headers=HX)
    assert r.status_code == 403
    assert host.node.is_alive(host.root)
    refused = [(a.username, a.action, a.target, a.ok) async for a in AuditLog.objects.order_by("id")]
    assert refused == [("viewer", "spawn", "Nope", False), ("viewer", "exit", str(host.root), False)]


async def test_exit_form_crash_restarts_a_transient_greeter_and_stop_ends_it(host, staff_client):
    r = await staff_client.post("/greeters/spawn", {"name": "Eve", "lifetime": "60"}, headers=HX)
    pid = re.search(r"as (&lt;[\d.]+&gt;)", r.content.decode()).group(1).replace("&lt;", "<").replace("&gt;", ">")
    r = await staff_client.post("/processes/exit", {"pid": pid, "reason": "crash"}, headers=HX)
    assert r.status_code == 200 and "crashed" in r.content.decode()
    new = await eventually(lambda: host.run(_whereis(rt.via(REGISTRY, "greeter_for_Eve"))))
    assert str(new) != pid
    r = await staff_client.post("/processes/exit", {"pid": str(new), "reason": "normal"})  # no JavaScript
    assert r.status_code == 302
    await eventually(lambda: not host.node.is_alive(new))
    assert await host.run(_whereis(rt.via(REGISTRY, "greeter_for_Eve"))) is None
    r = await staff_client.post("/processes/exit", {"pid": "garbage", "reason": "kill"}, headers=HX)
    assert r.status_code == 400 and "&lt;0.42.0&gt;" in r.content.decode()
    r = await staff_client.post("/processes/exit", {"pid": str(new), "reason": "kill"}, headers=HX)
    assert r.status_code == 404


async def test_the_process_panel_shows_links_mailbox_restarts_and_state(host, staff_client):
    r = await staff_client.post("/greeters/spawn", {"name": "Pan", "lifetime": "60"}, headers=HX)
    assert r.status_code == 201
    pid = await host.run(_whereis(rt.via(REGISTRY, "greeter_for_Pan")))
    page = (await staff_client.get("/", {"pid": str(pid)})).content.decode()
    panel = page[page.index('id="process-panel"') :]
    panel = panel[: panel.index("</section>")]
    for needle in ("greeter_for_Pan", "Greeter (worker)", "mailbox", "restarts", "person", "&#x27;Pan&#x27;", "links"):
        assert needle in panel, needle
    r = await staff_client.get("/", {"pid": "<0.99999.0>"})
    assert "is not running" in r.content.decode()


async def test_page_search_and_pagination_work_without_javascript(host, staff_client):
    await host.feed()  # the log holds what happened since the dashboard started watching
    for i in range(25):
        await staff_client.post("/greeters/spawn", {"name": f"pg{i}", "lifetime": "60"}, headers=HX)
    await eventually(lambda: greeters(host))
    feed = await host.feed()
    await eventually(lambda: len(feed.mirror.registries[REGISTRY].rows) == 25)
    page = (await staff_client.get("/", {"tree_q": "greeter_for_pg2"})).content.decode()
    tree = page[page.index('id="tree"') : page.index('id="registry-search"')]
    assert tree.count('class="worker"') == 6  # pg2, pg20..pg24
    dsup = next(p for p in feed.mirror.procs.values() if p.name == "GreeterSupervisor")
    page = (await staff_client.get("/", {"sup": dsup.pid_text, "page": "2"})).content.decode()
    assert "page 2 of 2" in page
    page = (await staff_client.get("/", {"reg_q": "pg1", "registry": REGISTRY})).content.decode()
    assert "matching “pg1”" in page
    page = (await staff_client.get("/", {"registry": "NoSuch"})).content.decode()
    assert "No registry named “NoSuch”" in page
    page = (await staff_client.get("/", {"kind": "greeted"})).content.decode()
    log = page[page.index('id="event-log"') :]
    assert 'class="ev ev-greeted"' in log and 'class="ev ev-started"' not in log


async def test_without_a_node_the_page_says_so(staff_client):
    previous = hosting.install(None)
    try:
        r = await staff_client.get("/")
        assert r.status_code == 503 and "node down" in r.content.decode()
        r = await staff_client.post("/greeters/spawn", {"name": "x"}, headers=HX)
        assert r.status_code == 503
        r = await staff_client.post(
            f"/api/processes/{quote('<0.1.0>')}/exit", '{"reason": "kill"}', content_type="application/json"
        )
        assert r.status_code == 503
    finally:
        hosting.install(previous)
