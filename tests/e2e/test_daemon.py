"""wincrid itself: CRI v1 over gRPC through the front, dispatch, limits, concurrency, config,
daemon lifecycle."""
import concurrent.futures
import json
import os
import signal
import stat
import subprocess
import threading
import time

import grpc
import pytest

from conftest import PB, PB_GRPC, WINCRID, Daemon

STATUS = "/runtime.v1.RuntimeService/Status"

# RPCs that have behaviour. Everything else in the proto must answer UNIMPLEMENTED.
RUNTIME_IMPLEMENTED = ["Version", "Status", "RuntimeConfig", "UpdateRuntimeConfig",
                       "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
                       "ListPodSandbox", "StreamPodSandboxes", "CreateContainer",
                       "StartContainer", "StopContainer", "RemoveContainer", "ContainerStatus",
                       "ListContainers", "StreamContainers", "ExecSync", "ReopenContainerLog",
                       "Exec", "Attach", "PortForward", "GetContainerEvents", "ContainerStats",
                       "ListContainerStats", "StreamContainerStats", "PodSandboxStats",
                       "ListPodSandboxStats", "StreamPodSandboxStats", "UpdateContainerResources",
                       "UpdatePodSandboxResources", "ListMetricDescriptors",
                       "ListPodSandboxMetrics", "StreamPodSandboxMetrics"]
IMAGE_IMPLEMENTED = ["ListImages", "StreamImages", "ImageStatus", "PullImage", "RemoveImage",
                     "ImageFsInfo"]
IMPLEMENTED = {f"/runtime.v1.RuntimeService/{m}" for m in RUNTIME_IMPLEMENTED} | \
    {f"/runtime.v1.ImageService/{m}" for m in IMAGE_IMPLEMENTED}


def all_methods():
    for svc in PB.DESCRIPTOR.services_by_name.values():
        for m in svc.methods:
            yield f"/{svc.full_name}/{m.name}", m


def test_proto_has_both_services_and_streaming_lists():
    services = set(PB.DESCRIPTOR.services_by_name)
    assert services == {"RuntimeService", "ImageService"}
    streaming = {m.name for _, m in all_methods() if m.server_streaming}
    assert {"StreamPodSandboxes", "StreamContainers", "StreamContainerStats",
            "StreamPodSandboxStats", "StreamPodSandboxMetrics", "StreamImages",
            "GetContainerEvents"} <= streaming


def test_version(runtime):
    v = runtime.Version(PB.VersionRequest(version="0.1.0"))
    assert v.runtime_name == "wincri"
    assert v.runtime_api_version == "v1"
    assert v.version == "0.1.0"
    out = subprocess.run([WINCRID, "--version"], capture_output=True, text=True, check=True)
    assert v.runtime_version in out.stdout


def test_every_rpc_is_reachable(wincrid, pb):
    ch = wincrid.channel()
    for path, m in all_methods():
        req_cls = getattr(pb, m.input_type.name)
        resp_cls = getattr(pb, m.output_type.name)
        if m.server_streaming:
            call = ch.unary_stream(path, request_serializer=req_cls.SerializeToString,
                                   response_deserializer=resp_cls.FromString)
            fn = lambda: list(call(req_cls(), timeout=5))  # noqa: E731
        else:
            call = ch.unary_unary(path, request_serializer=req_cls.SerializeToString,
                                  response_deserializer=resp_cls.FromString)
            fn = lambda: call(req_cls(), timeout=5)  # noqa: E731
        try:
            fn()
            code, details = grpc.StatusCode.OK, ""
        except grpc.RpcError as e:
            code, details = e.code(), e.details()
        if path in IMPLEMENTED:
            assert code != grpc.StatusCode.UNIMPLEMENTED, path
        else:
            assert code == grpc.StatusCode.UNIMPLEMENTED, (path, code, details)
            assert path in details


def test_unknown_method_is_unimplemented(wincrid):
    call = wincrid.channel().unary_unary("/runtime.v1.RuntimeService/NoSuchThing")
    with pytest.raises(grpc.RpcError) as e:
        call(b"")
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "NoSuchThing" in e.value.details()


def test_malformed_request_is_invalid_argument(wincrid):
    call = wincrid.channel().unary_unary("/runtime.v1.RuntimeService/Version")
    with pytest.raises(grpc.RpcError) as e:
        call(b"\x0a\xff\xff\xff\xff\x0f")  # field 1, length far beyond the message
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "runtime.v1.VersionRequest" in e.value.details()


def test_status_reports_runtime_and_network(daemon_factory):
    d = daemon_factory()
    rt = d.runtime()
    conds = {c.type: c for c in rt.Status(PB.StatusRequest()).status.conditions}
    assert conds["RuntimeReady"].status is True  # runc is installed
    assert conds["NetworkReady"].status is False
    assert conds["NetworkReady"].reason == "NetworkPluginNotReady"
    assert d.config["cni_conf_dir"] in conds["NetworkReady"].message
    os.makedirs(d.config["cni_conf_dir"])
    with open(os.path.join(d.config["cni_conf_dir"], "10-test.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "testnet", "plugins": [{"type": "loopback"}]}, f)
    st = rt.Status(PB.StatusRequest(verbose=True))
    conds = {c.type: c for c in st.status.conditions}
    assert conds["NetworkReady"].status is True
    info = json.loads(st.info["info"])
    assert info["cniConfig"].endswith("10-test.conflist")
    assert info["config"]["root"] == d.root
    assert [h.name for h in st.runtime_handlers] == ["runc", "crun"] or \
        sorted(h.name for h in st.runtime_handlers) == ["crun", "runc"]


def test_runtime_not_ready_when_oci_runtime_missing(daemon_factory):
    d = daemon_factory({"runtime_handlers": {"x": {"runtime": "/nonexistent/runc"}},
                        "default_runtime_handler": "x"})
    conds = {c.type: c for c in d.runtime().Status(PB.StatusRequest()).status.conditions}
    assert conds["RuntimeReady"].status is False
    assert "/nonexistent/runc" in conds["RuntimeReady"].message


def test_runtime_config_cgroup_driver(runtime):
    r = runtime.RuntimeConfig(PB.RuntimeConfigRequest())
    assert r.linux.cgroup_driver == PB.CGROUPFS


def test_update_runtime_config_keeps_pod_cidr(daemon_factory):
    d = daemon_factory()
    rt = d.runtime()
    req = PB.UpdateRuntimeConfigRequest(runtime_config=PB.RuntimeConfig(
        network_config=PB.NetworkConfig(pod_cidr="10.88.0.0/16,fd00:88::/64")))
    rt.UpdateRuntimeConfig(req)
    with pytest.raises(grpc.RpcError) as e:
        rt.UpdateRuntimeConfig(PB.UpdateRuntimeConfigRequest(runtime_config=PB.RuntimeConfig(
            network_config=PB.NetworkConfig(pod_cidr="10.88.0.0/99"))))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "10.88.0.0/99" in e.value.details()
    # the bad update did not replace the good one, and the value survives a restart
    assert d.stop() == 0
    d.start()
    info = json.loads(d.runtime().Status(PB.StatusRequest(verbose=True)).info["info"])
    assert info["podCIDR"] == "10.88.0.0/16,fd00:88::/64"


def test_request_near_16_mib_is_accepted_and_over_is_refused(wincrid):
    rt = wincrid.runtime()
    near = "x" * (16 * 1024 * 1024 - 64)
    assert rt.Version(PB.VersionRequest(version=near), timeout=30).runtime_name == "wincri"
    with pytest.raises(grpc.RpcError) as e:
        rt.Version(PB.VersionRequest(version="x" * (16 * 1024 * 1024 + 16)), timeout=30)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_slow_handler_does_not_block_32_concurrent_calls(daemon_factory):
    d = daemon_factory({"fault_injection": {"rpc_delay_ms": {STATUS: 3000}}})
    rt = d.runtime()
    rt.Version(PB.VersionRequest())
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        slow = pool.submit(rt.Status, PB.StatusRequest(), timeout=30)
        time.sleep(0.2)  # the slow call is in its handler before the others start
        fast = [pool.submit(rt.Version, PB.VersionRequest(), timeout=30) for _ in range(31)]
        for f in fast:
            assert f.result().runtime_name == "wincri"
        assert not slow.done(), "31 quick calls should finish while the slow one is held"
        assert slow.result().status.conditions


def test_deadline_cancels_the_handler(daemon_factory):
    d = daemon_factory({"fault_injection": {"rpc_delay_ms": {STATUS: 5000}}})
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        d.runtime().Status(PB.StatusRequest(), timeout=0.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # the server notices too: its call ends long before the 5 s delay would have
    for _ in range(100):
        if f"method={STATUS} code=CANCELLED" in d.log():
            break
        time.sleep(0.05)
    assert f"method={STATUS} code=CANCELLED" in d.log()
    assert time.monotonic() - t0 < 5


def test_direct_connection_bypassing_the_front_is_denied(wincrid):
    target = wincrid.internal_endpoint()
    with pytest.raises(grpc.RpcError) as e:
        wincrid.runtime(target).Version(PB.VersionRequest(), timeout=5)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "did not come through" in e.value.details()
    # the same daemon still serves its front
    assert wincrid.runtime().Version(PB.VersionRequest()).runtime_name == "wincri"


def test_socket_is_root_owned_0660(wincrid):
    st = os.stat(wincrid.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_uid == 0 and st.st_gid == 0


def test_tcp_listen_works_with_a_warning(daemon_factory):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = daemon_factory({"listen": f"tcp://127.0.0.1:{port}"})
    assert d.runtime().Version(PB.VersionRequest()).runtime_name == "wincri"
    assert "no access control" in d.log()


def test_listen_flag_overrides_config(daemon_factory):
    d = daemon_factory(start=False)
    alt = os.path.join(d.state, "alt.sock")
    d.args = ["--listen", "unix://" + alt]
    d.endpoint = "unix://" + alt
    d.start()
    assert d.runtime().Version(PB.VersionRequest()).runtime_name == "wincri"
    assert not os.path.exists(d.socket)


def run_with_config(text):
    d = Daemon()
    with open(d.config_path, "w") as f:
        f.write(text)
    p = subprocess.run([WINCRID, "--config", d.config_path], capture_output=True, text=True,
                       timeout=30)
    return d.config_path, p


def test_bad_config_syntax_names_line_and_column():
    path, p = run_with_config('{\n  "root": "/tmp/x",\n  "log_level": debug\n}\n')
    assert p.returncode == 2
    assert f"{path}:3:" in p.stderr


def test_bad_config_unknown_key_names_line_and_column():
    path, p = run_with_config('{\n  "streaming": {\n    "adress": "::1"\n  }\n}\n')
    assert p.returncode == 2
    assert f'{path}:3:5: "streaming.adress": unknown key' in p.stderr


def test_bad_config_wrong_type_names_line_and_column():
    path, p = run_with_config('{"shutdown_grace_seconds": "soon"}')
    assert p.returncode == 2
    assert f'{path}:1:28: "shutdown_grace_seconds": expected an integer, got a string' in p.stderr


def test_missing_config_file_is_reported():
    p = subprocess.run([WINCRID, "--config", "/nonexistent/wincri.json"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2
    assert "/nonexistent/wincri.json" in p.stderr


def test_cli_help_and_default_config(tmp_path):
    h = subprocess.run([WINCRID, "--help"], capture_output=True, text=True, check=True)
    assert "--print-default-config" in h.stdout
    p = subprocess.run([WINCRID, "--print-default-config"], capture_output=True, text=True,
                       check=True)
    cfg = json.loads(p.stdout)
    assert cfg["listen"] == "unix:///run/wincri/wincri.sock"
    assert cfg["default_runtime_handler"] in cfg["runtime_handlers"]
    bad = subprocess.run([WINCRID, "--frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--frobnicate" in bad.stderr


def test_check_config_accepts_the_shipped_example_and_refuses_bad_ones(tmp_path):
    example = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "linux",
                           "config.example.json")
    ok = subprocess.run([WINCRID, "--config", example, "--check-config"], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stderr
    assert "config ok" in ok.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"registries": {"r.io": {"mirrors": "http://x"}}}')
    p = subprocess.run([WINCRID, "--config", str(bad), "--check-config"], capture_output=True,
                       text=True)
    assert p.returncode == 2
    assert f'{bad}:1:37: "registries.r.io.mirrors": expected an array, got a string' in p.stderr


def test_second_daemon_on_same_root_is_refused(daemon_factory):
    d = daemon_factory()
    p = subprocess.run([WINCRID, "--config", d.config_path], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1
    assert f"another wincrid (pid {d.proc.pid}) is already running" in p.stderr
    assert d.runtime().Version(PB.VersionRequest()).runtime_name == "wincri"


def test_sigterm_lets_in_flight_calls_finish(daemon_factory):
    d = daemon_factory({"fault_injection": {"rpc_delay_ms": {STATUS: 1500}}})
    rt = d.runtime()
    result = {}

    def slow_call():
        try:
            result["resp"] = rt.Status(PB.StatusRequest(), timeout=30)
        except grpc.RpcError as e:
            result["err"] = e

    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.3)
    d.proc.send_signal(signal.SIGTERM)
    t.join(30)
    assert "resp" in result, result.get("err")
    assert d.proc.wait(30) == 0
    assert not os.path.exists(d.socket)
    assert "stopped" in d.log()


def test_grace_period_cancels_calls_that_outlive_it(daemon_factory):
    d = daemon_factory({"shutdown_grace_seconds": 1,
                        "fault_injection": {"rpc_delay_ms": {STATUS: 20000}}})
    rt = d.runtime()
    fut = concurrent.futures.ThreadPoolExecutor(1).submit(rt.Status, PB.StatusRequest(),
                                                          timeout=60)
    time.sleep(0.3)
    t0 = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - t0 < 15
    with pytest.raises(grpc.RpcError):
        fut.result(30)
    assert "grace period over" in d.log()


def threads_of(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def test_connections_are_served_without_a_thread_each(wincrid):
    """On Linux the front hands each accepted connection to gRPC core as it is: 30 clients
    connected at once cost no relay thread each (and no copy of every byte through one)."""
    wincrid.runtime().Version(PB.VersionRequest(), timeout=5)
    before = threads_of(wincrid.proc.pid)
    # a subchannel pool of its own per channel: 30 connections, not one shared
    channels = [grpc.insecure_channel(wincrid.endpoint,
                                      options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(30)]
    try:
        for ch in channels:
            stub = PB_GRPC.RuntimeServiceStub(ch)
            assert stub.Version(PB.VersionRequest(), timeout=5).runtime_name == "wincri"
        conns = subprocess.run(["ss", "-x", "-p"], capture_output=True, text=True).stdout
        assert conns.count(wincrid.socket) >= 30  # they really are 30 connections
        assert threads_of(wincrid.proc.pid) < before + 10, (before, threads_of(wincrid.proc.pid))
    finally:
        for ch in channels:
            ch.close()
