"""Concurrent calls that must not both succeed, or leave anything behind: duplicate names
(reserved before any work, as containerd does) and CreateContainer racing the removal of its
pod. Real wincrid, runc, CNI and registry (test_pods.py)."""
import os
import threading
import uuid

import grpc
import pytest

from conftest import PB
from conftest_images import registries  # noqa: F401  (fixture)
from test_pods import env, forward_guard, run_pod, sandbox_config  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pods need root")


def at_once(n, fn):
    """Runs fn(i) on n threads released together; returns [(result | None, rpc error | None)]."""
    gate = threading.Barrier(n)
    out = [None] * n

    def run(i):
        gate.wait()
        try:
            out[i] = (fn(i), None)
        except grpc.RpcError as e:
            out[i] = (None, e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def test_concurrent_run_pod_sandbox_with_one_name(env):  # noqa: F811
    cfg = sandbox_config(env)
    stubs = [env.d.runtime() for _ in range(4)]
    res = at_once(4, lambda i: stubs[i].RunPodSandbox(PB.RunPodSandboxRequest(config=cfg),
                                                      timeout=60).pod_sandbox_id)
    made = [r for r, e in res if r]
    errors = [e for r, e in res if e]
    assert len(made) == 1, res
    assert all(e.code() == grpc.StatusCode.ALREADY_EXISTS for e in errors), errors
    assert all(made[0] in e.details() or "already exists" in e.details() for e in errors)
    pods = [p for p in env.d.runtime().ListPodSandbox(PB.ListPodSandboxRequest()).items
            if p.metadata.name == cfg.metadata.name]
    assert [p.id for p in pods] == made


def test_concurrent_create_container_with_one_name(env):  # noqa: F811
    sid, scfg = run_pod(env)
    ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name="twin"),
                              image=PB.ImageSpec(image=env.ref), command=["sleep", "600"])
    stubs = [env.d.runtime() for _ in range(4)]
    res = at_once(4, lambda i: stubs[i].CreateContainer(PB.CreateContainerRequest(
        pod_sandbox_id=sid, config=ccfg, sandbox_config=scfg), timeout=60).container_id)
    made = [r for r, e in res if r]
    errors = [e for r, e in res if e]
    assert len(made) == 1, res
    assert all(e.code() == grpc.StatusCode.ALREADY_EXISTS for e in errors), errors
    listed = env.d.runtime().ListContainers(PB.ListContainersRequest(
        filter=PB.ContainerFilter(pod_sandbox_id=sid))).containers
    assert [c.id for c in listed] == made
    # the name is free again once its container is gone
    env.d.runtime().RemoveContainer(PB.RemoveContainerRequest(container_id=made[0]))
    again = env.d.runtime().CreateContainer(PB.CreateContainerRequest(
        pod_sandbox_id=sid, config=ccfg, sandbox_config=scfg), timeout=60).container_id
    assert again != made[0]


def test_create_container_racing_pod_removal_leaves_no_orphan(env):  # noqa: F811
    rt = env.d.runtime()
    for round_ in range(5):
        sid, scfg = run_pod(env)
        stubs = [env.d.runtime() for _ in range(4)]

        def call(i):
            if i == 0:
                stubs[i].StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
                return stubs[i].RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=sid),
                                                 timeout=60)
            ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name=f"c{i}-{uuid.uuid4().hex[:6]}"),
                                      image=PB.ImageSpec(image=env.ref), command=["sleep", "600"])
            return stubs[i].CreateContainer(PB.CreateContainerRequest(
                pod_sandbox_id=sid, config=ccfg, sandbox_config=scfg), timeout=60)

        res = at_once(4, call)
        assert res[0][1] is None, res[0]
        for _, e in res[1:]:
            if e is not None:  # lost the race: refused cleanly
                assert e.code() in (grpc.StatusCode.FAILED_PRECONDITION,
                                    grpc.StatusCode.NOT_FOUND), e
        orphans = [c for c in rt.ListContainers(PB.ListContainersRequest()).containers
                   if c.pod_sandbox_id == sid]
        assert not orphans, f"round {round_}: containers outlived their pod: {orphans}"
