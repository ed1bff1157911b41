"""What an attacker on the node or a hostile client could try: reading what wincrid stores,
log paths that climb out of their directory, names with NUL or invalid UTF-8, ExecSync output
that would not fit kubelet's 16 MiB messages. Real wincrid, runc, CNI and registry."""
import os
import stat
import subprocess

import grpc
import pytest

from conftest import MAX_MSG, PB, PB_GRPC
from conftest_images import registries  # noqa: F401  (fixture)
from test_pods import (env, forward_guard, pod_env, run_pod, sandbox_config,  # noqa: F401
                       start_container, wait_log, wait_state)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pods need root")

NOBODY = 65534


@pytest.fixture(scope="module")
def open_umask_env(registries, forward_guard, tmp_path_factory):  # noqa: F811
    """A daemon started with umask 000: privacy must come from wincrid, not from the umask."""
    yield from pod_env(registries, tmp_path_factory, umask=0)


# ---- what is stored is root's only ----

def content_areas(root, state):
    """Trees whose modes are not wincrid's to choose: image layer contents, containers' writable
    layers and rootfs mounts, and the OCI runtime's own state."""
    return [os.path.join(root, "images", "layers"), os.path.join(root, "containers"),
            os.path.join(state, "bundles"), os.path.join(state, "runtime"),
            os.path.join(state, "ns")]


# Files containers read through bind mounts (as any user) or that exist to be connected to.
ALLOWED = {"resolv.conf": 0o644, "hosts": 0o644, "hostname": 0o644, "wincri.sock": 0o660}


def check_tree(top, skip):
    bad = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if name in ALLOWED:
                if mode != ALLOWED[name]:
                    bad.append((path, oct(mode)))
            elif mode & 0o077:
                bad.append((path, oct(mode)))
    return bad


def test_everything_stored_is_root_only_whatever_the_umask(open_umask_env):
    env = open_umask_env
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    as_nobody = PB.LinuxContainerConfig(security_context=PB.LinuxContainerSecurityContext(
        run_as_user=PB.Int64Value(value=NOBODY)))
    c = start_container(env, sid, scfg, "secret",
                        ["sh", "-c", "cat /etc/resolv.conf /etc/hosts /etc/hostname && "
                                     "echo read-ok; sleep 600"],
                        envs=[PB.KeyValue(key="DB_PASSWORD", value="hunter2")], linux=as_nobody)
    wait_state(env, c, PB.CONTAINER_RUNNING)
    # a non-root container reads the pod's files: their 0644 is needed
    wait_log(env, scfg, "secret", "read-ok")
    rt.ExecSync(PB.ExecSyncRequest(container_id=c, cmd=["true"]))
    root, state = env.d.root, env.d.state
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o711
    skip = set(content_areas(root, state))
    bad = check_tree(root, skip) + check_tree(state, skip)
    assert not bad, f"readable by others: {bad}"
    for db in ("pods.db", "pods.db-wal", "images/images.db", "images/images.db-wal"):
        path = os.path.join(root, db)
        if os.path.exists(path):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, db
    # and for real: nobody cannot read the environment out of the store
    r = subprocess.run(["cat", os.path.join(root, "pods.db")], user=NOBODY, capture_output=True)
    assert r.returncode != 0 and b"hunter2" not in r.stdout


def test_existing_store_is_made_private_on_start(open_umask_env):
    """A root left 0711 with a 0644 database by an older wincri is tightened at start."""
    env = open_umask_env
    os.chmod(env.d.root, 0o711)
    os.chmod(os.path.join(env.d.root, "pods.db"), 0o644)
    env.d.stop()
    env.d.start()
    assert stat.S_IMODE(os.stat(env.d.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(env.d.root, "pods.db")).st_mode) == 0o600


# ---- log paths stay in their directory ----

def test_log_paths_cannot_climb_out(env):  # noqa: F811
    rt = env.d.runtime()
    sid, scfg = run_pod(env)
    outside = os.path.join(os.path.dirname(scfg.log_directory), "escaped.log")
    for log_path in ("../escaped.log", "a/../../escaped.log", outside, "..\\escaped.log"):
        ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name="esc"),
                                  image=PB.ImageSpec(image=env.ref), command=["echo", "x"],
                                  log_path=log_path)
        with pytest.raises(grpc.RpcError) as e:
            rt.CreateContainer(PB.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg,
                                                         sandbox_config=scfg))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, log_path
        assert "log_path" in e.value.details()
    assert not os.path.exists(outside)
    # a subdirectory, as kubelet uses ("<container>/<restart>.log"), is fine
    os.makedirs(os.path.join(scfg.log_directory, "sub"))
    c = start_container(env, sid, scfg, "sublog", ["echo", "in-sub"], log_path="sub/0.log")
    wait_state(env, c, PB.CONTAINER_EXITED)
    with open(os.path.join(scfg.log_directory, "sub", "0.log")) as f:
        assert "in-sub" in f.read()
    for log_dir in (scfg.log_directory + "/../other", "relative/dir"):
        bad = sandbox_config(env)
        bad.log_directory = log_dir
        with pytest.raises(grpc.RpcError) as e:
            rt.RunPodSandbox(PB.RunPodSandboxRequest(config=bad))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "log_directory" in e.value.details()


# ---- names are stored as sent or refused ----

def raw_call(env, method, raw, response):  # noqa: F811
    call = env.d.channel().unary_unary(method, request_serializer=lambda b: b,
                                       response_deserializer=response.FromString)
    return call(raw, timeout=30)


@pytest.mark.parametrize("field,placeholder", [
    ("metadata.name", "NAME-PLACEHOLDER"),
    ("metadata.namespace", "NS-PLACEHOLDER"),
    ("labels.value", "LABEL-PLACEHOLDER"),
    ("annotations.key", "ANNOT-PLACEHOLDER"),
])
@pytest.mark.parametrize("bad", [b"a\x00b", b"\xff\xfe"])
def test_names_with_nul_or_bad_utf8_are_refused(env, field, placeholder, bad):  # noqa: F811
    cfg = sandbox_config(env)
    if field == "metadata.name":
        cfg.metadata.name = placeholder
    elif field == "metadata.namespace":
        cfg.metadata.namespace = placeholder
    elif field == "labels.value":
        cfg.labels["k"] = placeholder
    else:
        cfg.annotations[placeholder] = "v"
    raw = PB.RunPodSandboxRequest(config=cfg).SerializeToString()
    enc = placeholder.encode()
    # same length, so every enclosing length prefix stays right
    raw = raw.replace(enc, bad + b"x" * (len(enc) - len(bad)))
    before = len(env.d.runtime().ListPodSandbox(PB.ListPodSandboxRequest()).items)
    with pytest.raises(grpc.RpcError) as e:
        raw_call(env, "/runtime.v1.RuntimeService/RunPodSandbox", raw, PB.RunPodSandboxResponse)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config." + field in e.value.details()
    assert ("NUL" in e.value.details()) == (b"\x00" in bad)
    # nothing stored, and a strict client still parses the list
    assert len(env.d.runtime().ListPodSandbox(PB.ListPodSandboxRequest()).items) == before


# ---- ExecSync output fits kubelet's 16 MiB ----

def test_exec_sync_output_at_the_cap_fits_one_message(env):  # noqa: F811
    sid, scfg = run_pod(env)
    c = start_container(env, sid, scfg, "big", ["sleep", "600"])
    wait_state(env, c, PB.CONTAINER_RUNNING)
    ch = grpc.insecure_channel(env.d.endpoint, options=[
        ("grpc.max_receive_message_length", MAX_MSG)])  # exactly kubelet's limit
    rt = PB_GRPC.RuntimeServiceStub(ch)
    try:
        for cmd in (f"head -c {MAX_MSG} /dev/zero",
                    f"head -c {MAX_MSG} /dev/zero; head -c 1048576 /dev/zero >&2",
                    f"head -c {MAX_MSG + 4096} /dev/zero >&2"):
            r = rt.ExecSync(PB.ExecSyncRequest(container_id=c, cmd=["sh", "-c", cmd], timeout=60),
                            timeout=120)
            assert r.exit_code == 0
            assert len(r.stdout) + len(r.stderr) < MAX_MSG
            assert r.stderr.endswith(b"truncated to 16 MiB]\n")
        small = rt.ExecSync(PB.ExecSyncRequest(container_id=c, cmd=["echo", "hi"], timeout=10))
        assert small.stdout == b"hi\n" and small.stderr == b""
    finally:
        ch.close()


# ---- a Localhost seccomp profile is read only if it is a small regular file ----

@pytest.mark.parametrize("kind", ["fifo", "dir", "huge"])
def test_seccomp_profile_that_is_not_a_small_file_is_refused(env, tmp_path, kind):  # noqa: F811
    """Found by review during fuzzing: the profile path comes from the request; a FIFO there
    blocked a handler thread forever."""
    path = str(tmp_path / "profile.json")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        os.mkdir(path)
    else:
        with open(path, "wb") as f:
            f.truncate(8 * 1024 * 1024)
    sid, scfg = run_pod(env)
    ccfg = PB.ContainerConfig(
        metadata=PB.ContainerMetadata(name="sc-" + kind), image=PB.ImageSpec(image=env.ref),
        command=["sleep", "600"],
        linux=PB.LinuxContainerConfig(security_context=PB.LinuxContainerSecurityContext(
            seccomp=PB.SecurityProfile(profile_type=PB.SecurityProfile.Localhost,
                                       localhost_ref=path))))
    with pytest.raises(grpc.RpcError) as e:
        env.d.runtime().CreateContainer(PB.CreateContainerRequest(
            pod_sandbox_id=sid, config=ccfg, sandbox_config=scfg), timeout=20)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value
    assert path in e.value.details()
