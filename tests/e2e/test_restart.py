"""Restart without loss: wincrid killed (-9) or stopped while containers run and write, and the
stdio keeper killed too. No log line lost or repeated, no container killed, exit codes right
whenever they happen. Real wincrid, keeper, runc, CNI and registry (test_pods.py)."""
import os
import re
import signal
import time

import pytest

from conftest import PB
from conftest_images import registries  # noqa: F401  (fixture)
from test_pods import (env, forward_guard, read_log, run_pod, start_container,  # noqa: F401
                       wait_log, wait_state)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pods need root")

# A numbered line every 100 ms, from a writer that is not the container's PID 1.
TICKER = ["/bin/sh", "-c", "sh -c 'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done'"]


def numbers(env, scfg, name):  # noqa: F811
    """The numbers of the stdout records 'line N', in log order (each a whole line)."""
    out = []
    for rec in read_log(env, scfg, name).splitlines():
        m = re.match(r"^\S+ stdout F line (\d+)$", rec)
        if m:
            out.append(int(m.group(1)))
    return out


def assert_every_line_once(nums):
    assert nums, "no lines"
    assert nums == list(range(nums[0], nums[0] + len(nums))), \
        f"lines lost or repeated: {[(a, b) for a, b in zip(nums, nums[1:]) if b != a + 1][:10]}"
    assert nums[0] == 0


def restart(env, sig=signal.SIGKILL, down_s=0.0):  # noqa: F811
    if sig == signal.SIGKILL:
        env.d.proc.kill()
        env.d.proc.wait()
        env.d.log_file.close()
        env.d.channels = []
    else:
        assert env.d.stop(sig) == 0
    time.sleep(down_s)
    env.d.start()
    return env.d.runtime()


def status(rt, cid):
    return rt.ContainerStatus(PB.ContainerStatusRequest(container_id=cid)).status


def test_no_line_lost_and_nothing_killed_across_kill_9(env):  # noqa: F811
    sid, scfg = run_pod(env)
    ticker = start_container(env, sid, scfg, "ticker", TICKER)
    cat = start_container(env, sid, scfg, "cat", ["cat"], stdin=True)
    tty = start_container(env, sid, scfg, "tty", ["/bin/sh", "-c", "sleep 600"], stdin=True,
                          tty=True)
    for c in (ticker, cat, tty):
        wait_state(env, c, PB.CONTAINER_RUNNING)
    wait_log(env, scfg, "ticker", "line 5")
    keeper = env.d.keeper_pid()
    assert keeper, "no stdio keeper"
    rt = restart(env, signal.SIGKILL, down_s=3)
    assert env.d.keeper_pid() == keeper, "the keeper did not outlive wincrid"
    time.sleep(1)
    rt = restart(env, signal.SIGTERM, down_s=1)
    for c in (ticker, cat, tty):
        assert status(rt, c).state == PB.CONTAINER_RUNNING, c
    seen = len(numbers(env, scfg, "ticker"))
    wait_log(env, scfg, "ticker", f"line {seen + 5}")
    rt.StopContainer(PB.StopContainerRequest(container_id=ticker, timeout=1), timeout=30)
    assert_every_line_once(numbers(env, scfg, "ticker"))
    r = rt.ExecSync(PB.ExecSyncRequest(container_id=cat, cmd=["echo", "alive"], timeout=10))
    assert r.stdout == b"alive\n"


def test_exit_codes_while_down_and_after_restart(env):  # noqa: F811
    sid, scfg = run_pod(env)
    early = start_container(env, sid, scfg, "early", ["/bin/sh", "-c", "sleep 1; exit 7"])
    late = start_container(env, sid, scfg, "late",
                           ["/bin/sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.1; done"])
    for c in (early, late):
        wait_state(env, c, PB.CONTAINER_RUNNING)
    t_kill = time.time()
    env.d.proc.kill()
    env.d.proc.wait()
    env.d.log_file.close()
    env.d.channels = []
    time.sleep(3)  # early exits while wincrid is down
    env.d.start()
    rt = env.d.runtime()
    st = status(rt, early)
    assert st.state == PB.CONTAINER_EXITED
    assert (st.exit_code, st.reason) == (7, "Error"), st
    assert t_kill * 1e9 < st.finished_at < t_kill * 1e9 + 2.5e9, "finish time is not when it ended"
    # late exits after the restart: it is not wincrid's child any more
    rt.StopContainer(PB.StopContainerRequest(container_id=late, timeout=5), timeout=30)
    st = status(rt, late)
    assert (st.state, st.exit_code, st.reason) == (PB.CONTAINER_EXITED, 42, "Error"), st


def kill_keeper(env):  # noqa: F811
    old = env.d.keeper_pid()
    os.kill(old, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and env.d.keeper_pid() in (None, old):
        time.sleep(0.05)
    assert env.d.keeper_pid() not in (None, old), "wincrid did not start a new keeper"


def test_keeper_killed_loses_nothing(env):  # noqa: F811
    sid, scfg = run_pod(env)
    ticker = start_container(env, sid, scfg, "ticker2", TICKER)
    tty = start_container(env, sid, scfg, "tty2", ["/bin/sh", "-c", "sleep 600"], stdin=True,
                          tty=True)
    ends = start_container(env, sid, scfg, "ends", ["/bin/sh", "-c", "sleep 3; exit 9"])
    for c in (ticker, tty, ends):
        wait_state(env, c, PB.CONTAINER_RUNNING)
    wait_log(env, scfg, "ticker2", "line 5")
    kill_keeper(env)
    rt = env.d.runtime()
    wait_state(env, ends, PB.CONTAINER_EXITED, timeout=10)
    assert status(rt, ends).exit_code == 9
    seen = len(numbers(env, scfg, "ticker2"))
    wait_log(env, scfg, "ticker2", f"line {seen + 5}")
    assert status(rt, tty).state == PB.CONTAINER_RUNNING
    rt.StopContainer(PB.StopContainerRequest(container_id=ticker, timeout=1), timeout=30)
    assert_every_line_once(numbers(env, scfg, "ticker2"))


def finite_ticker(lines, code):
    return ["/bin/sh", "-c",
            f"sh -c 'i=0; while [ $i -lt {lines} ]; do echo line $i; i=$((i+1)); sleep 0.1; "
            f"done'; exit {code}"]


def test_soak_twenty_containers_through_three_kills_and_a_keeper_kill(env):  # noqa: F811
    """20 containers writing a numbered line every 100 ms (16 forever, 4 ending with their own
    exit codes at different moments, some while wincrid is down), a stdin and a TTY container;
    wincrid killed -9 three times and the keeper once. Every line is in its log once, in
    order; every exit code is the container's; stdin and TTY containers still run."""
    sid, scfg = run_pod(env)
    forever = [start_container(env, sid, scfg, f"t{i}", TICKER) for i in range(16)]
    finite = {start_container(env, sid, scfg, f"f{k}", finite_ticker(lines, 20 + k)):
              (f"f{k}", lines, 20 + k)
              for k, lines in enumerate((40, 70, 100, 130))}
    cat = start_container(env, sid, scfg, "cat", ["cat"], stdin=True)
    tty = start_container(env, sid, scfg, "tty", ["/bin/sh", "-c", "sleep 600"], stdin=True,
                          tty=True)
    for c in forever + list(finite) + [cat, tty]:
        wait_state(env, c, PB.CONTAINER_RUNNING, timeout=60)
    time.sleep(2)
    rt = restart(env, signal.SIGKILL, down_s=2)
    time.sleep(2)
    kill_keeper(env)
    time.sleep(2)
    rt = restart(env, signal.SIGKILL, down_s=2)
    time.sleep(2)
    rt = restart(env, signal.SIGKILL, down_s=2)
    for cid, (name, lines, code) in finite.items():
        st = wait_state(env, cid, PB.CONTAINER_EXITED, timeout=30)
        assert (st.exit_code, st.reason) == (code, "Error"), (name, st)
        assert numbers(env, scfg, name) == list(range(lines)), name
    for c in (cat, tty):
        assert status(rt, c).state == PB.CONTAINER_RUNNING
    r = rt.ExecSync(PB.ExecSyncRequest(container_id=cat, cmd=["echo", "alive"], timeout=10))
    assert r.stdout == b"alive\n"
    for i, cid in enumerate(forever):
        assert status(rt, cid).state == PB.CONTAINER_RUNNING, f"t{i}"
        rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=0), timeout=30)
    for i in range(16):
        nums = numbers(env, scfg, f"t{i}")
        assert len(nums) > 100, (f"t{i}", len(nums))
        assert_every_line_once(nums)
