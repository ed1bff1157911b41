"""The Prometheus endpoint during a real run: wincrid with metrics.address set serves GET
/metrics in the text format; a pull, a pod with a running container, a failing call and a
failing pull move the counters they should; after a restart the running container is counted
as recovered. Every scrape is read by a strict parser of the format (promtext.py) and by the
reference client's parser (Debian's python3-prometheus-client)."""
import json
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

import promtext
import registry as R
from conftest import PB, Daemon
from conftest_images import registries  # noqa: F401  (fixture)
from logparse import lines
from test_pods import BRIDGE, SUBNET, forward_guard, pod_image, run_pod, start_container  # noqa: F401
from test_pods import wait_state

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pods need root")

RT = "runtime.v1.RuntimeService"
IMG = "runtime.v1.ImageService"


def scrape(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = r.read().decode()
    samples = promtext.parse(text, prefix="wincri_")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "wincri_cri_requests" in families or "wincri_cri_requests_total" in families
    return samples


def v(samples, name, **labels):
    return promtext.value(samples, name, 0.0, **labels)


def calls(samples, service, method, code="OK"):
    return v(samples, "wincri_cri_requests_total", service=service, method=method, code=code)


class Env:
    pass


@pytest.fixture(scope="module")
def env(registries, forward_guard, tmp_path_factory):  # noqa: F811
    cni_dir = str(tmp_path_factory.mktemp("cni"))
    ipam_dir = str(tmp_path_factory.mktemp("ipam"))
    with open(os.path.join(cni_dir, "10-wincri-e2e.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "wincri-e2e", "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET}]],
                      "dataDir": ipam_dir}}]}, f)
    e = Env()
    e.port = R.free_port()
    e.d = Daemon({"cni_conf_dir": cni_dir, "cni_bin_dirs": ["/usr/lib/cni"],
                  "metrics": {"address": f"127.0.0.1:{e.port}"}})
    e.d.start()
    registries.push("e2e/metricsimage", "v1", pod_image())
    e.ref = f"127.0.0.1:{registries.plain.port}/e2e/metricsimage:v1"
    e.log_dir = tempfile.mkdtemp(prefix="wclogs")
    yield e
    rt = e.d.runtime()
    for s in rt.ListPodSandbox(PB.ListPodSandboxRequest()).items:
        rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=s.id))
        rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=s.id))
    e.d.cleanup()
    shutil.rmtree(e.log_dir, ignore_errors=True)


def test_counters_move_during_a_run_and_recovery_is_counted(env):
    before = scrape(env.port)
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "VERSION")) as f:
        version = f.read().strip()
    build = [(dict(labels), val) for (name, labels), val in before.items()
             if name == "wincri_build_info"]
    assert len(build) == 1 and build[0][1] == 1 and build[0][0]["version"] == version
    assert v(before, "wincri_keeper_up") == 1
    assert v(before, "wincri_recovered_containers") == 0
    assert v(before, "wincri_start_time_seconds") > 1.6e9
    pulls0 = v(before, "wincri_image_pulls_total")
    bytes0 = v(before, "wincri_image_pull_bytes_total")

    # A pull, a pod with a running container, a call that fails, a pull that fails.
    env.d.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=env.ref)), timeout=120)
    sid, scfg = run_pod(env)
    cid = start_container(env, sid, scfg, "main", ["/bin/sh", "-c", "sleep 600"])
    wait_state(env, cid, PB.CONTAINER_RUNNING)
    with pytest.raises(grpc.RpcError) as e:
        env.d.runtime().ContainerStatus(PB.ContainerStatusRequest(container_id="f" * 64))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    missing = f"127.0.0.1:{R.free_port()}/no/such:v1"
    with pytest.raises(grpc.RpcError) as e:
        env.d.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=missing)),
                                timeout=60)
    failed_code = e.value.code().name

    after = scrape(env.port)
    assert v(after, "wincri_image_pulls_total") == pulls0 + 2
    assert v(after, "wincri_image_pull_bytes_total") >= bytes0 + 500_000  # busybox, gzipped
    assert v(after, "wincri_image_pull_failures_total", code=failed_code) >= 1
    assert v(after, "wincri_image_pull_duration_seconds_count", result="success") >= 1
    assert v(after, "wincri_image_pull_duration_seconds_count", result="failure") >= 1
    for method in ("RunPodSandbox", "CreateContainer", "StartContainer"):
        assert calls(after, RT, method) == calls(before, RT, method) + 1, method
        assert v(after, "wincri_cri_request_duration_seconds_count", service=RT, method=method,
                 code="OK") == calls(after, RT, method)
        assert v(after, "wincri_cri_request_duration_seconds_sum", service=RT, method=method,
                 code="OK") > 0
    assert calls(after, IMG, "PullImage") >= calls(before, IMG, "PullImage") + 1
    assert calls(after, RT, "ContainerStatus", "NOT_FOUND") >= 1
    assert v(after, "wincri_containers", state="running") == 1
    assert v(after, "wincri_containers", state="created") == 0
    assert v(after, "wincri_pod_sandboxes", state="ready") == 1
    # The scrapes themselves are counted (the one being answered is not in its own text).
    assert v(after, "wincri_metrics_http_requests_total", code="200") >= 1

    # A restart: the container is found again and counted; counters start over.
    assert env.d.stop() == 0
    env.d.start()
    again = scrape(env.port)
    assert v(again, "wincri_recovered_containers") == 1
    assert v(again, "wincri_containers", state="running") == 1
    assert calls(again, RT, "RunPodSandbox") == 0
    assert v(again, "wincri_start_time_seconds") >= v(after, "wincri_start_time_seconds")


def test_other_paths_and_methods(env):
    for path, code in (("/", 404), ("/metrics/x", 404), ("/metricsx", 404)):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{env.port}{path}", timeout=10)
        assert e.value.code == code
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}/metrics", data=b"x",
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 405 and e.value.headers["Allow"] == "GET, HEAD"
    # Garbage gets a 400, and a client that sends nothing does not hold the endpoint.
    with socket.create_connection(("127.0.0.1", env.port), timeout=10) as s:
        s.sendall(b"NOT HTTP\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 400 ")
    idle = socket.create_connection(("127.0.0.1", env.port), timeout=10)
    try:
        scrape(env.port)  # answered after the idle client's few seconds at most
    finally:
        idle.close()


def test_off_by_default(daemon_factory):
    d = daemon_factory()
    assert not lines(d.log(), "serving Prometheus metrics")


def test_busy_port_leaves_cri_serving(daemon_factory):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        d = daemon_factory({"metrics": {"address": f"127.0.0.1:{port}"}})
        d.runtime().Version(PB.VersionRequest(), timeout=10)
        warned = lines(d.log(), "the Prometheus endpoint is not available; wincrid runs without it")
        assert warned and warned[0]["level"] == "warn" and str(port) in warned[0]["address"]


def test_bad_address_refused_at_start(daemon_factory):
    d = daemon_factory({"metrics": {"address": "localhost:9505"}}, start=False)
    d.start(wait=False)
    assert d.proc.wait(30) == 2
    assert "metrics.address" in d.log()
