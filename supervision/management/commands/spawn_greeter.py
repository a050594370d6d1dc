"""``manage.py spawn_greeter NAME``: start a greeter from a script, and audit it."""

from __future__ import annotations

import asyncio

from django.core.management.base import BaseCommand, CommandError

from supervision import commands
from supervision import host as hosting
from supervision import runtime as rt
from supervision.forms import SpawnForm, first_error
from supervision.greeter import REGISTRY, greeter_name


class Command(BaseCommand):
    help = (
        "Spawn the greeter for NAME under GreeterSupervisor on a node of this process, wait until it "
        "has finished greeting (its lifetime), and report. Audited as source 'cli'. "
        "Exit status: 0 started, 1 refused (bad input or the name is taken)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="1..200 printable characters (trimmed)")
        parser.add_argument("--lifetime", type=float, default=0.0, help="seconds it keeps greeting (0: greet once)")
        parser.add_argument("--user", default="cli", help="who to record in the audit log")

    def handle(self, *args, name, lifetime, user, **options):
        form = SpawnForm({"name": name, "lifetime": lifetime})
        if not form.is_valid():
            raise CommandError(first_error(form))
        name, lifetime = form.cleaned_data["name"], form.cleaned_data["lifetime"]
        host = hosting.from_settings(name="cli").start()
        try:
            out = asyncio.run(self._spawn(host, user, name, lifetime))
        finally:
            host.stop()
        if not out.ok:
            raise CommandError(out.message)
        self.stdout.write(self.style.SUCCESS(out.message))

    async def _spawn(self, host, user, name, lifetime):
        sub = await host.run(_subscribe())
        out = await commands.spawn_greeter(host, user, "cli", name, lifetime)
        if out.ok:
            pid = rt.Pid.parse(out.pid)
            await host.run(_join(pid), timeout=lifetime + 30)
            batch = await host.run(sub.next_batch(100_000))
            for ev in batch:
                if isinstance(ev, rt.Event) and ev.kind == "greeted" and ev.pid == pid:
                    self.stdout.write(f"Hello, {ev.data['person']}! (greeting {ev.data['count']} from {pid})")
            left = await host.run(_lookup(greeter_name(name).key))
            self.stdout.write(f"the greeter has stopped; registry entries for it: {len(left)}")
        return out


async def _subscribe():
    return rt.node().events.subscribe(maxsize=100_000)


async def _join(pid):
    return await rt.node().join(pid)


async def _lookup(key):
    return rt.Registry.lookup(REGISTRY, key)
