"""Settings for the supervision project.

Embedded defaults (SQLite, in-memory channel layer, in-process node) need no environment at
all. The environment variables that matter: ``DJANGO_SECRET_KEY``, ``DJANGO_DEBUG``,
``DJANGO_ALLOWED_HOSTS`` (comma-separated), ``DJANGO_SQLITE_PATH``, ``REDIS_URL`` (switches the channel layer to
channels_redis) and ``SUPERVISION_AUTOSTART`` (0 keeps the node from starting with the server).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-dev-only-change-me")
DEBUG = _env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]

INSTALLED_APPS = [
    "daphne",  # first: its runserver serves ASGI (and starts the node with the server)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "supervision.apps.SupervisionConfig",
]

CSRF_FAILURE_VIEW = "supervision.views.csrf_failure"  # JSON for the API, Django's page elsewhere

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_SQLITE_PATH", BASE_DIR / "db.sqlite3"),
        # A file, not :memory:, so daphne's forked test server sees the test database; one per
        # test process, so two test runs on one checkout do not share it.
        "TEST": {"NAME": BASE_DIR / f"test-db-{os.getpid()}.sqlite3"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Cookie-stored messages: async views never touch the session table to read them.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 100, "expiry": 10},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 100}}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "supervision": {"handlers": ["console"], "level": os.environ.get("SUPERVISION_LOG_LEVEL", "INFO")},
        # Server errors (with their traceback) reach the console whatever DEBUG says.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        # One line per greeting is noise at 1,000 greets/s; the event log shows them.
        "supervision.greeter": {"level": "WARNING"},
    },
}

# -- supervision (read once by supervision.host) ----------------------------------------------
SUPERVISION_AUTOSTART = _env_bool("SUPERVISION_AUTOSTART", True)  # start the node with the ASGI server
SUPERVISION_NODE_NAME = os.environ.get("SUPERVISION_NODE_NAME", "web")
SUPERVISION_CHILDREN = "supervision.host.seed_tree"  # a callable returning the tree's child specs
SUPERVISION_MAX_GREETERS = int(os.environ.get("SUPERVISION_MAX_GREETERS", "100000"))  # running at once; more is 503
SUPERVISION_FRAME_INTERVAL = 0.1  # seconds between dashboard frames (at most ~10/s)
# Events the dashboard feed may lag on the node before it resyncs from a snapshot: about 390
# bytes an event, so at most ~40 MB; enough for ~30,000 events/s sustained on this machine.
SUPERVISION_FEED_QUEUE = int(os.environ.get("SUPERVISION_FEED_QUEUE", "100000"))
SUPERVISION_EVENT_LOG_SIZE = 500  # events kept for the page's log
SUPERVISION_PAGE_SIZE = 20  # rows per page in the tree and the registry table
SUPERVISION_WS_WINDOW = 3  # frames a browser may leave unacknowledged before we hold back
SUPERVISION_WS_PER_USER = 20  # dashboard sockets one user may hold open at once (per server process)
SUPERVISION_SHUTDOWN_TIMEOUT = 30.0  # seconds the tree gets to stop in order
SUPERVISION_SERVE_STATIC = _env_bool("SUPERVISION_SERVE_STATIC", True)  # daphne serves /static/ itself

# Incoming websocket messages are small JSON commands; refuse anything large early.
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = 64 * 1024
DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = 64 * 1024
