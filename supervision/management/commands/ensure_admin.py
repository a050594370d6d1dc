"""Create the first superuser for a fresh install, so `make run` leads straight to a login."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create a superuser named $SUPERVISION_ADMIN_USER (default 'admin') if no superuser exists. "
        "The password is $SUPERVISION_ADMIN_PASSWORD, or a random one printed once."
    )

    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists; log in with it (reset with `manage.py changepassword`).")
            return
        username = os.environ.get("SUPERVISION_ADMIN_USER", "admin")
        password = os.environ.get("SUPERVISION_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        shown = password if "SUPERVISION_ADMIN_PASSWORD" not in os.environ else "(from $SUPERVISION_ADMIN_PASSWORD)"
        self.stdout.write(self.style.SUCCESS(f"Created superuser {username!r} with password {shown}"))
