"""The dashboard page, its forms, the JSON API, and the ops endpoints (/metrics, /healthz).

Views are async and thin: check who asks, validate, hand the command to ``commands``, render.
They run on the web server's loop, where the feed's mirror lives, so reading the tree or a
registry page never waits on the node. Forms work with htmx (a fragment comes back in place)
and without JavaScript (post, redirect, message).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST, require_safe

from supervision import commands, dashboard, metrics
from supervision import host as hosting
from supervision.feed import Feed
from supervision.forms import BadRequest, ExitForm, SpawnForm, first_error, parse_json_object
from supervision.host import NodeDown
from supervision.mirror import reason_text
from supervision.permissions import can_control

log = logging.getLogger("supervision.views")


def _render(request: HttpRequest, template: str, ctx: dict[str, Any], status: int) -> HttpResponse:
    """Render here, on the web loop: the mirror is read where it is written, never from a thread."""
    return HttpResponse(render_to_string(template, ctx, request=request), status=status)


def _htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


# -- the page -------------------------------------------------------------------------------


@never_cache
@login_required
@require_GET
async def index(request: HttpRequest) -> HttpResponse:
    return await _page(request)


async def _page(request: HttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    user = await request.auser()
    view = dashboard.View.from_query(request.GET)
    ctx: dict[str, Any] = {
        "viewer": user,
        "can_control": await can_control(user),
        "view_query": view.query(),
        "exit_reasons": commands.EXIT_REASONS,
        "event_kinds": dashboard.EVENT_KINDS,
        "kinds": view.kinds,
        "spawn_name": "",
        "spawn_lifetime": "",
        "exit_pid": str(view.pid) if view.pid else "",
        "exit_reason": "normal",
    }
    try:
        feed = await hosting.feed()
    except NodeDown:
        ctx.update(node_down=True, node_name="-", tree=[], events=[], registry_label=view.registry)
        ctx.update(extra)
        return _render(request, "supervision/dashboard.html", ctx, 503 if status == 200 else status)
    mirror = feed.mirror
    ctx.update(dashboard.status_context(mirror, feed))
    ctx.update(dashboard.tree_context(mirror, view))
    ctx.update(dashboard.registry_context(mirror, view))
    ctx.update(dashboard.log_context(dashboard.events_for(mirror, view)))
    ctx.update(await _panel(feed, view))
    ctx.update(extra)
    return _render(request, "supervision/dashboard.html", ctx, status)


async def _panel(feed: Feed, view: dashboard.View) -> dict[str, Any]:
    info = None
    if view.pid is not None:
        try:
            info = await feed.host.run(hosting.process_info(view.pid))
        except (NodeDown, TimeoutError):
            info = None
    ctx = dashboard.panel_context(info, view, feed.mirror)
    ctx["info_last_exit"] = reason_text(info.last_exit) if info is not None and info.last_exit is not None else ""
    return ctx


# -- forms (htmx or plain POST) -------------------------------------------------------------


@login_required
@require_POST
async def spawn(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    form = SpawnForm(request.POST)
    if not await can_control(user):
        name = str(request.POST.get("name", ""))[:200]
        out = await commands.refused(user, "dashboard", "spawn", name, "", "You may not spawn greeters (staff only).")
        return await _form_answer(request, "spawn", False, out.message, out.status, form)
    if not form.is_valid():
        return await _form_answer(request, "spawn", False, first_error(form), 400, form)
    try:
        host = hosting.get()
    except NodeDown as e:
        return await _form_answer(request, "spawn", False, str(e), 503, form)
    out = await commands.spawn_greeter(
        host, user, "dashboard", form.cleaned_data["name"], form.cleaned_data["lifetime"]
    )
    return await _form_answer(request, "spawn", out.ok, out.message, out.status, form)


@login_required
@require_POST
async def exit_process(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    form = ExitForm(request.POST)
    if not await can_control(user):
        pid, reason = str(request.POST.get("pid", ""))[:40], str(request.POST.get("reason", ""))[:16]
        out = await commands.refused(
            user, "dashboard", "exit", pid, reason, "You may not stop or kill processes (staff only)."
        )
        return await _form_answer(request, "exit", False, out.message, out.status, form)
    if not form.is_valid():
        return await _form_answer(request, "exit", False, first_error(form), 400, form)
    try:
        host = hosting.get()
    except NodeDown as e:
        return await _form_answer(request, "exit", False, str(e), 503, form)
    out = await commands.exit_process(host, user, "dashboard", form.cleaned_data["pid"], form.cleaned_data["reason"])
    return await _form_answer(request, "exit", out.ok, out.message, out.status, form)


async def _form_answer(
    request: HttpRequest, which: str, ok: bool, message: str, status: int, form: Any
) -> HttpResponse:
    """htmx: the result fragment in place. Plain POST: redirect with a message, or the page with the error."""
    if _htmx(request):
        ctx = {f"{which}_ok": ok, f"{which}_message": message}
        return _render(request, f"supervision/dashboard.html#{which}_result", ctx, status)
    if ok:
        messages.success(request, message)
        return redirect("supervision:index")
    data = form.data
    extra = {f"{which}_ok": False, f"{which}_message": message}
    if which == "spawn":
        extra.update(spawn_name=str(data.get("name", ""))[:200], spawn_lifetime=str(data.get("lifetime", ""))[:32])
    else:
        extra.update(exit_pid=str(data.get("pid", ""))[:40], exit_reason=str(data.get("reason", "normal"))[:16])
    return await _page(request, status=status, **extra)


# -- JSON API -------------------------------------------------------------------------------


def _json_error(message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message, **extra}, status=status)


def api_auth(view: Any) -> Any:
    """Session auth as for the page, answering 401/403 in JSON instead of redirecting."""

    async def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = await request.auser()
        if not user.is_authenticated:
            return _json_error("log in first (session auth, as for the dashboard)", 401)
        request.viewer = user  # type: ignore[attr-defined]
        return await view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@require_POST
@api_auth
async def api_greeters(request: HttpRequest) -> HttpResponse:
    """POST {"name": str, "lifetime": number?} -> 201 {"pid"}; 409 {"pid"} if it runs; 400."""
    user = request.viewer  # type: ignore[attr-defined]
    if not await can_control(user):
        out = await commands.refused(user, "api", "spawn", "", "", "you may not spawn greeters (staff only)")
        return JsonResponse(out.as_json(), status=out.status)
    try:
        data = parse_json_object(request.body, {"name": (str,), "lifetime": (int, float)})
    except BadRequest as e:
        return _json_error(str(e), 400)
    form = SpawnForm({"name": data.get("name") or "", "lifetime": data.get("lifetime")})
    if not form.is_valid():
        return _json_error(first_error(form), 400)
    try:
        host = hosting.get()
    except NodeDown as e:
        return _json_error(str(e), 503)
    out = await commands.spawn_greeter(host, user, "api", form.cleaned_data["name"], form.cleaned_data["lifetime"])
    body = out.as_json()
    body.update(name=form.cleaned_data["name"], lifetime=form.cleaned_data["lifetime"])
    return JsonResponse(body, status=out.status)


@require_POST
@api_auth
async def api_exit(request: HttpRequest, pid: str) -> HttpResponse:
    """POST {"reason": "normal"|"shutdown"|"kill"|"crash"} to /api/processes/<pid>/exit."""
    user = request.viewer  # type: ignore[attr-defined]
    if not await can_control(user):
        out = await commands.refused(
            user, "api", "exit", pid[:40], "", "you may not stop or kill processes (staff only)"
        )
        return JsonResponse(out.as_json(), status=out.status)
    try:
        data = parse_json_object(request.body, {"reason": (str,)})
    except BadRequest as e:
        return _json_error(str(e), 400)
    form = ExitForm({"pid": pid, "reason": data.get("reason")})
    if not form.is_valid():
        return _json_error(first_error(form), 400)
    try:
        host = hosting.get()
    except NodeDown as e:
        return _json_error(str(e), 503)
    out = await commands.exit_process(host, user, "api", form.cleaned_data["pid"], form.cleaned_data["reason"])
    body = out.as_json()
    body["reason"] = form.cleaned_data["reason"]
    return JsonResponse(body, status=out.status)


async def api_not_found(request: HttpRequest) -> HttpResponse:
    """Any other /api/ URL: a JSON 404 (an API client gets JSON whatever it asks)."""
    return _json_error(f"no such API endpoint: {request.path[:200]}", 404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON for the API, Django's page for everything else."""
    if request.path.startswith("/api/"):
        return _json_error("CSRF check failed: send the csrftoken cookie's value in X-CSRFToken", 403)
    return django_csrf_failure(request, reason=reason)


@require_GET
@api_auth
async def api_tree(request: HttpRequest) -> HttpResponse:
    """GET ?tree_q=&sup=<pid>&page=n: every supervisor, nested, with a page of its workers."""
    try:
        feed = await hosting.feed()
    except NodeDown as e:
        return _json_error(str(e), 503)
    view = dashboard.View.from_query(request.GET)
    ctx = dashboard.tree_context(feed.mirror, view)
    return JsonResponse({"node": feed.host.name, "seq": feed.mirror.seq, "tree": [_tree_json(r) for r in ctx["tree"]]})


def _tree_json(row: dashboard.TreeRow) -> dict[str, Any]:
    node, page = row.node, row.node.workers
    p = node.proc
    out: dict[str, Any] = {
        "pid": p.pid_text if p else None,
        "name": p.name if p else None,
        "kind": p.kind if p else None,
        "type": p.type if p else None,
    }
    if p is not None and p.details:
        out.update({k: v for k, v in p.details.items() if isinstance(v, (str, int, float, type(None)))})
        out["restarts_in_window"] = node.budget_used
    out["workers"] = {
        "total": page.total,
        "page": page.number,
        "pages": page.pages,
        "items": [
            {
                "pid": w.pid_text,
                "name": w.name,
                "kind": w.kind,
                "status": "running",
                "started_at": w.started_at,
                "restarts": w.restarts,
                "last_exit": w.last_exit,
            }
            for w in page.items
        ],
    }
    out["supervisors"] = [_tree_json(c) for c in row.children]
    return out


@require_GET
@api_auth
async def api_registry(request: HttpRequest, name: str) -> HttpResponse:
    """GET /api/registry/<name>?q=&page=n: one page of the registry's entries."""
    try:
        feed = await hosting.feed()
    except NodeDown as e:
        return _json_error(str(e), 503)
    mirror = feed.mirror
    reg = mirror.find_registry(name)
    if reg is None:
        return _json_error(
            f"no registry named {name!r}", 404, registries=sorted(r.label for r in mirror.registries.values())
        )
    q = dashboard._q(request.GET.get("q"))
    page = mirror.registry_page(reg, q, dashboard._int(request.GET.get("page")), dashboard.page_size())
    assert page is not None
    return JsonResponse(
        {
            "registry": name,
            "q": q,
            "total": page.total,
            "page": page.number,
            "pages": page.pages,
            "entries": [{"key": r.key, "pid": r.pid_text, "value": r.value, "registered_at": r.at} for r in page.items],
        }
    )


# -- ops ------------------------------------------------------------------------------------


@require_safe
async def metrics_view(request: HttpRequest) -> HttpResponse:
    body, content_type = await metrics.render()
    return HttpResponse(body, content_type=content_type)


@never_cache
@require_safe
async def healthz(request: HttpRequest) -> HttpResponse:
    host = hosting.current()
    if host is None or not await host.ping():
        return JsonResponse({"status": "down", "node": host.name if host else None}, status=503)
    return JsonResponse({"status": "ok", "node": host.name})
