from supervision import runtime as rt

from .conftest import in_process


async def test_spawned_function_runs_as_a_process_and_exits_normal(node):
    async def body():
        return rt.self_pid()

    pid = await in_process(body)
    assert isinstance(pid, rt.Pid)
    assert await node.join(pid) == "noproc"
