"""The ASGI application: Django for HTTP, the dashboard consumer for websockets.

Importing this module is what starts the node (``SUPERVISION_AUTOSTART``): daphne and
``manage.py runserver`` import it when they start serving, while ``migrate``, ``shell`` and
the tests never do, so they get no node unless they ask for one.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()  # sets Django up before the imports below

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from supervision import host  # noqa: E402
from supervision.routing import websocket_application  # noqa: E402


def make_application(static_wrapper=None):
    """The whole ASGI app; ``static_wrapper`` serves /static/ (tests pass ASGIStaticFilesHandler)."""
    http = django_asgi_app
    if static_wrapper is not None:
        http = static_wrapper(http)
    return ProtocolTypeRouter(
        {
            "http": http,
            "websocket": websocket_application(),
        }
    )


# Plain daphne serves no static files; the dashboard needs its three scripts and stylesheet.
application = make_application(ASGIStaticFilesHandler if settings.SUPERVISION_SERVE_STATIC else None)

if settings.SUPERVISION_AUTOSTART:
    host.start_from_settings()
