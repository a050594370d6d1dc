"""The dashboard in a real browser: log in, spawn, watch it live, crash it, stop it, stay safe."""

from __future__ import annotations

import re
import socket

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, log_in, start_server, stop_server

pytestmark = pytest.mark.django_db(transaction=True)

EVIL = "<img src=x onerror=alert(1)>"


def live(page: Page) -> None:
    """Wait until the websocket has delivered its first frame."""
    expect(page.locator("#node-status[data-live]")).to_have_count(1, timeout=10_000)


def spawn(page: Page, name: str, lifetime: str = "120") -> None:
    page.fill("#spawn-form input[name=name]", name)
    page.fill("#spawn-form input[name=lifetime]", lifetime)
    page.click("#spawn-form button[type=submit]")


def search_tree(page: Page, q: str) -> None:
    page.fill("#tree-search input[name=tree_q]", q)
    page.press("#tree-search input[name=tree_q]", "Enter")


def test_spawn_watch_crash_restart_and_stop_without_reloading(page: Page, live_server_url, staff_user):
    log_in(page, live_server_url)
    live(page)
    page.evaluate("window.__same_page = true")
    search_tree(page, "greeter_for_Ann")
    spawn(page, "Ann")
    expect(page.locator("#spawn-result")).to_contain_text("started the greeter for 'Ann'")

    row = page.locator("#tree tr.worker", has_text="greeter_for_Ann")
    expect(row).to_have_count(1)
    expect(row.locator("td.status")).to_have_text("running")
    expect(page.locator("#registry")).to_contain_text("greeter_for_Ann")
    expect(page.locator("#event-log")).to_contain_text("greeted Ann")
    old_pid = row.locator("a.pid").inner_text()
    assert re.fullmatch(r"<\d+\.\d+\.\d+>", old_pid)

    row.locator("button[value=crash]").click()
    expect(page.locator("#exit-result")).to_contain_text(f"crashed {old_pid}")
    expect(row.locator("td.restarts")).to_have_text("1")  # transient: restarted for an abnormal exit
    expect(row.locator("a.pid")).not_to_have_text(old_pid)
    expect(row.locator("td.last-exit")).to_contain_text("Crash")
    expect(page.locator("#event-log")).to_contain_text("restarted child")

    row.locator("button[value=normal]").click()  # a normal stop: transient, so it stays down
    expect(row).to_have_count(0)
    expect(page.locator("#registry")).not_to_contain_text("greeter_for_Ann")
    assert page.evaluate("window.__same_page") is True  # every change arrived without a reload


def test_a_malicious_name_is_text_everywhere(page: Page, live_server_url, staff_user):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, live_server_url)
    live(page)
    search_tree(page, "onerror")
    spawn(page, EVIL)
    expect(page.locator("#spawn-result")).to_contain_text(EVIL)
    expect(page.locator("#tree tr.worker td.name")).to_have_text(f"greeter_for_{EVIL}")
    expect(page.locator("#registry")).to_contain_text(f"greeter_for_{EVIL}")
    expect(page.locator("#event-log")).to_contain_text(f"greeted {EVIL}")
    assert page.locator("#tree img, #registry img, #event-log img, #spawn-result img").count() == 0
    page.reload()
    live(page)
    assert page.locator("main img").count() == 0
    assert dialogs == []


def test_bad_input_shows_a_message_in_place(page: Page, live_server_url, staff_user):
    log_in(page, live_server_url)
    live(page)
    page.evaluate("document.querySelector('#spawn-form input[name=name]').removeAttribute('required')")
    spawn(page, "   ", "1")
    expect(page.locator("#spawn-result")).to_have_text("name: Give the greeter a name.")
    page.evaluate("document.querySelector('#spawn-form input[name=name]').removeAttribute('maxlength')")
    spawn(page, "x" * 201, "1")
    expect(page.locator("#spawn-result")).to_contain_text("at most 200 characters")


def test_search_paging_and_the_process_panel_over_the_socket(page: Page, live_server_url, staff_user):
    log_in(page, live_server_url)
    live(page)
    for i in range(23):
        page.request.post(
            f"{live_server_url}/api/greeters",
            data={"name": f"pager-{i:02d}", "lifetime": 120},
            headers={"X-CSRFToken": _csrf(page)},
        )
    search_tree(page, "greeter_for_pager-")
    tree = page.locator("#tree")
    expect(tree.locator("tr.worker")).to_have_count(20)
    expect(tree).to_contain_text("page 1 of 2")
    tree.get_by_text("next ›").click()
    expect(tree.locator("tr.worker")).to_have_count(3)
    expect(tree).to_contain_text("page 2 of 2")
    row = tree.locator("tr.worker").first
    pid = row.locator("a.pid").inner_text()
    row.locator("a.pid").click()
    panel = page.locator("#process-panel")
    expect(panel).to_contain_text(pid)
    expect(panel).to_contain_text("Greeter (worker)")
    expect(panel).to_contain_text("mailbox")
    page.fill("#registry-search input[name=reg_q]", "pager-1")
    page.press("#registry-search input[name=reg_q]", "Enter")
    expect(page.locator("#registry .total")).to_have_text("10")


def _csrf(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def test_the_forms_work_without_javascript(browser, live_server_url, staff_user):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server_url)
    spawn(page, "NoScript")
    expect(page.locator("ul.messages")).to_contain_text("started the greeter for 'NoScript'")
    page.goto(f"{live_server_url}/?tree_q=NoScript")
    row = page.locator("#tree tr.worker", has_text="greeter_for_NoScript")
    expect(row).to_have_count(1)
    row.locator("button[value=kill]").click()
    expect(page.locator("ul.messages")).to_contain_text("killed")
    context.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_page_reconnects_and_resyncs_after_the_server_restarts(page: Page, staff_user):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(port)
    try:
        log_in(page, base)
        live(page)
        spawn(page, "Before")
        expect(page.locator("#registry")).to_contain_text("greeter_for_Before")
        stop_server(server)  # the socket drops (1006); the node and its greeters are gone
        server = start_server(port)
        # htmx reconnects by itself; the new node's snapshot replaces what the page showed
        expect(page.locator("#registry")).not_to_contain_text("greeter_for_Before", timeout=30_000)
        spawn(page, "After")
        expect(page.locator("#registry")).to_contain_text("greeter_for_After")
    finally:
        stop_server(server)


def test_logging_out_in_another_tab_closes_the_live_page(page: Page, live_server_url, staff_user):
    log_in(page, live_server_url)
    live(page)
    other = page.context.new_page()  # the same session
    other.goto(f"{live_server_url}/")
    other.click("form[action$='/logout/'] button")
    expect(page.locator("#node-status")).to_contain_text("logged out", timeout=15_000)


def test_a_password_change_in_another_tab_keeps_the_live_page_working(page: Page, live_server_url, staff_user):
    log_in(page, live_server_url)
    live(page)
    other = page.context.new_page()  # the same browser: a new session key, the same user
    other.goto(f"{live_server_url}/accounts/password_change/")
    other.fill("input[name=old_password]", PASSWORD)
    other.fill("input[name=new_password1]", "another-Pass-4567")
    other.fill("input[name=new_password2]", "another-Pass-4567")
    other.click("form button[type=submit], form input[type=submit]")
    other.wait_for_url("**/password_change/done/")  # (the context closes it at the end)
    page.wait_for_timeout(7_000)  # past the socket's session check: it closes, then reconnects
    spawn(page, "AfterPasswordChange")
    page.fill("#registry-search input[name=reg_q]", "AfterPasswordChange")  # answered over the socket
    expect(page.locator("#registry")).to_contain_text("greeter_for_AfterPasswordChange", timeout=15_000)
    expect(page.locator("#node-status")).not_to_contain_text("logged out")


def test_the_page_reconnects_when_the_server_closes_with_try_again_codes(page: Page, live_server_url, staff_user):
    # daphne lets the server close only with 4000-codes, which htmx does not retry: our script does
    log_in(page, live_server_url)
    live(page)
    retried = page.evaluate(
        """() => new Promise((resolve) => {
            const closes = [4401, 4008, 4011];  // only the last asks for a reconnect
            const seen = [];
            closes.forEach((code) => {
                const wrapper = {reconnect: () => { seen.push(code); resolve(seen); }};
                document.body.dispatchEvent(new CustomEvent("htmx:wsClose",
                    {bubbles: true, detail: {event: {code: code}, socketWrapper: wrapper}}));
            });
            setTimeout(() => resolve(seen), 3000);
        })"""
    )
    assert retried == [4011]
