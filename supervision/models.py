"""The audit log: who spawned or stopped what, when, from where, and how it went."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditLog(models.Model):
    """One spawn or exit command, from any door (dashboard, API, command line)."""

    class Source(models.TextChoices):
        DASHBOARD = "dashboard", "dashboard"
        API = "api", "API"
        CLI = "cli", "command line"

    class Action(models.TextChoices):
        SPAWN = "spawn", "spawn greeter"
        EXIT = "exit", "stop or kill process"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True, help_text="Kept when the user is deleted.")
    source = models.CharField(max_length=16, choices=Source.choices)
    action = models.CharField(max_length=16, choices=Action.choices)
    target = models.CharField(max_length=300, help_text="The greeter's name or the process's pid.")
    detail = models.CharField(max_length=200, blank=True, help_text="The lifetime or the exit reason.")
    ok = models.BooleanField()
    result = models.CharField(max_length=500)

    class Meta:
        ordering = ["-at", "-id"]
        permissions = [("control_processes", "Can spawn greeters and stop or kill processes")]

    def __str__(self) -> str:
        return f"{self.username or '?'} {self.action} {self.target}: {self.result}"
