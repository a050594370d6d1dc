"""Websocket routing: the dashboard socket, behind session auth and a same-origin check."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import path

from supervision.consumers import DashboardConsumer

websocket_urlpatterns = [
    path("ws/dashboard/", DashboardConsumer.as_asgi()),
]


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin1")
    return None


def same_origin(scope: dict[str, Any]) -> bool:
    """The page that opens the socket must come from this very server (scheme, host and port),
    or from an origin in ``CSRF_TRUSTED_ORIGINS``; and the Host must be an allowed host."""
    host, origin = _header(scope, b"host"), _header(scope, b"origin")
    if not host or not origin:
        return False
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return origin == f"{scheme}://{host}" or origin in settings.CSRF_TRUSTED_ORIGINS


class SameOriginValidator:
    """Refuse the handshake (HTTP 403) unless ``same_origin`` holds."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def websocket_application() -> Any:
    """Sessions from Django's cookie; only pages from this server may connect."""
    return SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
