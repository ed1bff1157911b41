"""What kubelet (and the CRI validation suite) expect of a runtime beyond the happy path: the
node's host name for pods without one, read-only root filesystems, users and groups resolved
in the image with the supplemental-groups policy, recursive read-only mounts, stop signals,
and the features Status advertises. Real wincrid, runc, CNI and a registry (test_pods.py)."""
import os
import socket
import subprocess
import tempfile
import time

import grpc
import pytest

from conftest import PB
from conftest_images import registries  # noqa: F401  (fixture)
from test_pods import (env, forward_guard, run_pod, sandbox_config, start_container,  # noqa: F401
                       wait_log, wait_state)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pods need root")


def exec_out(env, cid, cmd):  # noqa: F811
    r = env.d.runtime().ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=cmd, timeout=10))
    return r.exit_code, r.stdout.decode(), r.stderr.decode()


def create_error(env, sid, scfg, **kw):  # noqa: F811
    ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name="refused"),
                              image=PB.ImageSpec(image=env.ref), command=["true"], **kw)
    with pytest.raises(grpc.RpcError) as e:
        env.d.runtime().CreateContainer(PB.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg,
                                                                  sandbox_config=scfg))
    return e.value


def sc(**kw):
    return PB.LinuxContainerConfig(security_context=PB.LinuxContainerSecurityContext(**kw))


# ---- host names ----

def test_empty_hostname_is_the_nodes_and_long_pod_names_work(env):  # noqa: F811
    long_name = "pod-with-a-name-longer-than-any-host-name-" + "x" * 60
    scfg = sandbox_config(env, name=long_name)
    scfg.hostname = ""
    sid = env.d.runtime().RunPodSandbox(PB.RunPodSandboxRequest(config=scfg),
                                        timeout=60).pod_sandbox_id
    cid = start_container(env, sid, scfg, "host", ["sleep", "600"])
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    code, out, _ = exec_out(env, cid, ["hostname"])
    assert code == 0 and out.strip() == socket.gethostname()
    _, out, _ = exec_out(env, cid, ["cat", "/etc/hostname"])
    assert out.strip() == socket.gethostname()


def test_hostname_the_kernel_cannot_take_is_invalid_argument(env):  # noqa: F811
    scfg = sandbox_config(env)
    scfg.hostname = "h" * 65
    with pytest.raises(grpc.RpcError) as e:
        env.d.runtime().RunPodSandbox(PB.RunPodSandboxRequest(config=scfg), timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "hostname" in e.value.details() and "64" in e.value.details()
    names = [p.metadata.name for p in env.d.runtime().ListPodSandbox(
        PB.ListPodSandboxRequest()).items]
    assert scfg.metadata.name not in names


# ---- read-only root filesystem ----

def test_readonly_rootfs_is_enforced(env):  # noqa: F811
    sid, scfg = run_pod(env)
    ro = start_container(env, sid, scfg, "ro", ["sleep", "600"], working_dir="/www",
                         linux=sc(readonly_rootfs=True))
    rw = start_container(env, sid, scfg, "rw", ["sleep", "600"], working_dir="/www")
    for c in (ro, rw):
        wait_state(env, c, PB.CONTAINER_RUNNING)
    code, _, err = exec_out(env, ro, ["touch", "test.go"])
    assert code != 0 and "Read-only file system" in err
    code, _, err = exec_out(env, rw, ["touch", "test.go"])
    assert code == 0, err


# ---- users and groups ----

def test_run_as_group_without_user_is_refused(env):  # noqa: F811
    sid, scfg = run_pod(env)
    e = create_error(env, sid, scfg, linux=sc(run_as_group=PB.Int64Value(value=1234)))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "run_as_group" in e.details() and "run_as_user" in e.details()


def user_of(env, cid):  # noqa: F811
    u = env.d.runtime().ContainerStatus(PB.ContainerStatusRequest(container_id=cid)).status.user
    return u.linux.uid, u.linux.gid, sorted(u.linux.supplemental_groups)


def test_groups_from_the_image_merge_by_default(env):  # noqa: F811
    """uid 1000 is `app` in the image: primary group 1000, member of 50000 there."""
    sid, scfg = run_pod(env)
    c = start_container(env, sid, scfg, "merge", ["sh", "-c", "id -G; sleep 600"],
                        linux=sc(run_as_user=PB.Int64Value(value=1000), supplemental_groups=[1234]))
    wait_state(env, c, PB.CONTAINER_RUNNING)
    assert wait_log(env, scfg, "merge", "1000 1234 50000\n")
    assert exec_out(env, c, ["id", "-G"])[1] == "1000 1234 50000\n"
    assert user_of(env, c) == (1000, 1000, [1000, 1234, 50000])


def test_groups_policy_strict_leaves_the_image_groups_out(env):  # noqa: F811
    sid, scfg = run_pod(env)
    strict = sc(run_as_user=PB.Int64Value(value=1000), supplemental_groups=[1234],
                supplemental_groups_policy=PB.Strict)
    c = start_container(env, sid, scfg, "strict", ["sh", "-c", "id -G; sleep 600"], linux=strict)
    wait_state(env, c, PB.CONTAINER_RUNNING)
    assert wait_log(env, scfg, "strict", "1000 1234\n")
    assert exec_out(env, c, ["id", "-G"])[1] == "1000 1234\n"
    assert user_of(env, c) == (1000, 1000, [1000, 1234])


def test_explicit_group_wins_and_unknown_uid_gets_group_0(env):  # noqa: F811
    sid, scfg = run_pod(env)
    c = start_container(env, sid, scfg, "grp", ["sleep", "600"],
                        linux=sc(run_as_user=PB.Int64Value(value=1000),
                                 run_as_group=PB.Int64Value(value=3000)))
    u = start_container(env, sid, scfg, "unknown", ["sleep", "600"],
                        linux=sc(run_as_user=PB.Int64Value(value=4242)))
    for x in (c, u):
        wait_state(env, x, PB.CONTAINER_RUNNING)
    assert exec_out(env, c, ["id", "-u"])[1] == "1000\n"
    assert exec_out(env, c, ["id", "-g"])[1] == "3000\n"
    assert user_of(env, c)[:2] == (1000, 3000)
    assert user_of(env, u) == (4242, 0, [0])


def test_status_advertises_what_is_supported(env):  # noqa: F811
    st = env.d.runtime().Status(PB.StatusRequest())
    assert st.features.supplemental_groups_policy
    handlers = {h.name: h.features for h in st.runtime_handlers}
    assert handlers["runc"].recursive_read_only_mounts  # runc 1.1 lists "rro", kernel >= 5.12
    assert not handlers["runc"].user_namespaces


# ---- recursive read-only mounts ----

@pytest.fixture
def nested_mount():
    """A host dir with a tmpfs mounted inside it: a plain read-only bind leaves the tmpfs
    writable, a recursive one does not."""
    d = tempfile.mkdtemp(prefix="wcrro")
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", sub], check=True)
    yield d
    subprocess.run(["umount", "-l", sub], check=False)
    os.rmdir(sub)
    os.rmdir(d)


def test_recursive_read_only_mount(env, nested_mount):  # noqa: F811
    sid, scfg = run_pod(env)
    rro = PB.Mount(container_path="/data", host_path=nested_mount, readonly=True,
                   recursive_read_only=True, propagation=PB.PROPAGATION_PRIVATE)
    ro = PB.Mount(container_path="/data", host_path=nested_mount, readonly=True,
                  propagation=PB.PROPAGATION_PRIVATE)
    a = start_container(env, sid, scfg, "rro", ["sleep", "600"], mounts=[rro])
    b = start_container(env, sid, scfg, "ro", ["sleep", "600"], mounts=[ro])
    for c in (a, b):
        wait_state(env, c, PB.CONTAINER_RUNNING)
    code, _, err = exec_out(env, a, ["touch", "/data/sub/x"])
    assert code != 0 and "Read-only file system" in err
    code, _, err = exec_out(env, b, ["touch", "/data/sub/x"])
    assert code == 0, "a plain read-only bind keeps submounts writable: " + err
    for bad in (PB.Mount(container_path="/data", host_path=nested_mount, readonly=False,
                         recursive_read_only=True, propagation=PB.PROPAGATION_PRIVATE),
                PB.Mount(container_path="/data", host_path=nested_mount, readonly=True,
                         recursive_read_only=True, propagation=PB.PROPAGATION_HOST_TO_CONTAINER)):
        e = create_error(env, sid, scfg, mounts=[bad])
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "recursive_read_only" in e.details()


# ---- stop signal ----

def test_stop_signal_is_used_and_reported(env):  # noqa: F811
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    script = "trap 'echo got USR1; exit 7' USR1; echo ready; while true; do sleep 0.1; done"
    c = start_container(env, sid, scfg, "usr1", ["sh", "-c", script], stop_signal=PB.SIGUSR1)
    wait_state(env, c, PB.CONTAINER_RUNNING)
    wait_log(env, scfg, "usr1", "ready")
    assert rt.ContainerStatus(PB.ContainerStatusRequest(container_id=c)).status.stop_signal == \
        PB.SIGUSR1
    t0 = time.time()
    rt.StopContainer(PB.StopContainerRequest(container_id=c, timeout=30), timeout=40)
    assert time.time() - t0 < 10, "the stop signal did not end the container; SIGKILL did"
    st = rt.ContainerStatus(PB.ContainerStatusRequest(container_id=c)).status
    assert st.exit_code == 7 and st.stop_signal == PB.SIGUSR1
    assert "got USR1" in wait_log(env, scfg, "usr1", "got USR1")
