from django.apps import AppConfig


class SupervisionConfig(AppConfig):
    """The supervision app: the dashboard, its API, the audit log and the node's commands."""

    name = "supervision"
    verbose_name = "Supervision"
    default_auto_field = "django.db.models.BigAutoField"
