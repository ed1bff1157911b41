"""Pods and containers for real: wincrid + runc + Debian's CNI plugins + an image pulled from a
local registry. Test pods live on a 10.98.N.0/24 of their own (N from the pid, so suites in
several checkouts can run at once) with no masquerade, and a FORWARD rule drops
anything from that subnet to outside it (DESIGN.md, Quirks)."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import grpc
import pytest

import registry as R
from conftest import PB
from conftest_images import registries  # noqa: F401  (fixture)

_NET = os.getpid() % 250
NET_PREFIX = f"10.98.{_NET}."
SUBNET = NET_PREFIX + "0/24"
BRIDGE = f"wce2e{_NET}"
APPLETS = ["sh", "echo", "cat", "sleep", "ping", "nc", "httpd", "stty", "yes", "head", "dd",
           "seq", "printf", "tail", "grep", "hostname", "ls", "true", "false", "id", "env", "wc",
           "tr", "ip", "touch"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pods need root")


def pod_image():
    t = R.TarBuilder().dir("bin").dir("etc").dir("tmp", 0o1777).dir("root", 0o700).dir("www")
    with open("/bin/busybox", "rb") as f:
        t.file("bin/busybox", f.read(), 0o755)
    for a in APPLETS:
        t.symlink("bin/" + a, "busybox")
    # app (uid 1000) has primary group 1000 and is a member of group 50000 in the image only
    t.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n"
           "app:x:1000:1000::/:/bin/sh\n")
    t.file("etc/group", "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nimagegroup:x:50000:app\n")
    t.file("www/index.html", "hello from a pod\n")
    return R.Image([R.Layer(t.bytes())], cmd=["/bin/sh", "-c", "sleep 3600"])


def iptables(*args):
    subprocess.run(["iptables", *args], check=False, capture_output=True)


@pytest.fixture(scope="module")
def forward_guard():
    rule = ["FORWARD", "-s", SUBNET, "!", "-d", SUBNET, "-j", "DROP"]
    iptables("-I", *rule)
    yield
    iptables("-D", *rule)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)


def pod_env(registries, tmp_path_factory, **daemon_kw):  # noqa: F811
    """A wincrid with the test CNI bridge and the pod image pulled; tears its pods down."""
    from conftest import Daemon
    cni_dir = str(tmp_path_factory.mktemp("cni"))
    ipam_dir = str(tmp_path_factory.mktemp("ipam"))
    with open(os.path.join(cni_dir, "10-wincri-e2e.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "wincri-e2e", "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET}]],
                      "dataDir": ipam_dir}},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": False},
        ]}, f)
    d = Daemon({"cni_conf_dir": cni_dir, "cni_bin_dirs": ["/usr/lib/cni", "/opt/cni/bin"]},
               **daemon_kw)
    d.start()
    img = pod_image()
    ref = f"127.0.0.1:{registries.plain.port}/e2e/podimage:v1"
    registries.push("e2e/podimage", "v1", img)
    d.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=ref)), timeout=120)

    class Env:
        pass

    e = Env()
    e.d, e.ref, e.log_dir = d, ref, tempfile.mkdtemp(prefix="wclogs")
    e.ipam_dir = os.path.join(ipam_dir, "wincri-e2e")  # host-local: a file per address
    e.registries = registries
    yield e
    rt = d.runtime()
    for s in rt.ListPodSandbox(PB.ListPodSandboxRequest()).items:
        rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=s.id))
        rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=s.id))
    d.cleanup()
    shutil.rmtree(e.log_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def env(registries, forward_guard, tmp_path_factory):  # noqa: F811
    yield from pod_env(registries, tmp_path_factory)


def sandbox_config(env, name=None, **kw):
    name = name or "pod-" + uuid.uuid4().hex[:8]
    cfg = PB.PodSandboxConfig(
        metadata=PB.PodSandboxMetadata(name=name, namespace="e2e", uid=uuid.uuid4().hex,
                                       attempt=0),
        hostname=name, log_directory=os.path.join(env.log_dir, name),
        labels={"app": name, "tier": "test"}, annotations={"note": "kept exactly\n\tas sent"},
        **kw)
    os.makedirs(cfg.log_directory, exist_ok=True)
    return cfg


def run_pod(env, **kw):
    cfg = sandbox_config(env, **kw)
    sid = env.d.runtime().RunPodSandbox(PB.RunPodSandboxRequest(config=cfg), timeout=60)
    return sid.pod_sandbox_id, cfg


def start_container(env, sid, scfg, name, cmd, **kw):
    rt = env.d.runtime()
    kw.setdefault("log_path", f"{name}.log")
    ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name=name),
                              image=PB.ImageSpec(image=env.ref), command=cmd,
                              labels={"c": name}, **kw)
    cid = rt.CreateContainer(PB.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg,
                                                       sandbox_config=scfg), timeout=60).container_id
    rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=60)
    return cid


def wait_state(env, cid, state, timeout=20):
    rt = env.d.runtime()
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = rt.ContainerStatus(PB.ContainerStatusRequest(container_id=cid)).status
        if st.state == state:
            return st
        time.sleep(0.1)
    raise AssertionError(f"container {cid} not in state {state}: {st}")


def read_log(env, scfg, name):
    with open(os.path.join(scfg.log_directory, f"{name}.log")) as f:
        return f.read()


def wait_log(env, scfg, name, needle, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            text = read_log(env, scfg, name)
            if needle in text:
                return text
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not in log of {name}")


def test_pod_lifecycle_and_status(env):
    rt = env.d.runtime()
    sid, cfg = run_pod(env)
    st = rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid, verbose=True))
    assert st.status.state == PB.SANDBOX_READY
    assert st.status.network.ip.startswith(NET_PREFIX)
    assert dict(st.status.labels) == dict(cfg.labels)
    assert dict(st.status.annotations) == dict(cfg.annotations)
    assert st.status.metadata == cfg.metadata
    info = json.loads(st.info["info"])
    assert info["netNamespacePath"].startswith("/run/netns/")
    # a unique prefix works like the whole ID
    assert rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid[:12])).status.id == sid
    rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid))
    rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid))  # idempotent
    st = rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid))
    assert st.status.state == PB.SANDBOX_NOTREADY
    rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=sid))
    rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=sid))  # idempotent
    with pytest.raises(grpc.RpcError) as e:
        rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_container_runs_logs_and_execs(env):
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "main", ["/bin/sh", "-c", "echo hello; sleep 600"])
    st = wait_state(env, cid, PB.CONTAINER_RUNNING)
    assert st.started_at > 0 and st.image_id.startswith("sha256:")
    assert dict(st.labels) == {"c": "main"}
    text = wait_log(env, scfg, "main", "hello")
    line = [ln for ln in text.splitlines() if ln.endswith("hello")][0]
    ts, stream, tag, msg = line.split(" ", 3)
    assert stream == "stdout" and tag == "F" and msg == "hello" and ts.endswith("Z")
    r = rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "echo out; echo err >&2; exit 7"],
                                       timeout=10))
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 7)
    assert rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["hostname"])).stdout == \
        (scfg.hostname + "\n").encode()
    with pytest.raises(grpc.RpcError) as e:
        rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["sleep", "30"], timeout=1), timeout=20)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    t0 = time.time()
    rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=2))
    st = wait_state(env, cid, PB.CONTAINER_EXITED)
    assert st.finished_at >= st.started_at
    assert time.time() - t0 < 15
    rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=2))  # idempotent
    rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid))
    rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid))  # idempotent


def test_exit_code_and_reason(env):
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "fails", ["/bin/sh", "-c", "exit 3"])
    st = wait_state(env, cid, PB.CONTAINER_EXITED)
    assert st.exit_code == 3 and st.reason == "Error"
    ok = start_container(env, sid, scfg, "ok", ["/bin/true"])
    st = wait_state(env, ok, PB.CONTAINER_EXITED)
    assert st.exit_code == 0 and st.reason == "Completed"


def test_long_line_is_split_into_partial_records(env):
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "long",
                          ["/bin/sh", "-c", "head -c 40960 /dev/zero | tr '\\0' x; echo; echo done"])
    wait_state(env, cid, PB.CONTAINER_EXITED)
    text = wait_log(env, scfg, "long", "stdout F done")
    recs = [ln.split(" ", 3) for ln in text.splitlines()]
    xs = [r for r in recs if r[3].startswith("x")]
    assert [r[2] for r in xs] == ["P", "P", "F"]
    assert "".join(r[3] for r in xs) == "x" * 40960


def test_two_containers_share_localhost_and_pods_reach_each_other(env):
    rt = env.d.runtime()
    a, acfg = run_pod(env)
    start_container(env, a, acfg, "web", ["httpd", "-f", "-p", "8080", "-h", "/www"])
    client = start_container(env, a, acfg, "client", ["sleep", "600"])
    wait_state(env, client, PB.CONTAINER_RUNNING)
    deadline = time.time() + 10
    out = b""
    while time.time() < deadline and b"hello from a pod" not in out:
        out = rt.ExecSync(PB.ExecSyncRequest(
            container_id=client, cmd=["sh", "-c", "echo -e 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080"],
            timeout=5)).stdout
        time.sleep(0.2)
    assert b"hello from a pod" in out
    b, bcfg = run_pod(env)
    other = start_container(env, b, bcfg, "pinger", ["sleep", "600"])
    wait_state(env, other, PB.CONTAINER_RUNNING)
    a_ip = rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=a)).status.network.ip
    r = rt.ExecSync(PB.ExecSyncRequest(container_id=other, cmd=["ping", "-c", "1", "-W", "3", a_ip],
                                       timeout=10))
    assert r.exit_code == 0, r.stdout + r.stderr


def test_errors_have_the_right_codes(env):
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    with pytest.raises(grpc.RpcError) as e:
        rt.RunPodSandbox(PB.RunPodSandboxRequest(config=scfg))
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    bad = PB.PodSandboxConfig(metadata=PB.PodSandboxMetadata(name="x", namespace="e2e"))
    with pytest.raises(grpc.RpcError) as e:
        rt.RunPodSandbox(PB.RunPodSandboxRequest(config=bad))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "metadata.uid" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        rt.RunPodSandbox(PB.RunPodSandboxRequest(config=sandbox_config(env), runtime_handler="nope"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "nope" in e.value.details()
    for call, req in [(rt.ContainerStatus, PB.ContainerStatusRequest(container_id="f" * 64)),
                      (rt.StartContainer, PB.StartContainerRequest(container_id="f" * 64)),
                      (rt.PodSandboxStatus, PB.PodSandboxStatusRequest(pod_sandbox_id="f" * 64))]:
        with pytest.raises(grpc.RpcError) as e:
            call(req)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name="c"), image=PB.ImageSpec(image="nonexistent:1"))
    with pytest.raises(grpc.RpcError) as e:
        rt.CreateContainer(PB.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg, sandbox_config=scfg))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "nonexistent" in e.value.details()
    rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid))
    ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name="c"), image=PB.ImageSpec(image=env.ref))
    with pytest.raises(grpc.RpcError) as e:
        rt.CreateContainer(PB.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg, sandbox_config=scfg))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_list_filters(env):
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    c1 = start_container(env, sid, scfg, "f1", ["sleep", "600"])
    c2 = start_container(env, sid, scfg, "f2", ["true"])
    wait_state(env, c2, PB.CONTAINER_EXITED)
    items = rt.ListPodSandbox(PB.ListPodSandboxRequest(filter=PB.PodSandboxFilter(
        label_selector={"app": scfg.labels["app"]}))).items
    assert [i.id for i in items] == [sid]
    by_sandbox = rt.ListContainers(PB.ListContainersRequest(filter=PB.ContainerFilter(
        pod_sandbox_id=sid))).containers
    assert sorted(c.id for c in by_sandbox) == sorted([c1, c2])
    running = rt.ListContainers(PB.ListContainersRequest(filter=PB.ContainerFilter(
        pod_sandbox_id=sid, state=PB.ContainerStateValue(state=PB.CONTAINER_RUNNING)))).containers
    assert [c.id for c in running] == [c1]
    by_label = rt.ListContainers(PB.ListContainersRequest(filter=PB.ContainerFilter(
        label_selector={"c": "f2"}))).containers
    assert [c.id for c in by_label] == [c2]
    by_prefix = rt.ListContainers(PB.ListContainersRequest(filter=PB.ContainerFilter(id=c1[:10]))).containers
    assert [c.id for c in by_prefix] == [c1]


def test_restart_keeps_pods_and_containers(env):
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "survivor", ["/bin/sh", "-c", "echo before; sleep 600"])
    wait_log(env, scfg, "survivor", "before")
    assert env.d.stop() == 0
    env.d.start()
    rt = env.d.runtime()
    st = rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
    assert st.state == PB.SANDBOX_READY and dict(st.labels) == dict(scfg.labels)
    c = rt.ContainerStatus(PB.ContainerStatusRequest(container_id=cid)).status
    assert c.state == PB.CONTAINER_RUNNING
    assert rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["echo", "after"])).stdout == b"after\n"
    rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=1))
    wait_state(env, cid, PB.CONTAINER_EXITED)


def test_records_stored_by_0_1_are_read_and_rewritten(env):
    """wincri 0.1 stored each config as CRI protobuf bytes; the model keeps JSON of its own
    now. A 0.1 row is read through cri/'s decoder at start and rewritten as JSON."""
    import sqlite3
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "old", ["sleep", "600"],
                          annotations={"note": "as sent\n"})
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name="old"),
                              image=PB.ImageSpec(image=env.ref), command=["sleep", "600"],
                              log_path="old.log", labels={"c": "old"},
                              annotations={"note": "as sent\n"})
    env.d.stop()
    db = sqlite3.connect(os.path.join(env.d.root, "pods.db"))
    db.execute("UPDATE containers SET config = ? WHERE id = ?", (ccfg.SerializeToString(), cid))
    db.execute("UPDATE sandboxes SET config = ? WHERE id = ?", (scfg.SerializeToString(), sid))
    db.commit()
    db.close()
    env.d.start()
    rt = env.d.runtime()
    st = rt.ContainerStatus(PB.ContainerStatusRequest(container_id=cid)).status
    assert st.state == PB.CONTAINER_RUNNING
    assert st.labels["c"] == "old" and st.annotations["note"] == "as sent\n"
    pod = rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
    assert dict(pod.annotations) == dict(scfg.annotations)
    db = sqlite3.connect(os.path.join(env.d.root, "pods.db"))
    stored = db.execute("SELECT config FROM containers WHERE id = ?", (cid,)).fetchone()[0]
    db.close()
    assert json.loads(stored)["annotations"] == [["note", "as sent\n"]]


def test_stats_move_with_cpu_memory_and_disk(env):
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "burner", [
        "/bin/sh", "-c",
        "dd if=/dev/zero of=/tmp/blob bs=1024 count=2048 2>/dev/null; "
        "(while :; do :; done) & (x=$(head -c 50000000 /dev/zero | tr '\\0' a); sleep 600; echo ${#x}) & "
        "sleep 600"])
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    time.sleep(1.5)
    first = rt.ContainerStats(PB.ContainerStatsRequest(container_id=cid)).stats
    time.sleep(1.0)
    second = rt.ContainerStats(PB.ContainerStatsRequest(container_id=cid)).stats
    assert second.attributes.id == cid and second.attributes.labels["c"] == "burner"
    assert second.cpu.usage_core_nano_seconds.value > first.cpu.usage_core_nano_seconds.value
    assert second.cpu.usage_nano_cores.value > 100_000_000  # a busy loop: > 0.1 core
    assert second.memory.working_set_bytes.value > 40_000_000
    assert second.writable_layer.used_bytes.value >= 2 * 1024 * 1024
    assert second.writable_layer.inodes_used.value >= 1
    listed = rt.ListContainerStats(PB.ListContainerStatsRequest(
        filter=PB.ContainerStatsFilter(pod_sandbox_id=sid))).stats
    assert [s.attributes.id for s in listed] == [cid]
    other, ocfg = run_pod(env)
    pinger = start_container(env, other, ocfg, "pinger", ["sleep", "600"])
    wait_state(env, pinger, PB.CONTAINER_RUNNING)
    ip = rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid)).status.network.ip
    rt.ExecSync(PB.ExecSyncRequest(container_id=pinger, cmd=["ping", "-c", "3", "-i", "0.2", ip],
                                   timeout=10))
    ps = rt.PodSandboxStats(PB.PodSandboxStatsRequest(pod_sandbox_id=sid)).stats
    assert ps.attributes.id == sid
    assert ps.linux.network.default_interface.rx_bytes.value > 0
    assert ps.linux.cpu.usage_core_nano_seconds.value > 0
    assert [c.attributes.id for c in ps.linux.containers] == [cid]
    all_pods = rt.ListPodSandboxStats(PB.ListPodSandboxStatsRequest(
        filter=PB.PodSandboxStatsFilter(id=sid))).stats
    assert [p.attributes.id for p in all_pods] == [sid]


def test_oom_kill_reports_oomkilled(env):
    sid, scfg = run_pod(env)
    res = PB.LinuxContainerResources(memory_limit_in_bytes=24 * 1024 * 1024)
    cid = start_container(env, sid, scfg, "hog", ["/bin/sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a)"],
                          linux=PB.LinuxContainerConfig(resources=res))
    st = wait_state(env, cid, PB.CONTAINER_EXITED, timeout=30)
    assert st.reason == "OOMKilled", st


def test_stop_grace_is_honoured(env):
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    stubborn = start_container(env, sid, scfg, "stubborn", ["/bin/sh", "-c", "trap '' TERM; sleep 600"])
    wait_state(env, stubborn, PB.CONTAINER_RUNNING)
    time.sleep(0.3)
    t0 = time.time()
    rt.StopContainer(PB.StopContainerRequest(container_id=stubborn, timeout=2), timeout=30)
    took = time.time() - t0
    st = wait_state(env, stubborn, PB.CONTAINER_EXITED)
    assert took >= 1.9 and st.exit_code == 137
    # PID 1 ignores signals it has no handler for, so the polite one traps TERM itself.
    polite = start_container(env, sid, scfg, "polite",
                             ["/bin/sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.2; done"])
    wait_state(env, polite, PB.CONTAINER_RUNNING)
    time.sleep(0.3)
    t0 = time.time()
    rt.StopContainer(PB.StopContainerRequest(container_id=polite, timeout=30), timeout=60)
    assert time.time() - t0 < 10
    assert wait_state(env, polite, PB.CONTAINER_EXITED).exit_code == 7


def test_update_container_resources(env):
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "resized", ["sleep", "600"])
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    limit = 96 * 1024 * 1024
    rt.UpdateContainerResources(PB.UpdateContainerResourcesRequest(
        container_id=cid, linux=PB.LinuxContainerResources(memory_limit_in_bytes=limit)))
    st = rt.ContainerStatus(PB.ContainerStatusRequest(container_id=cid)).status
    assert st.resources.linux.memory_limit_in_bytes == limit
    stats = rt.ContainerStats(PB.ContainerStatsRequest(container_id=cid)).stats
    assert 0 < stats.memory.available_bytes.value <= limit
    with pytest.raises(grpc.RpcError) as e:
        rt.UpdateContainerResources(PB.UpdateContainerResourcesRequest(
            container_id=cid, linux=PB.LinuxContainerResources(cpu_quota=-5)))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "cpu_quota" in e.value.details()


def test_container_events_stream(env):
    import threading
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    events = []
    stream = rt.GetContainerEvents(PB.GetEventsRequest(), timeout=60)

    def collect():
        try:
            for ev in stream:
                events.append(ev)
        except grpc.RpcError:
            pass

    t = threading.Thread(target=collect)
    t.start()
    # The stream is live once a probe container's event comes through it.
    probe = start_container(env, sid, scfg, "probe", ["true"])
    deadline = time.time() + 20
    while time.time() < deadline and not any(e.container_id == probe for e in events):
        time.sleep(0.05)
    assert any(e.container_id == probe for e in events), "event stream never delivered"
    cid = start_container(env, sid, scfg, "evented", ["true"])
    wait_state(env, cid, PB.CONTAINER_EXITED)
    rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid))
    deadline = time.time() + 10
    while time.time() < deadline and len([e for e in events if e.container_id == cid]) < 4:
        time.sleep(0.1)
    stream.cancel()
    t.join(10)
    mine = [e for e in events if e.container_id == cid]
    assert [e.container_event_type for e in mine] == [
        PB.CONTAINER_CREATED_EVENT, PB.CONTAINER_STARTED_EVENT, PB.CONTAINER_STOPPED_EVENT,
        PB.CONTAINER_DELETED_EVENT]
    assert mine[0].pod_sandbox_status.id == sid
    assert any(s.id == cid for s in mine[0].containers_statuses)


def test_stream_lists_match_lists(env):
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    start_container(env, sid, scfg, "listed", ["sleep", "600"])
    listed = sorted(s.id for s in rt.ListPodSandbox(PB.ListPodSandboxRequest()).items)
    streamed = sorted(s.id for m in rt.StreamPodSandboxes(PB.StreamPodSandboxesRequest())
                      for s in m.pod_sandboxes)
    assert listed == streamed and sid in streamed
    flt = PB.ContainerFilter(pod_sandbox_id=sid)
    assert sorted(c.id for c in rt.ListContainers(PB.ListContainersRequest(filter=flt)).containers) == \
        sorted(c.id for m in rt.StreamContainers(PB.StreamContainersRequest(filter=flt)) for c in m.containers)


def test_dns_config_reaches_resolv_conf(env):
    rt = env.d.runtime()
    sid, scfg = run_pod(env, dns_config=PB.DNSConfig(servers=[NET_PREFIX + "53"],
                                                     searches=["ns.svc.local", "svc.local"],
                                                     options=["ndots:3", "timeout:2"]))
    cid = start_container(env, sid, scfg, "dns", ["sleep", "600"])
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    conf = rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["cat", "/etc/resolv.conf"])).stdout.decode()
    assert f"nameserver {NET_PREFIX}53" in conf
    assert "search ns.svc.local svc.local" in conf
    assert "options ndots:3 timeout:2" in conf


def test_host_port_reaches_the_container(env):
    import urllib.request
    rt = env.d.runtime()
    port = R.free_port()
    sid, scfg = run_pod(env, port_mappings=[PB.PortMapping(protocol=PB.TCP, container_port=8080,
                                                           host_port=port)])
    start_container(env, sid, scfg, "web", ["httpd", "-f", "-p", "8080", "-h", "/www"])
    gateway = NET_PREFIX + "1"  # the bridge's address on the host: local, so portmap's DNAT applies
    body = b""
    deadline = time.time() + 15
    while time.time() < deadline and b"hello from a pod" not in body:
        try:
            body = urllib.request.urlopen(f"http://{gateway}:{port}/", timeout=2).read()
        except OSError:
            time.sleep(0.2)
    assert b"hello from a pod" in body
    rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid))


def test_metrics_describe_and_measure(env):
    rt = env.d.runtime()
    descs = {d.name: d for d in rt.ListMetricDescriptors(PB.ListMetricDescriptorsRequest()).descriptors}
    assert list(descs["container_memory_working_set_bytes"].label_keys) == [
        "container", "pod", "namespace", "id"]
    assert "container_network_receive_bytes_total" in descs
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "measured",
                          ["/bin/sh", "-c", "x=$(head -c 20000000 /dev/zero | tr '\\0' a); sleep 600; echo ${#x}"])
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    time.sleep(1.5)
    pods = rt.ListPodSandboxMetrics(PB.ListPodSandboxMetricsRequest()).pod_metrics
    mine = [p for p in pods if p.pod_sandbox_id == sid]
    assert len(mine) == 1
    cms = {c.container_id: c for c in mine[0].container_metrics}
    values = {m.name: m for m in cms[cid].metrics}
    for m in values.values():  # every metric is described, with matching label counts
        assert len(m.label_values) == len(descs[m.name].label_keys)
    ws = values["container_memory_working_set_bytes"]
    assert ws.value.value > 15_000_000 and ws.metric_type == PB.GAUGE
    assert list(ws.label_values) == ["measured", scfg.metadata.name, "e2e", cid]
    net = {m.name for m in mine[0].metrics}
    assert {"container_network_receive_bytes_total", "container_network_transmit_bytes_total"} <= net
    streamed = [p.pod_sandbox_id for r in rt.StreamPodSandboxMetrics(PB.StreamPodSandboxMetricsRequest())
                for p in r.pod_sandbox_metrics]
    assert sid in streamed


def proc_cmdlines(env, cid):
    """Command lines of the processes a container can see, read from /proc inside it."""
    out = env.d.runtime().ExecSync(PB.ExecSyncRequest(
        container_id=cid, cmd=["sh", "-c", "for d in /proc/[0-9]*; do tr '\\0' ' ' < $d/cmdline; echo; done"],
        timeout=10)).stdout.decode()
    return [ln.strip() for ln in out.splitlines() if ln.strip()]


def test_shared_and_target_pid_namespaces(env):
    rt = env.d.runtime()
    shared = PB.LinuxPodSandboxConfig(security_context=PB.LinuxSandboxSecurityContext(
        namespace_options=PB.NamespaceOption(pid=PB.POD)))
    sid, scfg = run_pod(env, linux=shared)
    pod_pid = PB.LinuxContainerConfig(security_context=PB.LinuxContainerSecurityContext(
        namespace_options=PB.NamespaceOption(pid=PB.POD)))
    a = start_container(env, sid, scfg, "a", ["sleep", "601"], linux=pod_pid)
    b = start_container(env, sid, scfg, "b", ["sleep", "602"], linux=pod_pid)
    wait_state(env, a, PB.CONTAINER_RUNNING)
    wait_state(env, b, PB.CONTAINER_RUNNING)
    seen = proc_cmdlines(env, b)
    assert "sleep 601" in seen and "sleep 602" in seen
    pid1 = rt.ExecSync(PB.ExecSyncRequest(container_id=b, cmd=["cat", "/proc/1/cmdline"])).stdout
    assert b"--pod-pid-holder" in pid1  # the pod's holder is PID 1, not a container
    # TARGET: a container in another pod joins container a's namespace
    tid, tcfg = run_pod(env)
    target = PB.LinuxContainerConfig(security_context=PB.LinuxContainerSecurityContext(
        namespace_options=PB.NamespaceOption(pid=PB.TARGET, target_id=a)))
    t = start_container(env, tid, tcfg, "t", ["sleep", "603"], linux=target)
    wait_state(env, t, PB.CONTAINER_RUNNING)
    assert "sleep 601" in proc_cmdlines(env, t)
    # without sharing, a pod's containers see only their own processes
    solo = start_container(env, tid, tcfg, "solo", ["sleep", "604"])
    wait_state(env, solo, PB.CONTAINER_RUNNING)
    assert "sleep 601" not in proc_cmdlines(env, solo)
    with open(os.path.join(env.d.root, "sandboxes", sid, "pid-holder")) as f:
        holder = int(f.read())
    assert os.path.exists(f"/proc/{holder}")
    rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid))
    assert not os.path.exists(f"/proc/{holder}")  # stopping the pod ends its holder


def test_users_by_name_are_resolved_in_the_image(env):
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    as_nobody = PB.LinuxContainerConfig(security_context=PB.LinuxContainerSecurityContext(
        run_as_username="nobody"))
    c = start_container(env, sid, scfg, "nobody", ["sleep", "600"], linux=as_nobody)
    wait_state(env, c, PB.CONTAINER_RUNNING)
    ids = rt.ExecSync(PB.ExecSyncRequest(container_id=c, cmd=["id"])).stdout.decode()
    assert "uid=65534" in ids and "gid=65534" in ids
    ghost = PB.LinuxContainerConfig(security_context=PB.LinuxContainerSecurityContext(
        run_as_username="ghost"))
    ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name="ghost"),
                              image=PB.ImageSpec(image=env.ref), command=["true"], linux=ghost)
    with pytest.raises(grpc.RpcError) as e:
        rt.CreateContainer(PB.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg,
                                                     sandbox_config=scfg))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert '"ghost"' in e.value.details() and "/etc/passwd" in e.value.details()


def test_log_reopen_after_rename(env):
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "ticker",
                          ["/bin/sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done"])
    path = os.path.join(scfg.log_directory, "ticker.log")
    wait_log(env, scfg, "ticker", "tick 3")
    os.rename(path, path + ".1")  # what kubelet's rotation does
    rt.ReopenContainerLog(PB.ReopenContainerLogRequest(container_id=cid))
    deadline = time.time() + 10
    while time.time() < deadline and not (os.path.exists(path) and "tick" in open(path).read()):
        time.sleep(0.1)
    old, new = open(path + ".1").read(), open(path).read()
    assert "stdout F tick 0" in old
    first_new = int(new.splitlines()[0].rsplit(" ", 1)[1])
    last_old = int(old.splitlines()[-1].rsplit(" ", 1)[1])
    assert first_new > last_old  # nothing lost or repeated across the reopen


def test_cni_failure_rolls_the_pod_back(env):
    rt = env.d.runtime()
    conf_dir = env.d.config["cni_conf_dir"]
    broken = os.path.join(conf_dir, "00-broken.conflist")  # sorts first, so it is used
    with open(broken, "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "broken",
                   "plugins": [{"type": "no-such-plugin"}]}, f)
    before = set(os.listdir("/run/netns"))
    try:
        cfg = sandbox_config(env)
        with pytest.raises(grpc.RpcError) as e:
            rt.RunPodSandbox(PB.RunPodSandboxRequest(config=cfg), timeout=60)
        assert "no-such-plugin" in e.value.details()
        names = [s.metadata.name for s in rt.ListPodSandbox(PB.ListPodSandboxRequest()).items]
        assert cfg.metadata.name not in names
        assert set(os.listdir("/run/netns")) == before
    finally:
        os.unlink(broken)
    # the same name works once the network is fixed: nothing of the failed attempt remains
    sid = rt.RunPodSandbox(PB.RunPodSandboxRequest(config=cfg), timeout=60).pod_sandbox_id
    assert rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid)).status.state == \
        PB.SANDBOX_READY


def test_oci_runtime_failure_fails_the_start_cleanly(env):
    """The OCI runtime runs at StartContainer (as containerd's does): its failure fails the
    start with its own words, the container is EXITED with reason StartError, and removing it
    leaves nothing behind."""
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    missing = PB.Mount(container_path="/data", host_path="/nonexistent/wincri/source")
    ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name="broken"),
                              image=PB.ImageSpec(image=env.ref), command=["true"], mounts=[missing])
    layers = os.path.join(env.d.root, "containers")
    before = set(os.listdir(layers)) - {".trash"}
    cid = rt.CreateContainer(PB.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg,
                                                       sandbox_config=scfg),
                             timeout=60).container_id
    with pytest.raises(grpc.RpcError) as e:
        rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=60)
    assert "/nonexistent/wincri/source" in e.value.details()  # runc's own words
    st = rt.ContainerStatus(PB.ContainerStatusRequest(container_id=cid)).status
    assert (st.state, st.reason, st.exit_code) == (PB.CONTAINER_EXITED, "StartError", 128), st
    assert "/nonexistent/wincri/source" in st.message
    runc_root = os.path.join(env.d.state, "runtime", "runc")
    out = subprocess.run(["runc", "--root", runc_root, "list", "-q"], capture_output=True,
                         text=True).stdout.split()
    assert cid not in out, "the failed runc container was left"
    rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid), timeout=60)
    assert set(os.listdir(layers)) - {".trash"} == before  # no writable layer left behind
    trash = os.path.join(layers, ".trash")
    deadline = time.time() + 15
    while os.listdir(trash) and time.time() < deadline:  # moved aside, deleted in the background
        time.sleep(0.05)
    assert not os.listdir(trash)
