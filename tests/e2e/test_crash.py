"""Crash consistency: wincrid killed (SIGKILL, by its own named crash points: WINCRI_CRASH_AT,
common/crash.h) between the side effects of every mutating RPC, then restarted. After each
restart nothing leaks (network namespace, CNI address, runc container, mount, directory,
record), every object is in the state recovery promises (podsandbox/recover.c: rolled back
before the verb's commit, forward after it), and the interrupted call, retried, succeeds.
Real wincrid, keeper, runc, CNI bridge + host-local IPAM and registry (test_pods.py)."""
import os
import re
import subprocess
import time
import uuid

import grpc
import pytest

import registry as R
from conftest import PB
from conftest_images import registries  # noqa: F401  (fixture)
from test_pods import (env, forward_guard, read_log, run_pod, sandbox_config,  # noqa: F401
                       wait_log, wait_state)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pods need root")


# ---- the daemon, killed at a point and started again ----

def crash_at(env, point, call):
    """Restarts wincrid armed at point, makes the call, which must die with the daemon."""
    d = env.d
    assert d.stop() == 0
    d.start(env_extra={"WINCRI_CRASH_AT": point})
    with pytest.raises(grpc.RpcError) as e:
        call(d)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value
    d.proc.wait(timeout=30)
    assert d.proc.returncode == -9, f"wincrid exited {d.proc.returncode}, not at {point}"
    assert f"point={point}" in d.log(), f"crash point {point} was not reached"
    d.log_file.close()
    d.channels = []
    d.start()
    return d.runtime()


# ---- what the node holds, against what wincrid reports ----

def runc_ids(env):
    root = os.path.join(env.d.state, "runtime", "runc")
    out = subprocess.run(["runc", "--root", root, "list", "-q"], capture_output=True, text=True)
    return set(out.stdout.split())


def ipam_owners(env):
    owners = set()
    if os.path.isdir(env.ipam_dir):
        for name in os.listdir(env.ipam_dir):
            if re.match(r"^\d+\.\d+\.\d+\.\d+$", name):
                with open(os.path.join(env.ipam_dir, name)) as f:
                    owners.add(f.read().split()[0])
    return owners


def netns_ids():
    return {n[len("wincri-"):] for n in os.listdir("/run/netns") if n.startswith("wincri-")}


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def listdir(path):
    """Entries named by objects; what removals moved aside into .trash/ must be deleted by the
    background thread within seconds (an entry left there is a leak too)."""
    trash = os.path.join(path, ".trash")
    deadline = time.time() + 15
    while os.path.isdir(trash) and os.listdir(trash) and time.time() < deadline:
        time.sleep(0.05)
    assert not (os.path.isdir(trash) and os.listdir(trash)), f"not deleted: {os.listdir(trash)}"
    return set(os.listdir(path)) - {".trash"} if os.path.isdir(path) else set()


def snapshot():
    return {"netns": netns_ids()}


def assert_no_leaks(env, before):
    """Everything on the node belongs to an object wincrid lists, in a state that owns it."""
    rt = env.d.runtime()
    pods = {s.id: s.state for s in rt.ListPodSandbox(PB.ListPodSandboxRequest()).items}
    ctrs = {c.id: c.state for c in rt.ListContainers(PB.ListContainersRequest()).containers}
    ready = {i for i, st in pods.items() if st == PB.SANDBOX_READY}
    # /run/netns is the host's: other runtimes on the host may add to it meanwhile; ours
    # are the ones this daemon's log names.
    log = env.d.log()
    new_netns = {n for n in netns_ids() - before["netns"] if n[:12] in log}
    assert new_netns <= ready, f"network namespaces leaked: {new_netns - ready}"
    assert ipam_owners(env) <= ready, f"CNI addresses leaked: {ipam_owners(env) - ready}"
    assert runc_ids(env) <= set(ctrs), f"runc containers leaked: {runc_ids(env) - set(ctrs)}"
    for m in mounts_under(env.d.dir):
        assert any(i in m for i in list(ctrs) + list(pods)), f"mount leaked: {m}"
    d = env.d
    assert listdir(os.path.join(d.state, "bundles")) <= set(ctrs), "bundle dirs leaked"
    assert listdir(os.path.join(d.root, "containers")) <= set(ctrs), "container dirs leaked"
    assert listdir(os.path.join(d.root, "sandboxes")) <= set(pods), "sandbox dirs leaked"
    return pods, ctrs


def remove_all(env):
    rt = env.d.runtime()
    for s in rt.ListPodSandbox(PB.ListPodSandboxRequest()).items:
        rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=s.id), timeout=60)
        rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=s.id), timeout=60)


@pytest.fixture
def clean(env):  # noqa: F811
    remove_all(env)
    before = snapshot()
    yield before
    remove_all(env)
    assert_no_leaks(env, before)


def container_config(env, name, cmd=("sleep", "600"), **kw):
    return PB.ContainerConfig(metadata=PB.ContainerMetadata(name=name),
                              image=PB.ImageSpec(image=env.ref), command=list(cmd),
                              log_path=f"{name}.log", **kw)


def create(rt, sid, scfg, ccfg):
    return rt.CreateContainer(PB.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg,
                                                        sandbox_config=scfg),
                              timeout=60).container_id


def by_name(rt, name):
    return [c for c in rt.ListContainers(PB.ListContainersRequest()).containers
            if c.metadata.name == name]


# ---- RunPodSandbox ----

@pytest.mark.parametrize("point", ["sandbox.run.recorded", "sandbox.run.setup",
                                   "sandbox.run.netns", "sandbox.run.cni"])
def test_run_pod_sandbox_cut_short_is_rolled_back(env, clean, point):  # noqa: F811
    scfg = sandbox_config(env)
    rt = crash_at(env, point, lambda d: d.runtime().RunPodSandbox(
        PB.RunPodSandboxRequest(config=scfg), timeout=60))
    pods, _ = assert_no_leaks(env, clean)
    assert not pods, "a pod whose start was cut short is listed"
    sid = rt.RunPodSandbox(PB.RunPodSandboxRequest(config=scfg), timeout=60).pod_sandbox_id
    st = rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
    assert st.state == PB.SANDBOX_READY and st.network.ip.startswith("10.98.")


def test_run_pod_sandbox_committed_is_kept(env, clean):  # noqa: F811
    scfg = sandbox_config(env)
    rt = crash_at(env, "sandbox.run.committed", lambda d: d.runtime().RunPodSandbox(
        PB.RunPodSandboxRequest(config=scfg), timeout=60))
    pods, _ = assert_no_leaks(env, clean)
    assert list(pods.values()) == [PB.SANDBOX_READY]
    # The kubelet finds it by its metadata; the same request names the pod that exists.
    with pytest.raises(grpc.RpcError) as e:
        rt.RunPodSandbox(PB.RunPodSandboxRequest(config=scfg), timeout=60)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert list(pods)[0] in e.value.details()


# ---- CreateContainer ----

@pytest.mark.parametrize("point", ["container.create.recorded", "container.create.backend"])
def test_create_container_cut_short_is_rolled_back(env, clean, point):  # noqa: F811
    sid, scfg = run_pod(env)
    ccfg = container_config(env, "c")
    rt = crash_at(env, point, lambda d: create(d.runtime(), sid, scfg, ccfg))
    _, ctrs = assert_no_leaks(env, clean)
    assert not ctrs
    cid = create(rt, sid, scfg, ccfg)
    rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=60)
    wait_state(env, cid, PB.CONTAINER_RUNNING)


def test_create_container_committed_is_kept(env, clean):  # noqa: F811
    sid, scfg = run_pod(env)
    ccfg = container_config(env, "c")
    rt = crash_at(env, "container.create.committed", lambda d: create(d.runtime(), sid, scfg,
                                                                      ccfg))
    _, ctrs = assert_no_leaks(env, clean)
    assert list(ctrs.values()) == [PB.CONTAINER_CREATED]
    cid = list(ctrs)[0]
    rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=60)
    wait_state(env, cid, PB.CONTAINER_RUNNING)


# ---- StartContainer ----

@pytest.mark.parametrize("point,after", [("container.start.recorded", PB.CONTAINER_CREATED),
                                         ("container.start.spawned", PB.CONTAINER_CREATED),
                                         ("container.start.stdio", PB.CONTAINER_CREATED),
                                         ("container.start.started", PB.CONTAINER_RUNNING)])
def test_start_container_cut_short(env, clean, point, after):  # noqa: F811
    sid, scfg = run_pod(env)
    ticker = ["/bin/sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done"]
    cid = create(env.d.runtime(), sid, scfg, container_config(env, "c", ticker))
    rt = crash_at(env, point, lambda d: d.runtime().StartContainer(
        PB.StartContainerRequest(container_id=cid), timeout=60))
    _, ctrs = assert_no_leaks(env, clean)
    assert ctrs[cid] == after
    if after == PB.CONTAINER_CREATED:
        rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=60)
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    wait_log(env, scfg, "c", "line 3")
    rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=0), timeout=60)
    st = wait_state(env, cid, PB.CONTAINER_EXITED)
    assert st.exit_code == 137, st
    lines = [rec.split(" ", 3)[3] for rec in read_log(env, scfg, "c").splitlines()]
    assert lines == [f"line {i}" for i in range(len(lines))], "log lines lost or repeated"


# ---- StopContainer ----

@pytest.mark.parametrize("point", ["container.stop.recorded", "container.stop.exited"])
def test_stop_container_cut_short_is_finished(env, clean, point):  # noqa: F811
    sid, scfg = run_pod(env)
    rt = env.d.runtime()
    cid = create(rt, sid, scfg, container_config(env, "c"))
    rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=60)
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    rt = crash_at(env, point, lambda d: d.runtime().StopContainer(
        PB.StopContainerRequest(container_id=cid, timeout=0), timeout=60))
    # Its grace (0 s) was over: recovery finishes the stop with SIGKILL.
    st = wait_state(env, cid, PB.CONTAINER_EXITED)
    assert st.exit_code == 137 and st.reason == "Error", st
    assert_no_leaks(env, clean)
    rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=0), timeout=60)


# ---- RemoveContainer ----

@pytest.mark.parametrize("point", ["container.remove.recorded", "container.remove.reclaimed"])
def test_remove_container_cut_short_is_finished(env, clean, point):  # noqa: F811
    sid, scfg = run_pod(env)
    rt = env.d.runtime()
    cid = create(rt, sid, scfg, container_config(env, "c"))
    rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=60)
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    rt = crash_at(env, point, lambda d: d.runtime().RemoveContainer(
        PB.RemoveContainerRequest(container_id=cid), timeout=60))
    _, ctrs = assert_no_leaks(env, clean)
    assert cid not in ctrs
    rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid), timeout=60)
    # The name is free again.
    cid2 = create(rt, sid, scfg, container_config(env, "c"))
    assert cid2 != cid


# ---- StopPodSandbox / RemovePodSandbox ----

def pod_with_running_container(env):
    sid, scfg = run_pod(env)
    rt = env.d.runtime()
    cid = create(rt, sid, scfg, container_config(env, "c"))
    rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=60)
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    return sid, scfg, cid


@pytest.mark.parametrize("point", ["sandbox.stop.recorded", "sandbox.stop.containers",
                                   "sandbox.stop.network"])
def test_stop_pod_sandbox_cut_short_is_finished(env, clean, point):  # noqa: F811
    sid, scfg, cid = pod_with_running_container(env)
    rt = crash_at(env, point, lambda d: d.runtime().StopPodSandbox(
        PB.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60))
    pods, ctrs = assert_no_leaks(env, clean)
    assert pods[sid] == PB.SANDBOX_NOTREADY and ctrs[cid] == PB.CONTAINER_EXITED
    assert sid not in netns_ids() and sid not in ipam_owners(env)
    rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)


@pytest.mark.parametrize("point", ["sandbox.remove.recorded", "sandbox.remove.containers",
                                   "sandbox.remove.network", "sandbox.remove.deleted"])
def test_remove_pod_sandbox_cut_short_is_finished(env, clean, point):  # noqa: F811
    sid, scfg, cid = pod_with_running_container(env)
    rt = crash_at(env, point, lambda d: d.runtime().RemovePodSandbox(
        PB.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60))
    pods, ctrs = assert_no_leaks(env, clean)
    assert sid not in pods and cid not in ctrs
    rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    # Its name is free again.
    sid2 = rt.RunPodSandbox(PB.RunPodSandboxRequest(config=scfg), timeout=60).pod_sandbox_id
    assert sid2 != sid


# ---- PullImage ----

def two_layer_image(tag):
    base = R.TarBuilder().dir("etc").file("etc/base", "base " + tag + "\n")
    top = R.TarBuilder().dir("etc").file("etc/top", "top " + tag + "\n")
    return R.Image([R.Layer(base.bytes()), R.Layer(top.bytes())], cmd=["/bin/true"])


@pytest.mark.parametrize("point", ["image.pull.layer", "image.pull.committed"])
def test_pull_image_cut_short_retries_to_success(env, clean, point):  # noqa: F811
    tag = uuid.uuid4().hex[:8]
    env.registries.push("e2e/crash", tag, two_layer_image(tag))
    ref = f"127.0.0.1:{env.registries.plain.port}/e2e/crash:{tag}"
    crash_at(env, point, lambda d: d.image().PullImage(
        PB.PullImageRequest(image=PB.ImageSpec(image=ref)), timeout=60))
    rt_img = env.d.image()
    tmp = os.path.join(env.d.root, "images", "tmp")
    if os.path.isdir(tmp):
        assert not os.listdir(tmp), f"pull leftovers: {os.listdir(tmp)}"
    r = rt_img.PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=ref)), timeout=60)
    st = rt_img.ImageStatus(PB.ImageStatusRequest(image=PB.ImageSpec(image=ref))).image
    assert st.id == r.image_ref and ref in st.repo_tags
    rt_img.RemoveImage(PB.RemoveImageRequest(image=PB.ImageSpec(image=ref)), timeout=60)


# ---- ReopenContainerLog ----

def test_reopen_container_log_cut_short_retries_to_success(env, clean):  # noqa: F811
    sid, scfg = run_pod(env)
    rt = env.d.runtime()
    ticker = ["/bin/sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done"]
    cid = create(rt, sid, scfg, container_config(env, "c", ticker))
    rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=60)
    wait_log(env, scfg, "c", "line 2")
    path = os.path.join(scfg.log_directory, "c.log")
    os.rename(path, path + ".1")
    rt = crash_at(env, "container.reopen.done", lambda d: d.runtime().ReopenContainerLog(
        PB.ReopenContainerLogRequest(container_id=cid), timeout=60))
    rt.ReopenContainerLog(PB.ReopenContainerLogRequest(container_id=cid), timeout=60)
    wait_log(env, scfg, "c", "line")
    time.sleep(0.5)
    with open(path + ".1") as f:
        old = f.read()
    nums = [int(m) for m in re.findall(r"stdout F line (\d+)", old + read_log(env, scfg, "c"))]
    assert nums == list(range(nums[0], nums[0] + len(nums))) and nums[0] == 0, nums[:20]
    assert_no_leaks(env, clean)


# ---- what no record owns ----

def test_a_runtime_container_no_record_owns_is_reclaimed(env, clean):  # noqa: F811
    """The record lost (deleted behind wincrid's back): the runc container, its rootfs mount,
    bundle and writable layer go at the next start."""
    import sqlite3
    sid, scfg, cid = pod_with_running_container(env)
    assert cid in runc_ids(env)
    assert env.d.stop() == 0
    db = sqlite3.connect(os.path.join(env.d.root, "pods.db"))
    db.execute("DELETE FROM containers WHERE id = ?", (cid,))
    db.commit()
    db.close()
    env.d.start()
    assert cid not in runc_ids(env)
    assert not [m for m in mounts_under(env.d.dir) if cid in m]
    assert cid not in listdir(os.path.join(env.d.state, "bundles"))
    assert cid not in listdir(os.path.join(env.d.root, "containers"))
    assert "removing a container no record owns" in env.d.log()
    assert_no_leaks(env, clean)


# ---- no call waits on output that never ends ----

def test_nothing_hangs_on_output_that_never_closes(env, clean):  # noqa: F811
    """In a pod sharing one PID namespace, a container's init exits while a child it left
    behind holds its stdout open forever. Stop, remove and the pod's stop and removal each
    return in bounded time all the same."""
    sid, scfg = run_pod(env, linux=PB.LinuxPodSandboxConfig(security_context=PB.LinuxSandboxSecurityContext(
        namespace_options=PB.NamespaceOption(pid=PB.POD))))
    rt = env.d.runtime()
    cid = create(rt, sid, scfg, container_config(env, "c", ["/bin/sh", "-c",
                                                            "sleep 1000 & echo started"]))
    rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=60)
    st = wait_state(env, cid, PB.CONTAINER_EXITED)
    assert st.exit_code == 0
    wait_log(env, scfg, "c", "started")
    t0 = time.time()
    rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=1), timeout=30)
    rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid), timeout=30)
    rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=30)
    rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=30)
    assert time.time() - t0 < 30
