"""CRI logs, statistics and list filters on the simulated host."""
import os
import time

from winsim import PB, assert_golden, calls, only


def log_lines(path):
    with open(path, errors="replace") as f:
        return [l.rstrip("\n") for l in f]


def test_logs_survive_rotation(host, pods):
    """kubelet's rotation: the log file is renamed away, ReopenContainerLog opens a new one;
    every line lands in one of the two files, in order, none lost or repeated."""
    sid, scfg = pods.run_pod()
    m = host.mark()
    cid = pods.run(sid, scfg, name="rot", command=["C:\\app\\ctr.exe"],
                   args=["log", "60", "50", "n"])
    # the output the log is written from: HCS's stdout and stderr pipes
    assert_golden("process_command.json", only(host.journal(m), "HcsCreateProcess")["doc"],
                  {"command_line": "C:\\app\\ctr.exe log 60 50 n",
                   "environment": {"PATH": "C:\\Windows\\system32;C:\\Windows;C:\\app",
                                   "APP_MODE": "winsim"}})
    path = pods.log_file(scfg, "rot")
    pods.wait_log(scfg, "rot", "n-10")
    os.rename(path, path + ".1")
    pods.rt.ReopenContainerLog(PB.ReopenContainerLogRequest(container_id=cid), timeout=30)
    pods.wait_state(cid, PB.CONTAINER_EXITED)
    text = pods.wait_log(scfg, "rot", "n-59")
    old, new = log_lines(path + ".1"), text.splitlines()
    got = []
    for l in old + new:
        ts, stream, tag, msg = l.split(" ", 3)
        assert stream == "stdout" and tag in ("F", "P")
        assert ts.endswith("Z") and "T" in ts
        got.append(msg.rstrip("\r"))
    assert got == [f"n-{i}" for i in range(60)]
    assert old and new


def test_stderr_and_long_lines(pods):
    """stderr records are tagged stderr; a line longer than 16 KiB is split into P records
    ending with an F."""
    sid, scfg = pods.run_pod()
    long = "x" * 40000
    cid = pods.run(sid, scfg, name="ll", command=["C:\\app\\ctr.exe"],
                   args=["err", "on stderr", ";", "long", str(len(long))])
    pods.wait_state(cid, PB.CONTAINER_EXITED)
    text = pods.wait_log(scfg, "ll", "stderr F on stderr")
    recs = [l.split(" ", 3) for l in text.splitlines() if " stdout " in l]
    assert [r[2] for r in recs][-1] == "F" and "P" in [r[2] for r in recs]
    assert "".join(r[3] for r in recs).rstrip("\r") == long


def wait_stats(pods, cid, pred, timeout=30):
    deadline = time.time() + timeout
    while True:
        s = pods.rt.ContainerStats(PB.ContainerStatsRequest(container_id=cid), timeout=30).stats
        if pred(s) or time.time() > deadline:
            return s
        time.sleep(0.5)


def test_container_stats_from_real_counters(host, pods):
    """ContainerStats comes from HCS Statistics: CPU that grows while ctr.exe burns it,
    memory of the real wine process."""
    sid, scfg = pods.run_pod()
    cid = pods.run(sid, scfg, name="burn", command=["C:\\app\\ctr.exe"],
                   args=["burn", "4000", ";", "run"])
    m = host.mark()
    s1 = wait_stats(pods, cid, lambda s: s.cpu.usage_core_nano_seconds.value > 0)
    s2 = wait_stats(pods, cid, lambda s: s.cpu.usage_core_nano_seconds.value >
                    s1.cpu.usage_core_nano_seconds.value + 500_000_000)
    assert s2.cpu.usage_core_nano_seconds.value > s1.cpu.usage_core_nano_seconds.value
    assert s2.memory.working_set_bytes.value > 0
    assert s2.attributes.id == cid
    q = calls(host.journal(m), "HcsGetComputeSystemProperties")
    assert q and all(e["id"] == cid for e in q)
    assert_golden("query_statistics.json", q[0]["doc"])
    listed = pods.rt.ListContainerStats(PB.ListContainerStatsRequest(
        filter=PB.ContainerStatsFilter(pod_sandbox_id=sid)), timeout=30).stats
    assert [s.attributes.id for s in listed] == [cid]


def test_pod_stats_sum_containers_and_network(host, pods):
    sid, scfg = pods.run_pod()
    a = pods.run(sid, scfg, name="a")
    b = pods.run(sid, scfg, name="b")
    pods.wait_log(scfg, "a", "running pid=")
    pods.wait_log(scfg, "b", "running pid=")
    m = host.mark()
    st = pods.rt.PodSandboxStats(PB.PodSandboxStatsRequest(pod_sandbox_id=sid),
                                 timeout=30).stats
    assert st.attributes.id == sid
    ids = sorted(c.attributes.id for c in st.windows.containers)
    assert ids == sorted([a, b])
    assert st.windows.memory.working_set_bytes.value > 0
    assert st.windows.process.process_count.value >= 2
    j = host.journal(m)
    hns = calls(j, "HNSCall")
    assert hns and hns[0]["id"].startswith("/endpointstats/")
    assert st.windows.network.default_interface.name == "eth0"


def test_list_filters(pods):
    s1, c1cfg = pods.run_pod(labels={"app": "one"})
    s2, c2cfg = pods.run_pod(labels={"app": "two"})
    a = pods.run(s1, c1cfg, name="a", labels={"tier": "front"})
    b = pods.create(s2, c2cfg, name="b", labels={"tier": "back"})
    rt = pods.rt

    def ids(**f):
        return sorted(c.id for c in rt.ListContainers(PB.ListContainersRequest(
            filter=PB.ContainerFilter(**f)), timeout=30).containers)

    assert ids(pod_sandbox_id=s1) == [a]
    assert ids(state=PB.ContainerStateValue(state=PB.CONTAINER_CREATED)) == [b]
    assert ids(state=PB.ContainerStateValue(state=PB.CONTAINER_RUNNING)) == [a]
    assert ids(label_selector={"tier": "back"}) == [b]
    assert ids(id=a[:12]) == [a]
    pods_by_label = rt.ListPodSandbox(PB.ListPodSandboxRequest(filter=PB.PodSandboxFilter(
        label_selector={"app": "two"})), timeout=30).items
    assert [p.id for p in pods_by_label] == [s2]
    rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=s1), timeout=60)
    ready = rt.ListPodSandbox(PB.ListPodSandboxRequest(filter=PB.PodSandboxFilter(
        state=PB.PodSandboxStateValue(state=PB.SANDBOX_READY))), timeout=30).items
    assert s2 in [p.id for p in ready] and s1 not in [p.id for p in ready]
    assert pods.status(a).state == PB.CONTAINER_EXITED
