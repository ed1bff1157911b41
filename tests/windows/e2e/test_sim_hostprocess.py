"""HostProcess pods (WindowsSandboxSecurityContext.host_process) on the simulated host, the
way hcsshim's internal/jobcontainers runs them: no compute system and no HCN namespace or
endpoint; the container's processes run on the host in a job object JobContainer_<id>, with
the image's layers mounted at C:\\hpc\\<id>\\ (CONTAINER_SANDBOX_MOUNT_POINT; hcsshim's
layout where the bind filter is absent), as the user the pod names. Logs, exec, stop with
grace, stats and recovery after a wincrid restart work as for other pods.

Three calls wine 8 lacks are the test host's stand-ins (tests/windows/sim/winegaps.c and
host_gaps.c; sim README "Where wine falls short"), each checked as Windows documents it and
journalled: LogonUserW for the built-in service accounts, CPU rate control on job objects,
CreateSymbolicLinkW. What they cannot make real is said where it matters: a process logged
on as SYSTEM still carries wine's user in its token (wine cannot make a token for another
user), and no CPU limit is enforced. Most tests run with hcsshim's inherit-user annotation
(wincrid's own token)."""
import os
import re
import socket
import subprocess
import time
import uuid

import grpc
import pytest

from winsim import PB, SIM_DIR, Pods, WinCrid, calls, free_port

# JOBOBJECT_CPU_RATE_CONTROL_INFORMATION ControlFlags (winnt.h)
CPU_ENABLE, CPU_WEIGHT_BASED, CPU_HARD_CAP = 0x1, 0x2, 0x4

INHERIT = {"microsoft.com/hostprocess-inherit-user": "true"}
MP_VAR = "%CONTAINER_SANDBOX_MOUNT_POINT%"


def hp_pod(pods, user="", annotations=None, handler=""):
    sc = PB.WindowsSandboxSecurityContext(host_process=True, run_as_username=user)
    return pods.run_pod(handler=handler, windows=PB.WindowsPodSandboxConfig(security_context=sc),
                        annotations=annotations or {})


def hp_windows(user="", host_process=True, **res):
    return PB.WindowsContainerConfig(
        security_context=PB.WindowsContainerSecurityContext(host_process=host_process,
                                                            run_as_username=user),
        resources=PB.WindowsContainerResources(**res) if res else None)


def wine_user_sid(host):
    """The SID of the wine prefix's user, which wincrid.exe runs as: ctr.exe run directly."""
    r = subprocess.run(["wine", os.path.join(SIM_DIR, "ctr.exe"), "whoami"], env=host.env,
                       capture_output=True, timeout=120)
    line = r.stdout.decode(errors="replace").strip().splitlines()[-1]
    return line.split(" sid ")[1]


def job_rates(host, since, cid):
    """What wincrid set on the container's job (the stand-in of SetInformationJobObject)."""
    return [e for e in calls(host.journal(since), "SetInformationJobObject")
            if e["id"] == "JobContainer_" + cid and e["hr"] == "0x00000000"]


def rate_doc(flags, **value):
    return dict(value, **{"class": "JobObjectCpuRateControlInformation", "ControlFlags": flags})


def test_hostprocess_cni_like_pod(host, pods, daemon):
    m = host.mark()
    sid, scfg = hp_pod(pods, annotations=INHERIT)
    # the pod is in the host's network: no HCN namespace or endpoint, no pod IP
    j = host.journal(m)
    assert not calls(j, "HcnCreateNamespace") and not calls(j, "HcnCreateEndpoint"), j
    ps = pods.rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid), timeout=30)
    assert ps.status.state == PB.SANDBOX_READY
    assert ps.status.network.ip == ""

    host_file = "C:\\hostfile-" + uuid.uuid4().hex[:8] + ".txt"
    with open(host.path(host_file), "w") as f:
        f.write("from the host\n")
    port = free_port()
    cid = pods.run(sid, scfg, name="cni", windows=hp_windows(),
                   command=[MP_VAR + "\\app\\ctr.exe"],
                   args=["env", "CONTAINER_SANDBOX_MOUNT_POINT", ";", "whoami", ";",
                         "type", host_file, ";", "type", MP_VAR + "\\app\\config.txt", ";",
                         "write", MP_VAR + "\\written.txt", "by-the-container", ";",
                         "listen", str(port), ";"])
    mp = "C:\\hpc\\" + cid
    text = pods.wait_log(scfg, "cni", "listening")
    j = host.journal(m)
    # no compute system, no HCS process: the job object is the container
    assert not [e for e in calls(j, "HcsCreateComputeSystem") if e["id"] == cid]
    assert not calls(j, "HcsCreateProcess")
    mount = [e for e in calls(j, "SetVolumeMountPoint") if e["id"] == mp + "\\"]
    assert mount and mount[0]["hr"] == "0x00000000", j
    assert mp in text  # CONTAINER_SANDBOX_MOUNT_POINT
    assert "from the host" in text  # host files are reachable
    assert "marker=v1" in text  # the image's layers at the mount point
    with open(host.path(mp + "\\written.txt")) as f:  # and its writes are on the host there
        assert f.read().strip() == "by-the-container"
    assert "user " in text and wine_user_sid(host) in text  # inherit-user: wincrid's token
    # the host's network: its listener is on the host's loopback
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"ping")
        assert s.recv(4) == b"ping"

    # exec runs in the job with the same environment and user
    r = pods.rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["ctr.exe", "env",
                                                                    "CONTAINER_SANDBOX_MOUNT_POINT"],
                                            timeout=30), timeout=60)
    assert (r.exit_code, r.stdout.decode().strip()) == (0, "CONTAINER_SANDBOX_MOUNT_POINT=" + mp + "\\")
    r = pods.rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["ctr.exe", "exit", "5"],
                                            timeout=30), timeout=60)
    assert r.exit_code == 5

    s = pods.rt.ContainerStats(PB.ContainerStatsRequest(container_id=cid), timeout=30).stats
    assert s.memory.working_set_bytes.value > 0
    assert s.cpu.timestamp > 0

    # a new CPU cap goes onto the job (hcsshim Update: SetResourceLimits, a hard cap)
    m2 = host.mark()
    pods.rt.UpdateContainerResources(PB.UpdateContainerResourcesRequest(
        container_id=cid, windows=PB.WindowsContainerResources(cpu_maximum=5000)), timeout=30)
    assert [e["doc"] for e in job_rates(host, m2, cid)] == [
        rate_doc(CPU_ENABLE | CPU_HARD_CAP, CpuRate=5000)]

    # a listener ignores console events: the stop's grace ends with the job terminated
    pods.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=2), timeout=60)
    st = pods.status(cid)
    assert st.state == PB.CONTAINER_EXITED
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
    pods.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid), timeout=60)
    assert not os.path.exists(host.path(mp))  # unmounted and its folder gone
    unmount = [e for e in calls(host.journal(m), "DeleteVolumeMountPoint") if e["id"] == mp + "\\"]
    assert unmount and unmount[0]["hr"] == "0x00000000"
    os.remove(host.path(host_file))


def test_hostprocess_stop_with_grace(host, pods):
    sid, scfg = hp_pod(pods, annotations=INHERIT)
    cid = pods.run(sid, scfg, name="svc", windows=hp_windows(), command=["ctr.exe"],
                   args=["run"])
    pods.wait_log(scfg, "svc", "running pid=")
    pods.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=20), timeout=60)
    st = pods.status(cid)
    # CtrlShutdown (6) reached the process (hcsshim signalProcess): it exits 100+6
    assert (st.state, st.exit_code) == (PB.CONTAINER_EXITED, 106)
    text = open(pods.log_file(scfg, "svc")).read()
    assert "got event 6" in text


def test_hostprocess_exit_code_and_logs(pods):
    sid, scfg = hp_pod(pods, annotations=INHERIT)
    cid = pods.run(sid, scfg, name="once", windows=hp_windows(), command=["ctr.exe"],
                   args=["echo", "out-line", ";", "err", "err-line", ";", "exit", "3"])
    st = pods.wait_state(cid, PB.CONTAINER_EXITED)
    assert st.exit_code == 3
    text = pods.wait_log(scfg, "once", "err-line")
    assert " stdout " in text and "out-line" in text and " stderr " in text


def test_hostprocess_mixed_pods_are_refused(pods):
    sid, scfg = hp_pod(pods, annotations=INHERIT)
    with pytest.raises(grpc.RpcError) as e:
        pods.create(sid, scfg, name="plain", windows=hp_windows(host_process=False))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "HostProcess pod" in e.value.details()
    sid2, scfg2 = pods.run_pod()
    with pytest.raises(grpc.RpcError) as e:
        pods.create(sid2, scfg2, name="hp", windows=hp_windows())
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a HostProcess pod" in e.value.details()


def test_hostprocess_hyperv_is_refused(pods):
    with pytest.raises(grpc.RpcError) as e:
        hp_pod(pods, annotations=INHERIT, handler="runhcs-wcow-hypervisor")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Hyper-V" in e.value.details()


def test_hostprocess_needs_a_user(pods):
    """hcsshim processToken refuses an empty user; the image's User (ContainerUser) names an
    account inside an image, so it is not taken for a process on the host."""
    sid, scfg = hp_pod(pods)
    with pytest.raises(grpc.RpcError) as e:
        pods.create(sid, scfg, name="nouser", windows=hp_windows(), command=["ctr.exe"])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no user to run as" in e.value.details()


def test_hostprocess_other_account_gets_wines_logon(host, pods):
    """An account of another domain is not a built-in one: wincrid logs it on as hcsshim does
    (LogonUserW with an interactive logon, no password), the stand-in leaves it to wine, whose
    LogonUserW returns a made-up handle, and wincrid refuses that instead of starting the
    process as somebody else."""
    m = host.mark()
    sid, scfg = hp_pod(pods, user="CONTOSO\\svc-cni")
    cid = pods.create(sid, scfg, name="other", windows=hp_windows(), command=["ctr.exe"],
                      args=["whoami"])
    with pytest.raises(grpc.RpcError) as e:
        pods.start(cid)
    assert "LogonUserW" in e.value.details() and "not a token" in e.value.details()
    logons = calls(host.journal(m), "LogonUser")
    assert [(x["doc"], x["hr"]) for x in logons] == [
        ({"lpszUsername": "svc-cni", "lpszDomain": "CONTOSO", "lpszPassword": None,
          "dwLogonType": 2, "dwLogonProvider": 0}, "0x00000001")]
    assert not calls(host.journal(m), "CreateProcessAsUser")


def logon_of(entry):
    """The logon number and SID the stand-in's LogonUser answered with (its journal note)."""
    m = re.match(r"logon (\d+): NT AUTHORITY\\.* \((S-[0-9-]+)\)", entry.get("note", ""))
    assert m, entry
    return int(m.group(1)), m.group(2)


@pytest.mark.parametrize("user,sid_", [("NT AUTHORITY\\SYSTEM", "S-1-5-18"),
                                       ("NT AUTHORITY\\Local Service", "S-1-5-19"),
                                       ("NT AUTHORITY\\NetworkService", "S-1-5-20")])
def test_hostprocess_runs_as_service_account(host, pods, user, sid_):
    """The container's processes are created with the token LogonUserW gave for the account.

    Checked: wincrid calls LogonUserW with exactly what hcsshim's logon.go processToken passes
    for the user (name and domain split at the backslash, no password, LOGON32_LOGON_SERVICE
    for domain NT AUTHORITY, LOGON32_PROVIDER_DEFAULT; SYSTEM too, since wincrid under wine is
    not the LocalSystem service); the test host's stand-in checks that call as Windows does
    and names the account by the name wincrid passed; the container's init process and an
    exec are created with CreateProcessAsUserW and that very token (the stand-in journals each
    process id with the logon its token came from; the container prints its own pid). Not
    real under wine: the token is a duplicate of wincrid's own (wine 8 cannot make a token for
    another user), so whoami inside still names wine's user; a node gives the account's."""
    domain, name = user.split("\\")  # hcsshim: strings.Split(userOrGroup, "\\")
    m = host.mark()
    sid, scfg = hp_pod(pods, user=user)
    cid = pods.run(sid, scfg, name="who", windows=hp_windows(), command=["ctr.exe"],
                   args=["pid", ";", "whoami", ";", "run"])
    text = pods.wait_log(scfg, "who", "running pid=")
    init_pid = re.search(r" pid (\d+)$", text, re.M).group(1)
    r = pods.rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["ctr.exe", "pid"], timeout=30),
                         timeout=60)
    exec_pid = r.stdout.decode().split()[1]
    pods.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=20), timeout=60)
    assert pods.status(cid).exit_code == 106

    j = host.journal(m)
    logons = calls(j, "LogonUser")
    assert [(x["doc"], x["hr"]) for x in logons] == [
        ({"lpszUsername": name, "lpszDomain": domain, "lpszPassword": None, "dwLogonType": 5,
          "dwLogonProvider": 0}, "0x00000000")]  # one logon: the exec reuses the token
    logon, logon_sid = logon_of(logons[0])
    assert logon_sid == sid_
    started = {e["id"]: e["doc"] for e in calls(j, "CreateProcessAsUser")}
    for pid in (init_pid, exec_pid):
        assert (started[pid]["logon"], started[pid]["sid"]) == (logon, sid_), started
    # what wine cannot make real: the token's user is wine's (see the docstring)
    assert re.search(r"user \S+ sid S-1-5-21-", text), text


def job_cpu_rate(host_procs, count):
    """hcsshim internal/jobcontainers/oci.go calculateJobCPURate."""
    return (count * 10000) // host_procs or 1


def job_cpu_weight(shares):
    """hcsshim internal/jobcontainers/oci.go calculateJobCPUWeight (processorWeightMax 10000)."""
    return 1 + (8 * shares) // 10000 if shares else 0


@pytest.mark.parametrize("res", [{"cpu_maximum": 2500}, {"cpu_count": 1}, {"cpu_shares": 5000}])
def test_hostprocess_cpu_limit(host, pods, res):
    """The CRI CPU limit on the job as hcsshim sets it: oci.go specToLimits (a count becomes a
    rate of the host's processors, calculateJobCPURate; shares a weight, calculateJobCPUWeight;
    a maximum is taken as it is), then jobobject/limits.go SetCPULimit: ENABLE|HARD_CAP with
    CpuRate, or ENABLE|WEIGHT_BASED with Weight. The test host's stand-in of
    SetInformationJobObject checks the structure as documented and keeps it; wine enforces
    none of it."""
    m = host.mark()
    sid, scfg = hp_pod(pods, annotations=INHERIT)
    cid = pods.run(sid, scfg, name="cpu", windows=hp_windows(**res),
                   command=["ctr.exe"], args=["cpus", ";", "exit", "0"])
    assert pods.wait_state(cid, PB.CONTAINER_EXITED).exit_code == 0
    host_procs = int(re.search(r"cpus (\d+)", pods.wait_log(scfg, "cpu", "cpus ")).group(1))
    if "cpu_shares" in res:
        want = rate_doc(CPU_ENABLE | CPU_WEIGHT_BASED, Weight=job_cpu_weight(res["cpu_shares"]))
    elif "cpu_count" in res:
        want = rate_doc(CPU_ENABLE | CPU_HARD_CAP,
                        CpuRate=job_cpu_rate(host_procs, res["cpu_count"]))
    else:
        want = rate_doc(CPU_ENABLE | CPU_HARD_CAP, CpuRate=res["cpu_maximum"])
    assert [e["doc"] for e in job_rates(host, m, cid)] == [want]

def test_hostprocess_memory_limit_is_taken(pods):
    """The job's memory limit comes from the CRI resources (hcsshim specToLimits, in whole
    MiB); wine accepts it without enforcing it, and stats report it as the limit."""
    sid, scfg = hp_pod(pods, annotations=INHERIT)
    cid = pods.run(sid, scfg, name="mem", windows=hp_windows(memory_limit_in_bytes=256 << 20),
                   command=["ctr.exe"], args=["run"])
    pods.wait_log(scfg, "mem", "running pid=")
    pods.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=10), timeout=60)
    assert pods.status(cid).exit_code == 106


def test_hostprocess_named_pipe_mount_is_refused(pods):
    """mounts.go: named pipe mounts are not supported for job containers."""
    sid, scfg = hp_pod(pods, annotations=INHERIT)
    with pytest.raises(grpc.RpcError) as e:
        pods.create(sid, scfg, name="pipe", windows=hp_windows(), command=["ctr.exe"],
                    mounts=[PB.Mount(host_path="\\\\.\\pipe\\docker_engine",
                                     container_path="\\\\.\\pipe\\docker_engine")])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "named pipe" in e.value.details()


def test_hostprocess_mount_is_linked(host, pods):
    """mounts.go fallbackMountSetup: each mount a symbolic link at <mount point>\\<destination
    without its drive letter> to the source (a folder: SYMBOLIC_LINK_FLAG_DIRECTORY; wincrid
    adds SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE). The container reads host files through
    the links and writes through them onto the host; removing the container removes the
    links, never what they lead to. The links come from the test host's stand-in of
    CreateSymbolicLinkW (Unix symbolic links, which wine follows)."""
    src = "C:\\hpmount-" + uuid.uuid4().hex[:8]
    os.makedirs(host.path(src))
    with open(host.path(src + "\\f.txt"), "w") as f:
        f.write("through the mount\n")
    with open(host.path(src + "-one.txt"), "w") as f:
        f.write("a file mount\n")
    m = host.mark()
    sid, scfg = hp_pod(pods, annotations=INHERIT)
    cid = pods.run(sid, scfg, name="mnt", windows=hp_windows(), command=["ctr.exe"],
                   args=["type", MP_VAR + "\\etc\\cfg\\f.txt", ";",
                         "type", MP_VAR + "\\etc\\one.txt", ";",
                         "write", MP_VAR + "\\etc\\cfg\\new.txt", "by-the-container"],
                   mounts=[PB.Mount(host_path=src, container_path="C:\\etc\\cfg"),
                           PB.Mount(host_path=src + "-one.txt",
                                    container_path="C:\\etc\\one.txt")])
    assert pods.wait_state(cid, PB.CONTAINER_EXITED).exit_code == 0
    text = pods.wait_log(scfg, "mnt", "a file mount")
    assert "through the mount" in text
    with open(host.path(src + "\\new.txt")) as f:  # written through the link, onto the host
        assert f.read().strip() == "by-the-container"
    mp = "C:\\hpc\\" + cid
    links = {e["id"]: (e["doc"]["lpTargetFileName"], e["doc"]["dwFlags"], e["hr"])
             for e in calls(host.journal(m), "CreateSymbolicLink")}
    assert links == {mp + "\\etc\\cfg": (src, 3, "0x00000000"),
                     mp + "\\etc\\one.txt": (src + "-one.txt", 2, "0x00000000")}
    pods.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid), timeout=60)
    assert not os.path.exists(host.path(mp))
    assert sorted(os.listdir(host.path(src))) == ["f.txt", "new.txt"]  # the links went, not these
    assert os.path.exists(host.path(src + "-one.txt"))


def test_hostprocess_link_refused_fails_create(host, pods):
    """A link the host refuses (here ERROR_PRIVILEGE_NOT_HELD, injected: what Windows answers
    without SeCreateSymbolicLinkPrivilege) fails CreateContainer naming the call and its
    error, and what create did is undone: nothing is left at the mount point."""
    src = "C:\\hpmount-" + uuid.uuid4().hex[:8]
    os.makedirs(host.path(src))
    sid, scfg = hp_pod(pods, annotations=INHERIT)
    m = host.mark()
    host.fault("CreateSymbolicLink=0x80070522*1")
    with pytest.raises(grpc.RpcError) as e:
        pods.create(sid, scfg, name="nolink", windows=hp_windows(), command=["ctr.exe"],
                    mounts=[PB.Mount(host_path=src, container_path="C:\\etc\\cfg")])
    assert "CreateSymbolicLinkW" in e.value.details() and "1314" in e.value.details()
    link = calls(host.journal(m), "CreateSymbolicLink")[0]["id"]
    assert link.endswith("\\etc\\cfg") and not os.path.exists(host.path(link[:-len("\\etc\\cfg")]))
    assert os.path.isdir(host.path(src))


def ctr_with_standins(host, args):
    """ctr.exe run directly on the test host with the stand-ins installed: its lines."""
    env = dict(host.env, WINSIM_WINE_LOGON="1", WINSIM_WINE_JOBCPU="1", WINSIM_WINE_SYMLINKS="1")
    r = subprocess.run(["wine", os.path.join(SIM_DIR, "ctr.exe")] + args, env=env,
                       capture_output=True, timeout=120)
    return [ln for ln in r.stdout.decode(errors="replace").splitlines()
            if ln.split(" ")[0] in ("logon", "jobcpu", "symlink")]


def test_standins_refuse_what_windows_refuses(host):
    """The stand-ins behind the tests above, called directly: what they accept and refuse
    (LogonUserW, JOBOBJECT_CPU_RATE_CONTROL_INFORMATION and CreateSymbolicLinkW references;
    host_gaps.c lists the rules and which error codes are the double's choice)."""
    d = "C:\\gaps-" + uuid.uuid4().hex[:8]
    os.makedirs(host.path(d + "\\target"))
    cmds = [["logon", "SYSTEM", "NT AUTHORITY", "5"],
            ["logon", "LOCAL SERVICE", "nt authority", "5"],
            ["logon", "NetworkService", "NT AUTHORITY", "5", "3"],
            ["logon", "SYSTEM", "NT AUTHORITY", "2"],          # service logon only
            ["logon", "Guest", "NT AUTHORITY", "5"],           # no such account there
            ["logon", "SYSTEM", "NT AUTHORITY", "5", "9"],     # no such provider
            ["logon", "SYSTEM", "NT AUTHORITY", "6"],          # no such logon type
            ["jobcpu", "5", "2500"],                           # ENABLE | HARD_CAP
            ["jobcpu", "4", "2500"],                           # HARD_CAP needs ENABLE
            ["jobcpu", "5", "0"],                              # CpuRate 0
            ["jobcpu", "5", "10001"],
            ["jobcpu", "3", "10"],                             # Weight 1..9
            ["jobcpu", "3", "9"],
            ["jobcpu", "0x11", str(1000 | 5000 << 16)],        # MIN_MAX_RATE 10%..50%
            ["jobcpu", "0x15", str(1000 | 5000 << 16)],        # MIN_MAX_RATE with HARD_CAP
            ["jobcpu", "0x11", str(6000 | 5000 << 16)],        # MinRate above MaxRate
            ["jobcpu", "0x41", "1"],                           # no such flag
            ["jobcpu", "0", "0"],                              # rate control off
            ["symlink", d + "\\link", d + "\\target", "3"],
            ["symlink", d + "\\link", d + "\\target", "3"],    # exists
            ["symlink", d + "\\no\\link", d + "\\target", "1"],  # no such folder
            ["symlink", d + "\\link2", d + "\\target", "4"]]   # no such flag
    args = [a for c in cmds for a in c + [";"]]
    assert ctr_with_standins(host, args) == [
        "logon ok", "logon ok", "logon ok", "logon error 1326", "logon error 1326",
        "logon error 87", "logon error 87",
        "jobcpu ok 5 2500", "jobcpu error 87", "jobcpu error 87", "jobcpu error 87",
        "jobcpu error 87", "jobcpu ok 3 9", "jobcpu ok 17 %d" % (1000 | 5000 << 16),
        "jobcpu error 87", "jobcpu error 87", "jobcpu error 87", "jobcpu ok 0 0",
        "symlink ok", "symlink error 183", "symlink error 3", "symlink error 87"]
    assert os.path.islink(host.path(d + "\\link"))


# ---- after a wincrid restart ----

@pytest.fixture
def own(host, registry, image_ref):
    d = WinCrid(host, registry.host, subnet_index=3).start()
    d.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=image_ref)), timeout=300)
    yield d
    d.kill()


def test_hostprocess_restart_recovery(host, own, image_ref):
    p = Pods(own, image_ref)
    sid, scfg = hp_pod(p, annotations=INHERIT)
    run = p.run(sid, scfg, name="run", windows=hp_windows(), command=["ctr.exe"], args=["run"])
    quick = p.run(sid, scfg, name="quick", windows=hp_windows(), command=["ctr.exe"],
                  args=["sleep", "3000", ";", "exit", "4"])
    p.wait_log(scfg, "run", "running pid=")
    own.kill()
    time.sleep(3.5)  # "quick" exits while nobody watches
    own.start()
    p = Pods(own, image_ref)
    p.sandboxes = [sid]
    try:
        assert p.status(run).state == PB.CONTAINER_RUNNING
        # a job container's exit code is not kept by anyone while wincrid is away
        assert p.wait_state(quick, PB.CONTAINER_EXITED, timeout=30).state == PB.CONTAINER_EXITED
        r = p.rt.ExecSync(PB.ExecSyncRequest(container_id=run, cmd=["ctr.exe", "echo", "again"],
                                             timeout=20), timeout=60)
        assert (r.exit_code, r.stdout.strip()) == (0, b"again")
        s = p.rt.ContainerStats(PB.ContainerStatsRequest(container_id=run), timeout=30).stats
        assert s.memory.working_set_bytes.value > 0
        # the reopened init process still gets the graceful stop
        p.rt.StopContainer(PB.StopContainerRequest(container_id=run, timeout=20), timeout=60)
        st = p.status(run)
        assert (st.state, st.exit_code) == (PB.CONTAINER_EXITED, 106)
    finally:
        p.cleanup()
    assert not os.path.exists(host.path("C:\\hpc\\" + run))


def test_hostprocess_exec_after_restart_logs_on_again(host, own, image_ref):
    """A token dies with the wincrid that held it: after a restart an exec logs the pod's
    account on again (the test host's stand-in of LogonUserW, as above) and is created with
    that new token, not with wincrid's own."""
    p = Pods(own, image_ref)
    sid, scfg = hp_pod(p, user="NT AUTHORITY\\Local Service")
    cid = p.run(sid, scfg, name="svc", windows=hp_windows(), command=["ctr.exe"], args=["run"])
    p.wait_log(scfg, "svc", "running pid=")
    own.kill()
    own.start()
    m = host.mark()
    p = Pods(own, image_ref)
    p.sandboxes = [sid]
    try:
        r = p.rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["ctr.exe", "pid"],
                                             timeout=30), timeout=60)
        exec_pid = r.stdout.decode().split()[1]
        j = host.journal(m)
        logons = calls(j, "LogonUser")
        assert [(x["doc"]["lpszUsername"], x["doc"]["dwLogonType"]) for x in logons] == [
            ("Local Service", 5)]
        logon, _ = logon_of(logons[0])
        started = {e["id"]: e["doc"] for e in calls(j, "CreateProcessAsUser")}
        assert (started[exec_pid]["logon"], started[exec_pid]["sid"]) == (logon, "S-1-5-19")
        p.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=20), timeout=60)
        assert p.status(cid).exit_code == 106
    finally:
        p.cleanup()
