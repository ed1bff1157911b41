"""What a Windows container is given besides its layers, on the simulated host: its gMSA
identity (a Container Credential Guard instance registered before the container is made,
named in its document, removed with it, and a refusal when it cannot be registered), the
WaitToKillServiceTimeout that lets it take the grace kubelet gives it, and WER process
dumps from the annotations. Hyper-V pods' parts are in test_sim_hyperv.py."""
import json
import time

import grpc
import pytest

from winsim import PB, assert_golden, calls, only

PLUGIN = "{859E1386-BDB4-49E8-85C7-3070B13920E1}"  # the sim's registered CCG plugin


def credspec(plugin=PLUGIN, account="webapp01"):
    """A credential spec as Microsoft's CredentialSpec module writes it for a host that is not
    domain-joined (HostAccountConfig with a CCG plugin)."""
    return json.dumps({
        "CmsPlugins": ["ActiveDirectory"],
        "DomainJoinConfig": {"Sid": "S-1-5-21-1111111111-2222222222-3333333333",
                             "MachineAccountName": account,
                             "Guid": "244818ae-87ac-4fcd-92ec-e79e5252348a",
                             "DnsTreeName": "contoso.com", "DnsName": "contoso.com",
                             "NetBiosName": "CONTOSO"},
        "ActiveDirectoryConfig": {
            "GroupManagedServiceAccounts": [{"Name": account, "Scope": "contoso.com"},
                                            {"Name": account, "Scope": "CONTOSO"}],
            "HostAccountConfig": {"PortableCcgVersion": "1", "PluginGUID": plugin,
                                  "PluginInput": "ObjectId=x;SecretUri=https://vault/secret"}},
    }, separators=(",", ":"))


def windows_identity(spec):
    return PB.WindowsContainerConfig(
        security_context=PB.WindowsContainerSecurityContext(credential_spec=spec))


def service_calls(j, op):
    return [e for e in calls(j, "HcsModifyServiceSettings")
            if e["doc"]["Settings"]["Operation"] == op]


def test_gmsa_instance_lives_with_the_container(host, pods):
    cs = credspec()
    m = host.mark()
    sid, scfg = pods.run_pod()
    cid = pods.run(sid, scfg, name="gmsa", windows=windows_identity(cs))
    pods.wait_log(scfg, "gmsa", "running pid=")
    j = host.journal(m)
    add = service_calls(j, "AddInstance")
    assert len(add) == 1 and add[0]["hr"] == "0x00000000"
    assert_golden("ccg_add.json", add[0]["doc"],
                  {"cid": cid, "credspec": cs, "transport": "LRPC"})
    query = only(j, "HcsGetServiceProperties")
    assert_golden("ccg_query.json", query["doc"])
    create = only(j, "HcsCreateComputeSystem")
    netns = only(j, "HcnCreateNamespace")["id"]
    # registered, then looked up, then named in the document (the sim refuses a document
    # whose ContainerCredentialGuard is no registered instance of that transport)
    assert add[0]["seq"] < query["seq"] < create["seq"]
    assert create["hr"] == "0x00000000"
    assert_golden("container_gmsa.json", create["doc"],
                  {"hostname": scfg.hostname, "netns": netns, "credspec": cs})
    assert host.stats()["ccg_instances"] == [cid]

    m2 = host.mark()
    pods.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=5), timeout=60)
    # stopped, the container keeps its identity until it is removed
    assert host.stats()["ccg_instances"] == [cid]
    pods.rt.RemoveContainer(PB.RemoveContainerRequest(container_id=cid), timeout=60)
    j2 = host.journal(m2)
    rm = service_calls(j2, "RemoveInstance")
    assert len(rm) == 1 and rm[0]["hr"] == "0x00000000"
    assert_golden("ccg_remove.json", rm[0]["doc"], {"cid": cid})
    assert host.stats()["ccg_instances"] == []


@pytest.mark.parametrize("spec,reason", [
    (credspec(plugin="{00000000-1111-2222-3333-444444444444}"), "is not registered"),
    ("not json", "not a JSON object"),
    (json.dumps({"CmsPlugins": ["ActiveDirectory"]}), "DomainJoinConfig"),
])
def test_gmsa_that_cannot_be_registered_is_refused(host, pods, spec, reason):
    sid, scfg = pods.run_pod()
    m = host.mark()
    with pytest.raises(grpc.RpcError) as e:
        pods.create(sid, scfg, name="nogmsa", windows=windows_identity(spec))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
    assert "gMSA" in e.value.details() and reason in e.value.details(), e.value.details()
    j = host.journal(m)
    add = only(j, "HcsModifyServiceSettings")
    assert add["hr"] != "0x00000000"
    # never run without its identity: no compute system, no storage left, no instance
    assert not calls(j, "HcsCreateComputeSystem")
    assert host.stats()["ccg_instances"] == []
    names = [c.metadata.name for c in pods.rt.ListContainers(
        PB.ListContainersRequest(filter=PB.ContainerFilter(pod_sandbox_id=sid)),
        timeout=30).containers]
    assert "nogmsa" not in names


def test_gmsa_failed_create_leaves_no_instance(host, pods):
    sid, scfg = pods.run_pod()
    m = host.mark()
    host.fault("HcsCreateComputeSystem=0x80370109*1")
    try:
        with pytest.raises(grpc.RpcError):
            pods.create(sid, scfg, name="gmsafail", windows=windows_identity(credspec()))
    finally:
        host.fault("")
    j = host.journal(m)
    add, rm = service_calls(j, "AddInstance"), service_calls(j, "RemoveInstance")
    create = only(j, "HcsCreateComputeSystem")
    assert len(add) == 1 and len(rm) == 1
    assert add[0]["seq"] < create["seq"] < rm[0]["seq"]
    assert rm[0]["doc"]["Settings"]["OperationDetails"]["Id"] == \
        add[0]["doc"]["Settings"]["OperationDetails"]["Id"]
    assert host.stats()["ccg_instances"] == []


def test_stop_grace_is_not_cut_by_wait_to_kill(host, pods):
    """Servercore kills a process WaitToKillServiceTimeout (5 s by default) after
    CtrlShutdown; the sim does too. With hcsshim's value in the document the container's
    process gets the whole grace StopContainer gives it and exits on its own."""
    m = host.mark()
    sid, scfg = pods.run_pod()
    cid = pods.run(sid, scfg, name="slow", command=["C:\\app\\ctr.exe"],
                   args=["linger", "7000"])
    pods.wait_log(scfg, "slow", "running pid=")
    create = only(host.journal(m), "HcsCreateComputeSystem")
    values = create["doc"]["Container"]["RegistryChanges"]["AddValues"]
    assert {"Key": {"Hive": "System", "Name": "ControlSet001\\Control"},
            "Name": "WaitToKillServiceTimeout", "Type": "String",
            "StringValue": "2147483647"} in values
    t0 = time.time()
    pods.rt.StopContainer(PB.StopContainerRequest(container_id=cid, timeout=30), timeout=90)
    took = time.time() - t0
    st = pods.wait_state(cid, PB.CONTAINER_EXITED)
    # CTRL_SHUTDOWN_EVENT is 6: ctr.exe exits 106 after lingering; a kill would give 1
    assert st.exit_code == 106, (st.exit_code, took)
    assert "lingered" in pods.wait_log(scfg, "slow", "lingered")
    assert 6.5 < took < 29, took


def test_process_dump_annotations(host, pods):
    m = host.mark()
    sid, scfg = pods.run_pod()
    ann = {"io.microsoft.container.processdumplocation": "C:\\dumps",
           "io.microsoft.wcow.processdumptype": "mini"}
    cid = pods.create(sid, scfg, name="dumps", annotations=ann)
    j = host.journal(m)
    create = only(j, "HcsCreateComputeSystem")
    assert create["id"] == cid
    netns = only(j, "HcnCreateNamespace")["id"]
    assert_golden("container_dump.json", create["doc"],
                  {"hostname": scfg.hostname, "netns": netns, "dump_folder": "C:\\dumps"})
    # an unknown dump type is refused (hcsshim parseDumpType), naming the annotation
    with pytest.raises(grpc.RpcError) as e:
        pods.create(sid, scfg, name="baddump",
                    annotations={"io.microsoft.container.processdumplocation": "C:\\dumps",
                                 "io.microsoft.wcow.processdumptype": "huge"})
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
    assert "io.microsoft.wcow.processdumptype" in e.value.details()
