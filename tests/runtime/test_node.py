"""The node itself: processes run in the node's context whoever wakes them; inspection is bounded."""

from __future__ import annotations

import threading
import time

from supervision import runtime as rt
from supervision.greeter import REGISTRY, spawn_greeter, start_app


def test_a_message_from_a_foreign_thread_wakes_a_process_that_still_knows_its_node():
    # call_soon_threadsafe runs the callback in the *calling thread's* context, which has no
    # node; the supervisor it wakes must still restart its child by name through the registry.
    handle = rt.Node.start_in_thread("foreign")
    try:

        async def setup():
            await start_app()
            return await spawn_greeter("Ann", 60)

        pid = handle.run(setup(), 5)
        assert threading.current_thread() is not handle._thread
        handle.loop.call_soon_threadsafe(handle.node.exit, pid, RuntimeError("boom"))

        async def whereis():
            return rt.whereis(rt.via(REGISTRY, "greeter_for_Ann"))

        deadline = time.monotonic() + 5
        new = handle.run(whereis(), 5)
        while (new is None or new == pid) and time.monotonic() < deadline:
            time.sleep(0.01)
            new = handle.run(whereis(), 5)
        assert new is not None and new != pid  # restarted, not given up on
    finally:
        handle.stop(10)


class Books(rt.GenServer):
    async def init(self, n: int) -> None:
        self.children = {rt.Pid(i + 1000): i for i in range(n)}
        self.members = set(range(n))
        self.note = "x" * 10_000


async def test_process_info_state_is_a_bounded_repr_of_the_first_entries(node):
    pid = await Books.start(100_000)
    state = node.process_info(pid).state
    assert len(state) <= 2_001
    assert "... (100000 entries)" in state and "... (100000 items)" in state
    assert "Pid<0.1000.0>: 0" in state  # the first entries, in their order (no sorting)
    assert "x" * 400 not in state  # long strings are cut too


def test_exit_and_down_are_records_not_tuples():
    """A user's ``case (tag, payload):`` in handle_info must never take a trapped exit or a DOWN."""

    def kind(msg):
        match msg:
            case (_tag, _payload):
                return "app message"
            case rt.Exit(pid=_pid, reason=reason):
                return f"exit {reason}"
            case rt.Down(reason=reason):
                return f"down {reason}"
        return "other"

    assert kind(rt.Exit(None, "bye")) == "exit bye"
    assert kind(rt.Down(rt.Ref(1), None, "gone")) == "down gone"
    assert rt.Exit(None, "bye") != (None, "bye")
