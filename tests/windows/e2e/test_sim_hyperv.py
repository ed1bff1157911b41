"""Hyper-V isolated pods (runtime handler runhcs-wcow-hypervisor) on the simulated host: one
utility VM per pod booted from the base layer's UtilityVM, each container's layers shared
into it over VSMB, its scratch on SCSI, its root combined in the guest, the container hosted
in the VM; everything taken out again and the VM shut down with the pod."""
import json
import os
import uuid

import grpc
import pytest

from test_sim_identity import credspec, service_calls, windows_identity
from winsim import PB, assert_golden, calls, only

HANDLER = "runhcs-wcow-hypervisor"
VSMB_GUEST = "\\\\?\\VMSMB\\VSMB-{dcc079ae-60ba-4d07-847c-3493609c0870}\\"


@pytest.fixture(scope="module")
def hv_image(daemon, pulled):
    daemon.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(
        image=pulled, runtime_handler=HANDLER)), timeout=300)
    return pulled


def test_hyperv_pod_lifecycle(host, pods, hv_image):
    m = host.mark()
    sid, scfg = pods.run_pod(handler=HANDLER)
    c1 = pods.run(sid, scfg, name="c1")
    pods.wait_log(scfg, "c1", "running pid=")
    j = host.journal(m)
    netns = only(j, "HcnCreateNamespace")["id"]
    uvm_create = [e for e in calls(j, "HcsCreateComputeSystem") if e["id"].endswith("@vm")]
    assert len(uvm_create) == 1
    uvm = uvm_create[0]["id"]
    assert uvm == sid + "@vm"
    scratch = uvm_create[0]["doc"]["VirtualMachine"]["Devices"]["Scsi"]["0"]["Attachments"][
        "0"]["Path"]
    assert_golden("uvm.json", uvm_create[0]["doc"], {"uvm_scratch": scratch})
    # the VM's own scratch is granted to it before the VM is made (vmcompute GrantVmAccess)
    grant = only(j, "GrantVmAccess")
    assert grant["id"] == scratch and grant["seq"] < uvm_create[0]["seq"]
    mods = [e for e in calls(j, "HcsModifyComputeSystem") if e["id"] == uvm and not (
        e["doc"].get("ResourcePath", "").startswith("VirtualMachine/Devices/NetworkAdapters/") or
        e["doc"].get("GuestRequest", {}).get("ResourceType") == "Network")]  # the pod's NIC
    root = "C:\\c\\" + c1
    assert_golden("uvm_container_add.json", {"requests": [e["doc"] for e in mods]},
                  {"root": root})
    hosted = [e for e in calls(j, "HcsCreateComputeSystem") if e["id"] == c1][0]
    assert_golden("uvm_hosted_container.json", hosted["doc"],
                  {"uvm": uvm, "root": root, "hostname": scfg.hostname, "netns": netns})
    assert mods[-1]["seq"] < hosted["seq"]
    st = host.stats()
    assert st["vms"] == 1

    # a second container shares the VM and its layer shares; only a new LUN is added
    m2 = host.mark()
    c2 = pods.run(sid, scfg, name="c2", command=["C:\\app\\ctr.exe"],
                  args=["echo", "in the vm", ";", "exit", "2"])
    st2 = pods.wait_state(c2, PB.CONTAINER_EXITED)
    assert st2.exit_code == 2
    assert "in the vm" in pods.wait_log(scfg, "c2", "in the vm")
    j2 = host.journal(m2)
    assert not [e for e in calls(j2, "HcsCreateComputeSystem") if e["id"].endswith("@vm")]
    adds = [e["doc"].get("ResourcePath") for e in calls(j2, "HcsModifyComputeSystem")]
    assert "VirtualMachine/Devices/Scsi/0/Attachments/2" in adds
    assert "VirtualMachine/Devices/VirtualSmb/Shares" not in adds

    r = pods.rt.ExecSync(PB.ExecSyncRequest(container_id=c1, cmd=["ctr.exe", "echo", "exec"],
                                            timeout=20), timeout=60)
    assert r.exit_code == 0 and r.stdout.strip() == b"exec"
    s = pods.rt.ContainerStats(PB.ContainerStatsRequest(container_id=c1), timeout=30).stats
    assert s.memory.working_set_bytes.value > 0

    m3 = host.mark()
    pods.rt.StopContainer(PB.StopContainerRequest(container_id=c1, timeout=10), timeout=60)
    assert pods.status(c1).exit_code == 106
    pods.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=c1), timeout=60)
    j3 = host.journal(m3)
    rel = [e["doc"] for e in calls(j3, "HcsModifyComputeSystem") if e["id"] == uvm]
    assert_golden("uvm_container_release.json", {"requests": rel}, {"root": root})
    pods.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=c2), timeout=60)
    pods.rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=120)
    j4 = host.journal(m3)
    assert [e for e in calls(j4, "HcsShutDownComputeSystem") if e["id"] == uvm]
    assert host.stats()["vms"] == 0


def test_hyperv_scratch_granted_before_attach(host, pods, hv_image):
    """hcsshim internal/uvm/scsi.go addSCSIActual: wclayer.GrantVmAccess(uvm.id, hostPath)
    before the SCSI Add modify; HcsGrantVmAccess (ComputeCore.h, computecore.dll) is the
    documented form of that call."""
    m = host.mark()
    sid, scfg = pods.run_pod(handler=HANDLER)
    pods.run(sid, scfg, name="c")
    pods.wait_log(scfg, "c", "running pid=")
    j = host.journal(m)
    uvm = sid + "@vm"
    adds = [e for e in calls(j, "HcsModifyComputeSystem") if e["id"] == uvm and
            e["doc"].get("ResourcePath", "").startswith("VirtualMachine/Devices/Scsi/")]
    assert len(adds) == 1 and adds[0]["hr"] == "0x00000000"
    vhdx = adds[0]["doc"]["Settings"]["Path"]
    grants = [e for e in calls(j, "HcsGrantVmAccess") if e["id"] == vhdx]
    assert len(grants) == 1 and grants[0]["hr"] == "0x00000000", grants
    assert grants[0]["note"] == "granted to " + uvm
    assert grants[0]["seq"] < adds[0]["seq"]


@pytest.mark.parametrize("fault,call", [
    # the grant reports success but did not take: the host refuses the attach itself
    ("HcsGrantVmAccess=skip*1", "HcsModifyComputeSystem"),
    # the grant fails: nothing is attached
    ("HcsGrantVmAccess=0x80070005*1", "HcsGrantVmAccess"),
])
def test_hyperv_attach_without_grant_is_refused(host, pods, hv_image, fault, call):
    sid, scfg = pods.run_pod(handler=HANDLER)
    m = host.mark()
    host.fault(fault)
    with pytest.raises(grpc.RpcError) as e:
        pods.create(sid, scfg, name="c")
    host.fault("")
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, e.value.details()
    assert call in e.value.details() and "0x80070005" in e.value.details(), e.value.details()
    j = host.journal(m)
    uvm = sid + "@vm"
    scsi = [e for e in calls(j, "HcsModifyComputeSystem") if e["id"] == uvm and
            e["doc"].get("RequestType") == "Add" and
            e["doc"].get("ResourcePath", "").startswith("VirtualMachine/Devices/Scsi/")]
    if call == "HcsModifyComputeSystem":
        assert len(scsi) == 1 and scsi[0]["hr"] == "0x80070005", scsi
        assert "was not granted to " + uvm in scsi[0]["note"]
    else:
        assert scsi == []
    # the VM made for this container alone is gone again, and nothing is left in the pod
    assert [e for e in calls(j, "HcsTerminateComputeSystem") if e["id"] == uvm]
    assert host.stats()["vms"] == 0
    listed = pods.rt.ListContainers(PB.ListContainersRequest(), timeout=30).containers
    assert [c for c in listed if c.pod_sandbox_id == sid] == []
    # and the next try, granted, works
    pods.run(sid, scfg, name="c")
    pods.wait_log(scfg, "c", "running pid=")


def test_hyperv_vm_gets_the_pod_endpoint(host, pods, hv_image):
    """The pod's endpoint becomes a network adapter of its utility VM before any container
    is put on it (hcsshim internal/uvm/network.go AddEndpointsToNS / addNIC)."""
    m = host.mark()
    sid, scfg = pods.run_pod(handler=HANDLER)
    ip = pods.rt.PodSandboxStatus(PB.PodSandboxStatusRequest(pod_sandbox_id=sid),
                                  timeout=30).status.network.ip
    c = pods.run(sid, scfg, name="c")
    pods.wait_log(scfg, "c", "running pid=")
    j = host.journal(m)
    uvm = sid + "@vm"
    endpoint = only(j, "HcnCreateEndpoint")["id"]
    net = [e for e in calls(j, "HcsModifyComputeSystem") if e["id"] == uvm and (
        e["doc"].get("ResourcePath", "").startswith("VirtualMachine/Devices/NetworkAdapters/") or
        e["doc"].get("GuestRequest", {}).get("ResourceType") == "Network")]
    assert len(net) == 2 and all(e["hr"] == "0x00000000" for e in net), net
    nic = net[0]["doc"]["GuestRequest"]["Settings"]["AdapterId"]
    assert_golden("uvm_network_adapter.json", {"preadd": net[0]["doc"], "add": net[1]["doc"]},
                  {"endpoint": endpoint, "pod_ip": ip, "nic": nic,
                   "nic_path": "VirtualMachine/Devices/NetworkAdapters/" + nic})
    hosted = [e for e in calls(j, "HcsCreateComputeSystem") if e["id"] == c][0]
    assert net[1]["seq"] < hosted["seq"]
    assert hosted["doc"]["HostedSystem"]["Container"]["Networking"]["Namespace"]

    # the simulated host holds the guest to it: a device Add without the guest's PreAdd is
    # refused, and a container on a namespace whose endpoint the VM has no adapter for
    h = 0x7E570011
    assert host.control("HcsOpenComputeSystem", h=h, id=uvm, jid=uvm)["hr"] == 0
    try:
        other = "0f0e0d0c-0b0a-4909-8807-060504030201"
        r = host.control("HcsModifyComputeSystem", h=h, doc=json.dumps({
            "RequestType": "Add", "ResourcePath": "VirtualMachine/Devices/NetworkAdapters/" + other,
            "Settings": {"EndpointId": endpoint}}))
        assert hr_of(r) == 0x80070057, r
    finally:
        host.control("HcsCloseComputeSystem", h=h)
    m2 = host.mark()
    sid2, _ = pods.run_pod()
    ns2 = only(host.journal(m2), "HcnCreateNamespace")["id"]
    bad = json.loads(json.dumps(hosted["doc"]))
    bad["HostedSystem"]["Container"]["Networking"]["Namespace"] = ns2
    r = host.control("HcsCreateComputeSystem", h=h + 1, id="nonic-" + c, jid="nonic",
                     doc=json.dumps(bad))
    assert hr_of(r) == 0x80070490, r  # ERROR_NOT_FOUND: the guest has no such adapter
    pods.rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid2), timeout=60)


def hr_of(reply):
    return reply["hr"] & 0xFFFFFFFF


def test_hyperv_single_file_mounts(host, pods, hv_image):
    """A bind mount of a file (kubelet's termination log) in a Hyper-V pod: VSMB shares
    directories, so the file's directory is shared limited to that file (hcsshim
    internal/uvm/vsmb.go AddVSMB) and the container maps <share>\\<file>."""
    base = pods.d.base + "\\kubelet\\" + uuid.uuid4().hex[:8]
    tdir, data = base + "\\containers", base + "\\volumes\\data"
    os.makedirs(pods.d.path(tdir))
    os.makedirs(pods.d.path(data))
    for name in ("termination-log-c1", "termination-log-c2"):
        with open(pods.d.path(tdir + "\\" + name), "w"):
            pass
    f1, f2 = tdir + "\\termination-log-c1", tdir + "\\termination-log-c2"
    m = host.mark()
    sid, scfg = pods.run_pod(handler=HANDLER)
    uvm = sid + "@vm"
    c1 = pods.run(sid, scfg, name="c1", mounts=[
        PB.Mount(container_path="C:\\dev\\termination-log", host_path=f1),
        PB.Mount(container_path="C:\\data", host_path=data, readonly=True)])
    pods.wait_log(scfg, "c1", "running pid=")
    c2 = pods.run(sid, scfg, name="c2", mounts=[
        PB.Mount(container_path="C:\\dev\\termination-log", host_path=f2)])
    pods.wait_log(scfg, "c2", "running pid=")
    j = host.journal(m)
    shares = [e for e in calls(j, "HcsModifyComputeSystem") if e["id"] == uvm and
              e["doc"].get("ResourcePath") == "VirtualMachine/Devices/VirtualSmb/Shares"]
    assert all(e["hr"] == "0x00000000" for e in shares), shares
    hosted = {e["id"]: e["doc"] for e in calls(j, "HcsCreateComputeSystem")
              if e["id"] in (c1, c2)}

    def mapped(c):
        return hosted[c]["HostedSystem"]["Container"]["MappedDirectories"]
    assert_golden("uvm_single_file_shares.json",
                  {"requests": [e["doc"] for e in shares[2:]],  # after the two layer shares
                   "c1_mapped": mapped(c1), "c2_mapped": mapped(c2)},
                  {"dir": tdir, "file1": f1, "file2": f2, "data": data})
    assert "now allows 2 file(s)" in shares[-1]["note"]

    # the simulated host refuses what a node refuses: a file as a share, an Update of an
    # unrestricted share, and a mapping of a file the share does not allow
    h = 0x7E570001
    vsmb = "VirtualMachine/Devices/VirtualSmb/Shares"
    assert host.control("HcsOpenComputeSystem", h=h, id=uvm, jid=uvm)["hr"] == 0
    try:
        def modify(req):
            return host.control("HcsModifyComputeSystem", h=h, doc=json.dumps(req))
        r = modify({"RequestType": "Add", "ResourcePath": vsmb,
                    "Settings": {"Name": "x1", "Path": f1, "Options": {"ReadOnly": True}}})
        assert hr_of(r) == 0x8007010B, r  # ERROR_DIRECTORY
        r = modify({"RequestType": "Update", "ResourcePath": vsmb,
                    "Settings": {"Name": "s4", "Path": data, "AllowedFiles": [f1],
                                 "Options": {"RestrictFileAccess": True}}})
        assert hr_of(r) == 0x80070057, r  # E_INVALIDARG
        r = modify({"RequestType": "Add", "ResourcePath": vsmb,
                    "Settings": {"Name": "x2", "Path": data, "AllowedFiles": [f1],
                                 "Options": {"RestrictFileAccess": True,
                                             "SingleFileMapping": True}}})
        assert hr_of(r) == 0x80070057, r  # the file is not in that directory
    finally:
        host.control("HcsCloseComputeSystem", h=h)
    bad = json.loads(json.dumps(hosted[c2]))
    bad["HostedSystem"]["Container"]["MappedDirectories"][0]["HostPath"] = (
        VSMB_GUEST + "s3\\not-allowed")
    r = host.control("HcsCreateComputeSystem", h=h + 1, id="refused-" + c2, jid="refused",
                     doc=json.dumps(bad))
    assert hr_of(r) == 0x80070005, r  # E_ACCESSDENIED: not an allowed file of s3
    bad["HostedSystem"]["Container"]["MappedDirectories"][0]["HostPath"] = VSMB_GUEST + "s3"
    r = host.control("HcsCreateComputeSystem", h=h + 1, id="refused-" + c2, jid="refused",
                     doc=json.dumps(bad))
    assert hr_of(r) == 0x80070005, r  # the restricted share as a whole directory

    m2 = host.mark()
    for c in (c1, c2):
        pods.rt.StopContainer(PB.StopContainerRequest(container_id=c, timeout=10), timeout=60)
        pods.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=c), timeout=60)
    rel = [e["doc"] for e in calls(host.journal(m2), "HcsModifyComputeSystem")
           if e["id"] == uvm and e["doc"].get("ResourcePath") == vsmb]
    assert {"RequestType": "Remove", "ResourcePath": vsmb, "Settings": {"Name": "s3"}} in rel


def test_hyperv_gmsa_over_hvsocket(host, pods, hv_image):
    """hcsshim hcsoci.CreateContainer for a hypervisor-isolated container with a credential
    spec: the instance uses the HvSocket transport, its service entry is added to the VM
    (UpdateHvSocketService) before the hosted container, whose document names the instance."""
    cs = credspec()
    m = host.mark()
    sid, scfg = pods.run_pod(handler=HANDLER)
    cid = pods.run(sid, scfg, name="g", windows=windows_identity(cs))
    pods.wait_log(scfg, "g", "running pid=")
    j = host.journal(m)
    uvm = sid + "@vm"
    add = service_calls(j, "AddInstance")
    assert len(add) == 1
    assert_golden("ccg_add.json", add[0]["doc"], {"cid": cid, "credspec": cs,
                                                  "transport": "HvSocket"})
    svc = [e for e in calls(j, "HcsModifyComputeSystem") if e["id"] == uvm and
           "/HvSocket/" in e["doc"].get("ResourcePath", "")]
    assert len(svc) == 1 and svc[0]["hr"] == "0x00000000"
    path = svc[0]["doc"]["ResourcePath"]
    assert path.startswith("VirtualMachine/Devices/HvSocket/HvSocketConfig/ServiceTable/")
    assert_golden("uvm_hvsocket_service.json", svc[0]["doc"], {"service_path": path})
    hosted = [e for e in calls(j, "HcsCreateComputeSystem") if e["id"] == cid][0]
    ccg = hosted["doc"]["HostedSystem"]["Container"]["ContainerCredentialGuard"]
    assert ccg["Transport"] == "HvSocket" and ccg["CredentialSpec"] == cs
    assert add[0]["seq"] < svc[0]["seq"] < hosted["seq"] and hosted["hr"] == "0x00000000"
    assert host.stats()["ccg_instances"] == [cid]
    m2 = host.mark()
    pods.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=5), timeout=60)
    pods.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid), timeout=60)
    rm = service_calls(host.journal(m2), "RemoveInstance")
    assert [e["doc"]["Settings"]["OperationDetails"]["Id"] for e in rm] == [cid]
    assert host.stats()["ccg_instances"] == []


def test_hyperv_uvm_limits_from_pod_annotations(host, pods, hv_image):
    """internal/oci/uvm.go: the pod's processor limit and weight and storage QoS annotations
    reach the VM document (create_wcow.go prepareConfigDoc), EnableCompartmentNamespace is
    set (file shares from inside the VM), and the pod's process dump location reaches its
    containers."""
    ann = {"io.microsoft.virtualmachine.computetopology.processor.limit": "50000",
           "io.microsoft.virtualmachine.computetopology.processor.weight": "200",
           "io.microsoft.virtualmachine.storageqos.iopsmaximum": "1000",
           "io.microsoft.virtualmachine.storageqos.bandwidthmaximum": "1048576",
           # the pod's dump location is its containers' default (hcsshim: the VM's
           # ProcessDumpLocation, used by hcsdoc_wcow.go when the container sets none)
           "io.microsoft.container.processdumplocation": "C:\\pod-dumps"}
    m = host.mark()
    sid, scfg = pods.run_pod(handler=HANDLER, annotations=ann)
    cid = pods.run(sid, scfg, name="c")
    pods.wait_log(scfg, "c", "running pid=")
    j = host.journal(m)
    vm = [e for e in calls(j, "HcsCreateComputeSystem")
          if e["id"] == sid + "@vm"][0]["doc"]["VirtualMachine"]
    hosted = [e for e in calls(j, "HcsCreateComputeSystem") if e["id"] == cid][0]["doc"]
    values = hosted["HostedSystem"]["Container"]["RegistryChanges"]["AddValues"]
    assert [(v["Name"], v.get("StringValue", v.get("DWordValue"))) for v in values] == [
        ("WaitToKillServiceTimeout", "2147483647"), ("DumpFolder", "C:\\pod-dumps"),
        ("DumpType", 2)]
    assert vm["ComputeTopology"]["Processor"] == {"Count": 2, "Limit": 50000, "Weight": 200}
    assert vm["StorageQoS"] == {"IopsMaximum": 1000, "BandwidthMaximum": 1048576}
    assert vm["RegistryChanges"]["AddValues"][0]["Name"] == "EnableCompartmentNamespace"

    # out of range (limit is 1..100000): the container is refused, naming the annotation
    bad = dict(ann)
    bad["io.microsoft.virtualmachine.computetopology.processor.limit"] = "100001"
    sid2, scfg2 = pods.run_pod(handler=HANDLER, annotations=bad)
    with pytest.raises(grpc.RpcError) as e:
        pods.create(sid2, scfg2, name="c")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
    assert "processor.limit" in e.value.details()
