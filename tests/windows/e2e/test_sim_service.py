"""wincrid.exe as the Windows service "wincri" on the simulated host, through wine's service
control manager (services.exe: CreateService, StartService, ControlService and
QueryServiceStatusEx are real there): `wincrid service install|start|stop|status|uninstall`,
what each prints and exits with, the service answering CRI over its TCP front, a config
refused at start, the stop reported as STOP_PENDING with advancing checkpoints, and the
event-log events.

This module has a prefix of its own, because a service's environment is not the test's:
wine's services.exe builds it once, when it starts, from the registry (Session Manager
\\Environment), and it ignores a service's own Environment value. So the fixture writes
WINSIM_PORT (the doubles' channel to the host) and WINEDEBUG=-all,+eventlog there and
restarts the prefix. Wine 8 has no event log store (ReadEventLog is a stub), but its
ReportEventW traces each event's strings on the eventlog debug channel, on the standard error
services.exe inherited: the output file of the first process of the restarted prefix, the
winsim host here. That trace is how these tests read the events back.

What wine 8's services.exe cannot show (README, "Windows service"): it refuses the delayed
automatic start and the failure-actions flag (ChangeServiceConfig2W: ERROR_INVALID_LEVEL, so
`install` warns and goes on), stores no recovery actions (QueryServiceConfig2W answers none)
and restarts nothing, and it never notices a service process that died: the entry stays
"running" until the prefix restarts."""
import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid

import grpc
import pytest

from winsim import EXE, PB, PB_GRPC, Pods, SimHost, free_port

SESSION_ENV = r"HKLM\System\CurrentControlSet\Control\Session Manager\Environment"
EVENT_SOURCE_KEY = r"HKLM\System\CurrentControlSet\Services\EventLog\Application\wincrid"
SERVICE_KEY = r"HKLM\System\CurrentControlSet\Services\wincri"

# cri/service.h
OK, FAILED, USAGE, NOT_RUNNING, NOT_INSTALLED, EXISTS = 0, 1, 2, 3, 4, 5


def reg(host, *args, check=True):
    return subprocess.run(["wine", "reg", *args], env=host.env, capture_output=True, text=True,
                          timeout=120, check=check)


def restart_prefix(host, system_env):
    """Writes system_env into the registry's system environment (None deletes a name), then
    restarts the prefix: the winsim host is the first process, so services.exe and every
    service inherit its output file (simhost.out) as their standard error, and the
    environment services.exe builds for its services has these names."""
    for name, value in system_env.items():
        if value is None:
            reg(host, "delete", SESSION_ENV, "/v", name, "/f", check=False)
        else:
            reg(host, "add", SESSION_ENV, "/v", name, "/d", value, "/f")
    host.stop()
    subprocess.run(["wineserver", "-k"], env=host.env, capture_output=True, timeout=60)
    subprocess.run(["wineserver", "-w"], env=host.env, capture_output=True, timeout=60)
    host.start()


class Service:
    """The service's config (C:\\<name>\\config.json, so its log is C:\\<name>\\wincrid.log)
    and the `wincrid service` commands."""

    def __init__(self, host, extra=None):
        self.host = host
        self.name = "svc" + uuid.uuid4().hex[:8]
        self.base = "C:\\" + self.name
        self.port = free_port()
        self.config = {
            "root": self.base + "\\root", "state": self.base + "\\state",
            "listen": f"tcp://127.0.0.1:{self.port}", "log_level": "debug",
            "shutdown_grace_seconds": 10,
            "cni_conf_dir": self.base + "\\cni", "cni_bin_dirs": [self.base + "\\cnibin"],
            "windows_nat": {"enabled": True, "network": "wincri-nat-" + self.name,
                            "subnet": "127.77.9.0/24", "gateway": "127.77.9.1"},
        }
        self.config.update(extra or {})
        self.config_win = self.base + "\\config.json"
        self.log_win = self.base + "\\wincrid.log"
        os.makedirs(host.path(self.base), exist_ok=True)
        self.write_config(self.config)
        self.channels = []

    def write_config(self, cfg):
        with open(self.host.path(self.config_win), "w") as f:
            if isinstance(cfg, str):
                f.write(cfg)
            else:
                json.dump(cfg, f, indent=2)

    def cmd(self, *args, timeout=240, exe=EXE):
        p = subprocess.run(["wine", exe, "service", *args], env=self.host.env,
                           capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def path(self, win):
        return self.host.path(win)

    def image(self):
        ch = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.channels.append(ch)
        return PB_GRPC.ImageServiceStub(ch)

    def status(self):
        return self.cmd("status")

    def log(self):
        try:
            with open(self.host.path(self.log_win), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def runtime(self):
        ch = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.channels.append(ch)
        return PB_GRPC.RuntimeServiceStub(ch)

    def sc_query(self):
        """wine's own sc.exe: the SCM's view, read independently of wincrid."""
        out = subprocess.run(["wine", "sc", "query", "wincri"], env=self.host.env,
                             capture_output=True, text=True, timeout=60).stdout
        fields = dict(re.findall(r"^\s*([A-Z_0-9]+)\s*:\s*(\S+)", out, re.M))
        return {k: fields.get(k) for k in ("STATE", "WIN32_EXIT_CODE", "SERVICE_EXIT_CODE",
                                           "CHECKPOINT", "WAIT_HINT")}

    def close(self):
        for ch in self.channels:
            ch.close()
        self.channels = []


@pytest.fixture(scope="module")
def svchost():
    h = SimHost()
    # the wine gaps the doubles fill (winsim.py WinCrid.start) for the upgrade test's image
    restart_prefix(h, {"WINSIM_PORT": str(h.port), "WINEDEBUG": "-all,+eventlog",
                       "WINSIM_WINE_BACKUPWRITE": "1", "WINSIM_WINE_MOUNTPOINTS": "1"})
    yield h
    h.destroy()


def events(host, since=0):
    """(type, text) of each ReportEventW call wine traced, from byte offset `since` of the
    services' standard error."""
    with open(os.path.join(host.dir, "simhost.out"), "rb") as f:
        f.seek(since)
        text = f.read().decode("utf-8", "replace")
    # wine's debugstr_w escapes backslashes and quotes, and elides the middle of a long
    # string ("..."): compare beginnings
    return [(m.group(1), m.group(2).replace('\\"', '"').replace("\\\\", "\\"))
            for m in re.finditer(r'(trace|err|warn):eventlog:ReportEventW L"(.*)"', text)]


def events_mark(host):
    return os.path.getsize(os.path.join(host.dir, "simhost.out"))


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.2)


@pytest.fixture
def svc(svchost):
    s = Service(svchost)
    yield s
    s.close()
    rc, out, err = s.cmd("uninstall")
    assert rc in (OK, NOT_INSTALLED), out + err


def test_lifecycle(svchost, svc):
    """install → stopped → start → serves CRI (through the simulated host) → stop → stopped →
    uninstall → not installed; events for the start and the stop."""
    rc, out, err = svc.status()
    assert (rc, out.strip()) == (NOT_INSTALLED, "wincri: not installed"), out + err

    rc, out, err = svc.cmd("install", "--config", svc.config_win)
    assert rc == OK, out + err
    assert "installed the service wincri" in out
    assert f'wincrid.exe" --config "{svc.config_win}" (as LocalSystem)' in out, out
    assert f"log:      {svc.log_win}" in out, out
    # what wine's SCM lacks is said, not hidden; recovery is read back as the SCM has it
    assert "does not know how to make the service a delayed automatic start" in err, err
    assert "recovery: none" in out, out
    # the event source: wincrid.exe is its message file
    q = reg(svchost, "query", EVENT_SOURCE_KEY).stdout
    assert re.search(r"EventMessageFile\s+REG_EXPAND_SZ\s+.*wincrid\.exe", q), q
    assert re.search(r"TypesSupported\s+REG_DWORD\s+0x7", q), q
    q = reg(svchost, "query", SERVICE_KEY).stdout
    assert re.search(r"Start\s+REG_DWORD\s+0x2\b", q), q  # SERVICE_AUTO_START
    assert re.search(r"Type\s+REG_DWORD\s+0x10\b", q), q  # SERVICE_WIN32_OWN_PROCESS

    rc, out, err = svc.status()
    assert rc == NOT_RUNNING and out.startswith("wincri: stopped\n"), out + err

    m = events_mark(svchost)
    rc, out, err = svc.cmd("start")
    assert rc == OK, out + err
    pid = int(re.match(r"wincri is running \(pid (\d+)\); log: (.*)", out).group(1))
    rt = svc.runtime()
    v = rt.Version(PB.VersionRequest(), timeout=30)
    assert (v.runtime_name, v.runtime_api_version) == ("wincri", "v1")
    # the service's wincrid drives the simulated host: WINSIM_PORT reached it through the SCM
    st = rt.Status(PB.StatusRequest(), timeout=30)
    conds = {c.type: c for c in st.status.conditions}
    assert conds["RuntimeReady"].status is True, conds["RuntimeReady"].message
    rc, out, err = svc.status()
    assert rc == OK and out.startswith(f"wincri: running (pid {pid})\n"), out + err
    assert svc.sc_query()["STATE"] == "4"  # SERVICE_RUNNING, as wine's sc.exe reads it

    rc, out, err = svc.cmd("stop")
    assert (rc, out.strip()) == (OK, "wincri stopped"), out + err
    with pytest.raises(grpc.RpcError):
        svc.runtime().Version(PB.VersionRequest(), timeout=3)
    rc, out, err = svc.status()
    assert rc == NOT_RUNNING and out.startswith("wincri: stopped\n"), out + err
    assert "last exit" not in out
    sc = svc.sc_query()
    assert (sc["STATE"], sc["WIN32_EXIT_CODE"]) == ("1", "0"), sc

    log = svc.log()
    assert f'msg="starting as a service" service=wincri pid={pid}' in log
    assert 'msg="service stop requested" control=stop' in log
    assert 'msg="stopping: no new calls; waiting for calls in flight"' in log
    assert 'msg="service stopped" exit_code=0' in log
    assert 'msg="event reported" event_id=1 type=information' in log
    assert 'msg="event reported" event_id=2 type=information' in log
    ev = wait_for(lambda: len(events(svchost, m)) >= 2 and events(svchost, m), 10,
                  "the start and stop events")
    assert ev[0][0] == "trace" and ev[0][1].startswith(
        f"wincrid 0.1.0 is serving CRI runtime.v1 on tcp://127.0.0.1:{svc.port} "
        f"(config: {svc.config_win}; log: {svc.log_win})"), ev
    assert ev[1] == ("trace", "wincrid stopped (stop requested by the service control "
                              "manager)."), ev

    rc, out, err = svc.cmd("uninstall")
    assert rc == OK, out + err
    assert out.splitlines() == [
        "wincri is not running",
        f"removed the service wincri; its state, config and log ({svc.log_win}) are left in "
        "place"], out
    rc, out, err = svc.status()
    assert (rc, out.strip()) == (NOT_INSTALLED, "wincri: not installed"), out + err
    assert reg(svchost, "query", EVENT_SOURCE_KEY, check=False).returncode != 0


def test_clear_errors(svchost, svc):
    """Double install, commands on a missing service, a config that does not load, usage."""
    for verb in ("start", "stop", "uninstall"):
        rc, out, err = svc.cmd(verb)
        assert rc == NOT_INSTALLED, (verb, out, err)
        assert err.strip() == (f"wincrid service {verb}: the service wincri is not installed "
                               "(`wincrid service install --config FILE` installs it)"), err

    bad = svc.base + "\\bad.json"
    with open(svchost.path(bad), "w") as f:
        f.write('{"listen": 5}\n')
    rc, out, err = svc.cmd("install", "--config", bad)
    assert rc == USAGE, out + err
    assert "the config does not load, nothing was installed" in err and "listen" in err, err
    assert svc.status()[0] == NOT_INSTALLED

    rc, out, err = svc.cmd("install", "--config", svc.config_win)
    assert rc == OK, out + err
    rc, out, err = svc.cmd("install", "--config", svc.config_win)
    assert rc == EXISTS, out + err
    assert err.startswith("wincrid service install: the service wincri is already installed, "
                          "running \""), err
    assert "wincrid service uninstall first" in err

    assert svc.cmd("frobnicate")[0] == USAGE
    rc, out, err = svc.cmd("start", "--timeout", "zero")
    assert rc == USAGE and "--timeout zero" in err, err
    rc, out, err = svc.cmd("status", "--config", "x")
    assert rc == USAGE and "unknown or incomplete option --config" in err, err
    rc, out, err = svc.cmd("--help")
    assert rc == OK and "install [--config FILE]" in out

    rc, out, err = svc.cmd("stop")  # installed, not running: nothing to do
    assert (rc, out.strip()) == (OK, "wincri is not running"), out + err


def test_refused_config_fails_the_start(svchost, svc):
    """The config is fine at install and broken later: `start` fails, saying the service's
    exit code and where to look; the SCM holds the service-specific exit code 2; the log has
    the error with file:line:column and the event log a configuration-error event."""
    assert svc.cmd("install", "--config", svc.config_win)[0] == OK
    svc.write_config('{\n  "root": "C:\\\\x",\n  "shutdown_grace_seconds": "ten"\n}\n')
    m = events_mark(svchost)
    rc, out, err = svc.cmd("start")
    assert rc == FAILED, out + err
    assert err.splitlines() == [
        "wincrid service start: wincri stopped while starting: wincrid exited with code 2 (its "
        "configuration was refused)",
        f"  see {svc.log_win} and the event log (Application, source wincrid)"], err
    rc, out, err = svc.status()
    assert rc == NOT_RUNNING, out + err
    assert "  last exit: wincrid exited with code 2 (its configuration was refused)\n" in out
    sc = svc.sc_query()
    # ERROR_SERVICE_SPECIFIC_ERROR (1066) with wincrid's own code
    assert (sc["STATE"], sc["WIN32_EXIT_CODE"], sc["SERVICE_EXIT_CODE"]) == ("1", "1066", "2"), sc
    log = svc.log()
    where = f'{svc.config_win}:3:29: "shutdown_grace_seconds"'
    assert where in log, log[-2000:]
    assert 'msg="event reported" event_id=3 type=error' in log
    ev = wait_for(lambda: events(svchost, m), 10, "the configuration-error event")
    assert len(ev) == 1 and ev[0][0] == "err", ev
    assert ev[0][1].startswith("wincrid did not start: its configuration was refused: " + where)

    # fixed, it starts; a refused start left nothing behind that stops the next one
    svc.write_config(svc.config)
    rc, out, err = svc.cmd("start")
    assert rc == OK, out + err
    assert svc.runtime().Version(PB.VersionRequest(), timeout=30).runtime_name == "wincri"
    rc, out, err = svc.cmd("uninstall")  # stops it first
    assert rc == OK, out + err
    assert out.splitlines()[0] == "wincri stopped", out


def test_stop_reports_pending_with_checkpoints(svchost):
    """A call in flight (held 4 s by fault injection) makes the graceful stop take a while:
    meanwhile the SCM shows STOP_PENDING with the 10 s wait hint and a checkpoint that
    advances every second; the call still completes, then the service stops."""
    s = Service(svchost, extra={"fault_injection": {
        "rpc_delay_ms": {"/runtime.v1.RuntimeService/Status": 4000}}})
    try:
        assert s.cmd("install", "--config", s.config_win)[0] == OK
        assert s.cmd("start")[0] == OK
        rt = s.runtime()
        result = {}

        def slow_call():
            try:
                result["status"] = rt.Status(PB.StatusRequest(), timeout=60)
            except grpc.RpcError as e:
                result["error"] = e

        t = threading.Thread(target=slow_call)
        t.start()
        time.sleep(1)
        stopper = subprocess.Popen(["wine", EXE, "service", "stop"], env=svchost.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        while stopper.poll() is None:
            seen.append(s.sc_query())
        out, err = stopper.communicate()
        t.join(60)
        assert stopper.returncode == OK, out + err
        pending = [q for q in seen if q["STATE"] == "3"]  # SERVICE_STOP_PENDING
        assert pending, seen
        assert {q["WAIT_HINT"] for q in pending} == {"0x2710"}, pending
        checkpoints = [int(q["CHECKPOINT"], 16) for q in pending]
        assert checkpoints == sorted(checkpoints) and checkpoints[-1] >= 3, checkpoints
        assert "status" in result, result  # the call in flight finished
        assert s.sc_query()["STATE"] == "1"
    finally:
        s.close()
        s.cmd("uninstall")


def test_crash_in_the_console_is_logged_and_reported(svchost):
    """An unhandled exception (WINCRI_CRASH_MODE=exception at a crash point) is written to
    the log and reported as an event before the process dies."""
    s = Service(svchost)
    env = dict(svchost.env, WINCRI_CRASH_AT="daemon.serving", WINCRI_CRASH_MODE="exception",
               WINEDEBUG="-all,err+eventlog")
    p = subprocess.run(["wine", EXE, "--console", "--config", s.config_win], env=env,
                       capture_output=True, text=True, timeout=120)
    # (the exit code is winedbg's doing under wine: it attaches and ends the process; on
    # Windows it is the exception code)
    lines = p.stderr.splitlines()
    crashed = [i for i, x in enumerate(lines) if 'msg="crashed" exception=0xC0000005' in x]
    assert crashed, p.stderr[-3000:]
    assert 'name="access violation"' in lines[crashed[0]]
    rest = lines[crashed[0] + 1:]
    ev = [x for x in rest if ":err:eventlog:ReportEventW" in x]
    assert ev and 'L"wincrid crashed: access violation (exception 0xC0000005)' in ev[0], rest
    assert any('msg="crash reported to the event log" event_id=5' in x for x in rest), rest


def test_upgrade_keeps_containers_and_their_output(svchost, registry, image_ref):
    """README "Upgrade": the service is stopped, its binary replaced and the service started
    again while a container runs and writes a line every 50 ms. The stdio keeper holds the
    container's pipes throughout and runs from its own copy of the binary (Windows cannot
    replace an executable a process runs from), so the installed wincrid.exe can be replaced;
    the new wincrid reopens the container and every line is in its log once, in order."""
    s = Service(svchost, extra={"registries": {registry.host: {"plain_http": True}}})
    installed = s.base + "\\bin\\wincrid.exe"
    os.makedirs(os.path.dirname(s.path(installed)))
    shutil.copy(EXE, s.path(installed))
    rc, out, err = s.cmd("install", "--config", s.config_win, exe=installed)
    assert rc == OK, out + err
    assert installed in out, out
    p = None
    try:
        rc, out, err = s.cmd("start")
        assert rc == OK, out + err
        s.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=image_ref)), timeout=300)
        p = Pods(s, image_ref)
        sid, scfg = p.run_pod()
        cid = p.run(sid, scfg, name="talk", command=["C:\\app\\ctr.exe"],
                    args=["log", "150", "50", "u", ";", "exit", "0"])
        p.wait_log(scfg, "talk", "u-5")
        keeper = [x for x in subprocess.run(["ps", "-eo", "args="], capture_output=True,
                                            text=True).stdout.splitlines()
                  if "--stdio-keeper" in x and s.name in x]
        assert len(keeper) == 1 and "\\keeper\\wincrid-keeper-" in keeper[0], keeper

        rc, out, err = s.cmd("stop")
        assert rc == OK, out + err
        shutil.copy(EXE, s.path(installed) + ".new")  # install.ps1: copy, then move over
        os.replace(s.path(installed) + ".new", s.path(installed))
        rc, out, err = s.cmd("start")
        assert rc == OK, out + err

        p.rt = s.runtime()
        assert p.status(cid).state in (PB.CONTAINER_RUNNING, PB.CONTAINER_EXITED)
        assert p.wait_state(cid, PB.CONTAINER_EXITED, timeout=60).exit_code == 0
        p.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=5), timeout=60)
        with open(p.log_file(scfg, "talk"), errors="replace") as f:
            lines = [r.split(" ", 3)[3] for r in f.read().splitlines()]
        assert lines == [f"u-{i}" for i in range(150)], lines
    finally:
        if p:
            p.cleanup()
        s.close()
        s.cmd("stop")
        s.cmd("uninstall")


def test_boot_autostarts_the_service_and_a_crash_is_logged(svchost):
    """The prefix restarting is the node booting: services.exe starts the automatic service
    by itself. Armed to crash once it serves, the service writes the crash to its log and
    the event log before it dies. (Last in this module: wine's SCM then keeps the dead
    service "running".)"""
    s = Service(svchost)
    assert s.cmd("install", "--config", s.config_win)[0] == OK
    m = events_mark(svchost)  # the restarted prefix appends to the same file
    restart_prefix(svchost, {"WINCRI_CRASH_AT": "daemon.serving",
                             "WINCRI_CRASH_MODE": "exception",
                             "WINEDEBUG": "-all,+eventlog"})
    log = wait_for(lambda: 'msg="crash reported to the event log"' in s.log() and s.log(), 60,
                   "the autostarted service to crash")
    assert 'msg="starting as a service" service=wincri' in log
    assert 'msg="wincrid is serving CRI runtime.v1"' in log
    assert re.search(r'msg="crashed" exception=0xC0000005 name="access violation" '
                     r'module=\S+ offset=0x[0-9a-f]+ thread=\d+', log), log[-2000:]
    ev = wait_for(lambda: [e for e in events(svchost, m) if e[1].startswith("wincrid crashed")],
                  10, "the crash event")
    assert ev[0][0] == "err" and "access violation (exception 0xC0000005)" in ev[0][1], ev


def test_event_message_table_matches_the_event_ids():
    """The event source's message file is wincrid.exe: its message table (windmc from
    deploy/windows/wincrid-events.mc) has every id of cri/eventlog.h, each "%1", so Event
    Viewer shows each event's own text."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "..", "cri", "eventlog.h")) as f:
        ids = {int(n) for n in re.findall(r"WC_EVENT_[A-Z_]+ = (\d+),", f.read())}
    assert ids == {1, 2, 3, 4, 5}, ids
    rc = subprocess.run(["x86_64-w64-mingw32-windres", "-i", EXE, "-O", "rc"],
                        capture_output=True, text=True, check=True).stdout
    assert "RT_MESSAGETABLE" in rc, rc[:2000]
    table = dict(re.findall(r"MessageId = 0x([0-9a-fA-F]+)\n\s*(.*?)\n", rc))
    assert {int(k, 16): v for k, v in table.items()} == {i: r"%1\n\000" for i in ids}, table
