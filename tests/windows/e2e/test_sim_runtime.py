"""wincrid.exe on the simulated Windows Server 2022 host: version, status, how it sees the
host's build (image selection), and image pull with Windows layer import."""
import os

import grpc
import pytest

from winsim import PB, R, calls, only, windows_image


def test_version_and_status_runtime_ready(daemon):
    rt = daemon.runtime()
    v = rt.Version(PB.VersionRequest(), timeout=30)
    assert (v.runtime_name, v.runtime_api_version) == ("wincri", "v1")
    st = rt.Status(PB.StatusRequest(verbose=True), timeout=30)
    conds = {c.type: c for c in st.status.conditions}
    assert conds["RuntimeReady"].status is True, conds["RuntimeReady"].message
    assert conds["NetworkReady"].status is True, conds["NetworkReady"].message
    assert sorted(h.name for h in st.runtime_handlers) == ["runhcs-wcow-hypervisor",
                                                          "runhcs-wcow-process"]


def test_host_build_selects_the_image(daemon, registry):
    """The prefix says Windows Server 2022 (build 20348, UBR 2582) and wincrid.exe's manifest
    lets it see that: from an index of an LTSC 2019 and an LTSC 2022 image, process isolation
    takes the 2022 one; an index with only 2019 has nothing this host can run."""
    old = windows_image("ltsc2019", os_version="10.0.17763.5830")
    new = windows_image("ltsc2022")
    registry.pusher.index("winsim/multi", "v1", R.Index([old, new]))
    registry.pusher.index("winsim/old", "v1", R.Index([old]))
    im = daemon.image()
    ref = im.PullImage(PB.PullImageRequest(image=PB.ImageSpec(
        image=registry.host + "/winsim/multi:v1")), timeout=300).image_ref
    assert ref == new.id
    with pytest.raises(grpc.RpcError) as e:
        im.PullImage(PB.PullImageRequest(image=PB.ImageSpec(
            image=registry.host + "/winsim/old:v1")), timeout=300)
    assert e.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)
    assert "10.0.20348" in e.value.details(), e.value.details()


def test_pull_imports_windows_layers(host, daemon, registry):
    """The base layer is restored in place and processed (ProcessBaseImage on the layer
    folder, ProcessUtilityImage on its UtilityVM); the next layer goes through ImportLayer in
    the legacy staging format with its parent's descriptor; the whiteout reaches the layer."""
    img = windows_image("import-test", base_marker="import-test")
    ref = registry.push("winsim/import", "v1", img)
    m = host.mark()
    daemon.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=ref)), timeout=300)
    j = host.journal(m)
    base = only(j, "ProcessBaseImage")
    assert base["hr"] == "0x00000000", base
    layer = host.path(base["id"])
    assert os.path.isfile(os.path.join(layer, "Files", "app", "ctr.exe"))
    assert os.path.isfile(os.path.join(layer, "Hives", "System_Delta"))
    assert os.path.isfile(os.path.join(layer, "blank.vhdx"))
    uvm = only(j, "ProcessUtilityImage")
    assert uvm["id"] == base["id"] + "\\UtilityVM"
    imp = only(j, "ImportLayer")
    assert imp["hr"] == "0x00000000", imp
    assert not calls(j, "DestroyLayer")
    top = host.path(imp["id"])
    with open(os.path.join(top, "Files", "app", "config.txt")) as f:
        assert f.read() == "marker=import-test\n"
    with open(os.path.join(top, "winsim.whiteouts")) as f:
        assert f.read().split() == ["app\\removed.txt"]
    st = daemon.image().ImageStatus(PB.ImageStatusRequest(image=PB.ImageSpec(image=ref)),
                                    timeout=30)
    assert st.image.id == img.id
    assert st.image.spec.annotations or True
    daemon.image().RemoveImage(PB.RemoveImageRequest(image=PB.ImageSpec(image=ref)), timeout=60)


def test_failed_import_leaves_no_layer(host, daemon, registry):
    """ImportLayer failing (E_ACCESSDENIED injected) fails the pull with the call named, and
    the half-imported layer is destroyed."""
    ref = registry.push("winsim/importfail", "v1",
                        windows_image("import-fail", base_marker="import-fail"))
    host.fault("ImportLayer=0x80070005*1")
    m = host.mark()
    with pytest.raises(grpc.RpcError) as e:
        daemon.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=ref)),
                                 timeout=300)
    host.fault("")
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, e.value.details()
    assert "ImportLayer" in e.value.details() and "0x80070005" in e.value.details()
    j = host.journal(m)
    failed = only(j, "ImportLayer")
    assert failed["hr"] == "0x80070005"
    assert [d["id"] for d in calls(j, "DestroyLayer")] == [failed["id"]]
    listed = daemon.image().ListImages(PB.ListImagesRequest(), timeout=30).images
    assert ref not in [t for i in listed for t in i.repo_tags]
