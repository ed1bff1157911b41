"""Error paths on the simulated host: a platform call failing with an HRESULT (injected by
the doubles: WINSIM_FAIL in the host's environment, or the same through its control
channel) gives the CRI caller the gRPC code the HRESULT means and a message naming the
call, and what the failed request had done is undone."""
import grpc
import pytest

from winsim import Pods, PB, SimHost, WinCrid, calls


def names_call(e, call, hr):
    d = e.value.details()
    assert call in d and hr.lower() in d.lower(), d


@pytest.mark.parametrize("hr,code", [
    ("0x80370108", grpc.StatusCode.UNAVAILABLE),        # HCS_E_CONNECT_FAILED
    ("0x80070005", grpc.StatusCode.PERMISSION_DENIED),  # E_ACCESSDENIED
    ("0x8037010D", grpc.StatusCode.INVALID_ARGUMENT),   # HCS_E_INVALID_JSON
])
def test_create_compute_system_fails(host, pods, hr, code):
    sid, scfg = pods.run_pod()
    m = host.mark()
    host.fault(f"HcsCreateComputeSystem={hr}*1")
    with pytest.raises(grpc.RpcError) as e:
        pods.create(sid, scfg, name="c")
    host.fault("")
    assert e.value.code() == code, e.value.details()
    names_call(e, "HcsCreateComputeSystem", hr)
    j = host.journal(m)
    created = calls(j, "HcsCreateComputeSystem")
    assert len(created) == 1 and created[0]["hr"].lower() == hr.lower()
    # the scratch made for it is unmounted and destroyed again
    scratch = calls(j, "ActivateLayer")[0]["id"]
    assert [x["id"] for x in calls(j, "UnprepareLayer")] == [scratch]
    assert [x["id"] for x in calls(j, "DestroyLayer")] == [scratch]
    listed = pods.rt.ListContainers(PB.ListContainersRequest(), timeout=30).containers
    assert [c for c in listed if c.pod_sandbox_id == sid] == []


def test_start_fails_when_the_process_cannot_start(host, pods):
    sid, scfg = pods.run_pod()
    cid = pods.create(sid, scfg, name="c")
    m = host.mark()
    host.fault("HcsCreateProcess=0x80070002*1")  # ERROR_FILE_NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        pods.start(cid)
    host.fault("")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND, e.value.details()
    names_call(e, "HcsCreateProcess", "0x80070002")
    st = pods.status(cid)
    assert st.state != PB.CONTAINER_RUNNING
    j = host.journal(m)
    assert calls(j, "HcsTerminateComputeSystem"), [x["call"] for x in j]
    # the failed container's log readers end: stopping the pod does not wait on them
    pods.rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=20)
    pods.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid), timeout=60)


def test_pod_network_failure_rolls_back(host, pods):
    def listed():
        return {p.id for p in pods.rt.ListPodSandbox(PB.ListPodSandboxRequest(), timeout=30).items}

    before = listed()
    m = host.mark()
    host.fault("HcnCreateEndpoint=0x803B0001*1")  # HCN_E_NETWORK_NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        pods.run_pod()
    host.fault("")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND, e.value.details()
    names_call(e, "HcnCreateEndpoint", "0x803B0001")
    j = host.journal(m)
    ns = calls(j, "HcnCreateNamespace")[0]["id"]
    assert [x["id"] for x in calls(j, "HcnDeleteNamespace")] == [ns]
    assert host.stats()["namespaces"] == 0
    assert listed() == before


def test_exec_failure_names_the_call(host, pods):
    sid, scfg = pods.run_pod()
    cid = pods.run(sid, scfg, name="c")
    pods.wait_log(scfg, "c", "running pid=")
    host.fault("HcsCreateProcess=0x8037011B*1")  # HCS_E_ACCESS_DENIED
    with pytest.raises(grpc.RpcError) as e:
        pods.rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=["ctr.exe", "echo"],
                                            timeout=10), timeout=60)
    host.fault("")
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, e.value.details()
    names_call(e, "HcsCreateProcess", "0x8037011B")
    assert pods.status(cid).state == PB.CONTAINER_RUNNING


def test_winsim_fail_from_the_environment(host, registry, image_ref):
    """WINSIM_FAIL in the host service's environment, read at its start: a second host
    service in the same prefix fails every HcsStartComputeSystem with HCS_E_INVALID_STATE,
    and a wincrid.exe using it reports FAILED_PRECONDITION naming the call."""
    h2 = SimHost.sibling(host, fail="HcsStartComputeSystem=0x80370105")
    d = WinCrid(h2, registry.host, subnet_index=3)
    try:
        d.start(env_extra={"WINSIM_PORT": str(h2.port)})
        d.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=image_ref)),
                            timeout=300)
        p = Pods(d, image_ref)
        sid, scfg = p.run_pod()
        cid = p.create(sid, scfg, name="c")
        with pytest.raises(grpc.RpcError) as e:
            p.start(cid)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
        names_call(e, "HcsStartComputeSystem", "0x80370105")
        starts = calls(h2.journal(), "HcsStartComputeSystem")
        assert starts and starts[0]["note"] == "failure injected by WINSIM_FAIL"
        assert not calls(host.journal(), "HcsStartComputeSystem") or all(
            x["id"] != cid for x in calls(host.journal(), "HcsStartComputeSystem"))
        p.cleanup()
    finally:
        d.kill()
        h2.stop()
