"""No image can alter another through the layer cache (issue 13, item 1). Every layer's
uncompressed digest is checked against the config's rootfs.diff_ids before the layer is
filed under its chain ID, and a layer directory is reused only when the store recorded that
it was verified. The hostile images are built here and served by Debian's docker-registry
like any other; the registry itself is tampered with only where it would refuse to store
the lie (a config or manifest whose bytes do not match its digest)."""
import json
import os
import sqlite3
import threading
import uuid

import grpc
import pytest

import registry as R
from conftest import PB
from conftest_images import (images, img_daemon, pull, pull_error, registries,  # noqa: F401
                             status, store_snapshot)


@pytest.fixture
def proxy(registries):  # noqa: F811
    p = R.CountingProxy(registries.plain.host)
    yield p
    p.stop()


def layer_dirs(stub, pb, ref):
    return json.loads(status(stub, pb, ref, verbose=True).info["info"])["layerDirs"]


def registry_blob(registries, digest):  # noqa: F811
    """Where docker-registry keeps a blob's bytes in its filesystem storage."""
    h = digest.split(":", 1)[1]
    return os.path.join(registries.storage, "docker/registry/v2/blobs/sha256", h[:2], h, "data")


def genuine_busybox(registries, repo):  # noqa: F811
    """A busybox image whose one layer is unique to this test (so no earlier pull has it)."""
    marker = uuid.uuid4().hex
    layer = R.busybox_layer(extra={"etc/genuine": marker})
    img = registries.push(repo, "v1", R.Image([layer], cmd=["/bin/sleep", "600"]))
    return img, layer, marker


def read(path):
    with open(path) as f:
        return f.read()


def run_and_exec(d, ref, tmp_path, cmds):
    """Runs a container of ref in a host-network pod (no CNI needed) and execs cmds in it."""
    rt = d.runtime()
    name = "integrity-" + uuid.uuid4().hex[:8]
    ns = PB.NamespaceOption(network=PB.NODE)
    scfg = PB.PodSandboxConfig(
        metadata=PB.PodSandboxMetadata(name=name, namespace="e2e", uid=uuid.uuid4().hex),
        hostname=name, log_directory=str(tmp_path),
        linux=PB.LinuxPodSandboxConfig(
            security_context=PB.LinuxSandboxSecurityContext(namespace_options=ns)))
    sid = rt.RunPodSandbox(PB.RunPodSandboxRequest(config=scfg), timeout=60).pod_sandbox_id
    try:
        ccfg = PB.ContainerConfig(metadata=PB.ContainerMetadata(name="main"),
                                  image=PB.ImageSpec(image=ref), log_path="main.log")
        cid = rt.CreateContainer(PB.CreateContainerRequest(
            pod_sandbox_id=sid, config=ccfg, sandbox_config=scfg), timeout=60).container_id
        rt.StartContainer(PB.StartContainerRequest(container_id=cid), timeout=60)
        st = rt.ContainerStatus(PB.ContainerStatusRequest(container_id=cid)).status
        out = [rt.ExecSync(PB.ExecSyncRequest(container_id=cid, cmd=c, timeout=10), timeout=30)
               for c in cmds]
        return st, out
    finally:
        rt.StopPodSandbox(PB.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
        rt.RemovePodSandbox(PB.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)


def test_hostile_diff_id_claim_cannot_poison_the_genuine_image(pb, registries, proxy, images,
                                                               img_daemon, tmp_path):
    genuine, layer, marker = genuine_busybox(registries, "integrity/busybox")
    # The attack: the genuine rootfs plus etc/POISONED, under a config that claims the
    # genuine layer's diff ID (so, without verification, the same chain ID).
    bad = R.Layer(R.busybox_tar({"etc/genuine": marker, "etc/POISONED": "pwned\n"}))
    computed = bad.diff_id
    bad.diff_id = layer.diff_id
    hostile = registries.push("integrity/hostile", "v1", R.Image([bad]))
    assert hostile.layers[0].digest != layer.digest and computed != layer.diff_id

    before = store_snapshot(img_daemon)
    href = f"{proxy.host}/integrity/hostile:v1"
    e = pull_error(images, pb, href)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.details()
    for words in (href, "layer 0", bad.digest, layer.diff_id, computed):
        assert words in e.details(), (words, e.details())
    assert store_snapshot(img_daemon) == before  # no layer dir, no blob, no image
    assert not status(images, pb, href).HasField("image")
    assert not status(images, pb, hostile.id).HasField("image")

    gref = f"{proxy.host}/integrity/busybox:v1"
    assert pull(images, pb, gref) == genuine.id
    assert proxy.blob_gets().get(f"/v2/integrity/busybox/blobs/{layer.digest}") == 1
    (top,) = layer_dirs(images, pb, gref)
    assert not os.path.lexists(os.path.join(top, "etc/POISONED"))
    assert read(os.path.join(top, "etc/genuine")) == marker

    # and a container of the genuine image sees the genuine files only
    if os.geteuid() != 0:
        pytest.skip("containers need root")
    st, (poisoned, own) = run_and_exec(img_daemon, gref, tmp_path,
                                       [["cat", "/etc/POISONED"], ["cat", "/etc/genuine"]])
    assert genuine.id in (st.image_id, st.image_ref) or st.image_ref.endswith(genuine.digest)
    assert poisoned.exit_code != 0 and poisoned.stdout == b""
    assert own.exit_code == 0 and own.stdout == marker.encode()


def test_config_not_matching_its_descriptor_is_refused(pb, registries, images, img_daemon):
    img = registries.push("integrity/config", "v1",
                          registries.image(extra_config={"comment": "a" * 32}))
    # A config that now says something else (same size, so only the digest can tell).
    forged = img.config.replace(b"a" * 32, b"b" * 32)
    with open(registry_blob(registries, img.config_digest), "wb") as f:
        f.write(forged)
    before = store_snapshot(img_daemon)
    ref = f"{registries.plain.host}/integrity/config:v1"
    e = pull_error(images, pb, ref)
    assert e.code() == grpc.StatusCode.DATA_LOSS, e.details()
    for words in (ref, "image config", img.config_digest, R.sha256(forged)):
        assert words in e.details(), (words, e.details())
    assert store_snapshot(img_daemon) == before
    assert not status(images, pb, img.id).HasField("image")


def test_manifest_not_matching_the_digest_asked_for_is_refused(pb, registries, images,
                                                               img_daemon):
    img = registries.push("integrity/manifest", "v1", registries.image())
    other = registries.image()
    assert len(other.manifest) == len(img.manifest)
    with open(registry_blob(registries, img.digest), "wb") as f:
        f.write(other.manifest)
    before = store_snapshot(img_daemon)
    ref = f"{registries.plain.host}/integrity/manifest@{img.digest}"
    e = pull_error(images, pb, ref)
    assert e.code() == grpc.StatusCode.DATA_LOSS, e.details()
    assert img.digest in e.details() and other.digest in e.details()
    assert store_snapshot(img_daemon) == before


def test_leftover_layer_dir_without_a_verified_mark_is_not_reused(pb, registries, proxy, images,
                                                                  img_daemon):
    img, layer, marker = genuine_busybox(registries, "integrity/leftover")
    # A directory where the layer belongs that no verified commit put there: half written by
    # a crash, or planted. For a base layer the chain ID is the diff ID.
    planted = os.path.join(img_daemon.root, "images", "layers", layer.diff_id[7:])
    os.makedirs(os.path.join(planted, "etc"))
    with open(os.path.join(planted, "etc/POISONED"), "w") as f:
        f.write("pwned\n")
    ref = f"{proxy.host}/integrity/leftover:v1"
    assert pull(images, pb, ref) == img.id
    assert proxy.blob_gets().get(f"/v2/integrity/leftover/blobs/{layer.digest}") == 1
    (top,) = layer_dirs(images, pb, ref)
    assert os.path.realpath(top) == os.path.realpath(planted)
    assert not os.path.lexists(os.path.join(top, "etc/POISONED"))
    assert read(os.path.join(top, "etc/genuine")) == marker
    assert os.path.exists(os.path.join(top, "bin/busybox"))


def test_layers_stored_before_verification_are_not_trusted(pb, registries, proxy,
                                                           daemon_factory):
    marker = uuid.uuid4().hex
    shared = R.busybox_layer(extra={"etc/genuine": marker})
    tops = [R.Layer(R.TarBuilder().file(f"top{i}", uuid.uuid4().hex).bytes()) for i in (0, 1)]
    old = registries.push("integrity/old", "v1", R.Image([shared, tops[0]]))
    new = registries.push("integrity/new", "v1", R.Image([shared, tops[1]]))
    d = daemon_factory()
    oref = f"{registries.plain.host}/integrity/old:v1"
    assert pull(d.image(), pb, oref) == old.id
    base = layer_dirs(d.image(), pb, oref)[0]
    d.stop()
    # The store as an older wincri left it: the same directories, no record of any
    # verification, and content nothing checked (here: a file added behind its back).
    db = sqlite3.connect(os.path.join(d.root, "images", "images.db"))
    db.execute("DROP TABLE IF EXISTS verified_layers")
    db.commit()
    db.close()
    with open(os.path.join(base, "etc/POISONED"), "w") as f:
        f.write("pwned\n")
    d.start()
    nref = f"{proxy.host}/integrity/new:v1"
    assert pull(d.image(), pb, nref) == new.id
    # unpacked again from the blob the store kept (its digest was checked when it was
    # stored), verified, and filed in place of the old dir
    verified = [ln for ln in d.log().splitlines()
                if 'msg="layer verified"' in ln and f"blob={shared.digest}" in ln]
    assert len(verified) == 2 and "integrity/new:v1" in verified[1], verified
    assert 'msg="unverified layer directory replaced"' in d.log()
    dirs = layer_dirs(d.image(), pb, nref)
    assert dirs[0] == base
    assert not os.path.lexists(os.path.join(base, "etc/POISONED"))
    assert read(os.path.join(base, "etc/genuine")) == marker
    # the older image still resolves, now to the verified layer
    assert status(d.image(), pb, oref).image.id == old.id


def test_concurrent_pulls_verify_and_unpack_each_layer_once(pb, registries, images, img_daemon):
    slow = R.CountingProxy(registries.plain.host, blob_delay=0.02)
    try:
        layers = [R.busybox_layer(extra={"etc/genuine": uuid.uuid4().hex}),
                  R.Layer(R.TarBuilder().file("big", os.urandom(2 << 20)).bytes())]
        img = registries.push("integrity/conc", "v1", R.Image(layers))
        ref = f"{slow.host}/integrity/conc:v1"
        results, errors = [], []

        def one():
            try:
                results.append(pull(images, pb, ref))
            except grpc.RpcError as e:
                errors.append(e)

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, [e.details() for e in errors]
        assert results == [img.id] * 4
        gets = slow.blob_gets()
        for l in layers:
            assert gets[f"/v2/integrity/conc/blobs/{l.digest}"] == 1, gets
        # each layer was unpacked (and its diff ID checked) by one pull; the others reused it
        log = img_daemon.log().splitlines()
        for l in layers:
            verified = [ln for ln in log if 'msg="layer verified"' in ln and l.digest in ln]
            assert len(verified) == 1, verified
            assert f"diff_id={l.diff_id}" in verified[0]
        assert all(os.path.isdir(d) for d in layer_dirs(images, pb, ref))
    finally:
        slow.stop()
