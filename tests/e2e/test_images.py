"""ImageService end to end against Debian's docker-registry on 127.0.0.1: pull by tag and by
digest, list/status/remove, platform choice from an index, layer contents (whiteouts, hard
links, modes) usable as overlayfs lower dirs, malicious layers, GC and ImageFsInfo."""
import json
import os
import sqlite3
import subprocess
import tempfile

import grpc
import pytest

import registry as R
from conftest_images import (images, img_daemon, pull, pull_error, registries, spec,  # noqa: F401
                             status, store_snapshot)


def test_pull_by_tag_list_status_remove(pb, registries, images, img_daemon):
    img = registries.push("test/basic", "v1", registries.image(user="1000"))
    ref = f"{registries.plain.host}/test/basic:v1"
    assert pull(images, pb, ref) == img.id

    listed = [i for i in images.ListImages(pb.ListImagesRequest(), timeout=30).images
              if i.id == img.id]
    assert len(listed) == 1
    i = listed[0]
    assert list(i.repo_tags) == [ref]
    assert list(i.repo_digests) == [f"{registries.plain.host}/test/basic@{img.digest}"]
    assert i.size == len(img.config) + sum(len(l.blob) for l in img.layers)
    assert i.uid.value == 1000 and i.username == ""

    # found by ID, bare hex, short prefix, digest reference and through the filter
    for q in (img.id, img.id[7:], img.id[7:19], i.repo_digests[0]):
        assert status(images, pb, q).image.id == img.id, q
    flt = pb.ListImagesRequest(filter=pb.ImageFilter(image=spec(pb, ref)))
    assert [x.id for x in images.ListImages(flt, timeout=30).images] == [img.id]

    st = status(images, pb, ref, verbose=True)
    info = json.loads(st.info["info"])
    assert info["imageSpec"]["config"]["User"] == "1000"
    assert len(info["layerDirs"]) == 2 and all(os.path.isdir(d) for d in info["layerDirs"])

    images.RemoveImage(pb.RemoveImageRequest(image=spec(pb, ref)), timeout=30)
    assert not status(images, pb, img.id).HasField("image")
    assert not any(x.id == img.id for x in
                   images.ListImages(pb.ListImagesRequest(), timeout=30).images)
    for d in info["layerDirs"]:
        assert not os.path.exists(d)
    # removing what is not there succeeds
    images.RemoveImage(pb.RemoveImageRequest(image=spec(pb, ref)), timeout=30)


def test_pull_by_digest_and_normalised_lookup(pb, registries, images):
    img = registries.push("test/bydigest", "latest", registries.image(user="nobody"))
    ref = f"{registries.plain.host}/test/bydigest@{img.digest}"
    assert pull(images, pb, ref) == img.id
    st = status(images, pb, ref).image
    assert list(st.repo_tags) == []
    assert list(st.repo_digests) == [ref]
    assert st.username == "nobody" and not st.HasField("uid")
    # a tag pull of the same image adds the tag to the same image
    assert pull(images, pb, f"{registries.plain.host}/test/bydigest") == img.id
    st = status(images, pb, f"{registries.plain.host}/test/bydigest:latest").image
    assert list(st.repo_tags) == [f"{registries.plain.host}/test/bydigest:latest"]


def test_layers_are_overlay_lower_dirs(pb, registries, images):
    img = registries.push("test/layers", "v1", R.Image([registries.base, R.whiteout_layer()]))
    ref = f"{registries.plain.host}/test/layers:v1"
    assert pull(images, pb, ref) == img.id
    dirs = json.loads(status(images, pb, ref, verbose=True).info["info"])["layerDirs"]
    top = dirs[1]
    st = os.lstat(os.path.join(top, "data/gone"))
    assert (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == 0  # overlay whiteout
    assert os.getxattr(os.path.join(top, "data/opaque"), "trusted.overlay.opaque") == b"y"
    a, b = os.lstat(os.path.join(top, "data/original")), os.lstat(os.path.join(top, "data/hardlink"))
    assert a.st_ino == b.st_ino and a.st_nlink == 2
    assert (a.st_uid, a.st_gid, a.st_mode & 0o7777) == (1000, 1000, 0o640)
    assert os.lstat(os.path.join(top, "data/setuid")).st_mode & 0o7777 == 0o4755
    assert os.getxattr(os.path.join(top, "data/xattr"), "user.wincri") == b"yes"
    assert os.lstat(os.path.join(top, "data/fifo")).st_mtime == 1700000000

    # the layers stack with overlayfs into the expected root
    mnt = tempfile.mkdtemp(prefix="wcovl-")
    opts = "lowerdir=" + ":".join(reversed(dirs))
    r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        pytest.skip(f"overlayfs not available: {r.stderr}")
    try:
        assert sorted(os.listdir(os.path.join(mnt, "data"))) == sorted(
            ["keep", "opaque", "original", "hardlink", "setuid", "xattr", "fifo"])
        assert os.listdir(os.path.join(mnt, "data/opaque")) == ["new"]
        out = subprocess.run(["chroot", mnt, "/bin/sh", "-c", "echo hi from $(cat /etc/passwd "
                              "| head -1 | cut -d: -f1)"], capture_output=True, text=True)
        assert out.stdout.strip() == "hi from root", out.stderr
    finally:
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


def test_index_picks_linux_amd64(pb, registries, images):
    linux = registries.image()
    wins = [registries.image(os_name="windows", os_version=v)
            for v in ("10.0.17763.5000", "10.0.20348.2000", "10.0.26100.100")]
    arm = registries.image(arch="arm64")
    idx = registries.push_index("test/multi", "v1", R.Index(wins + [arm, linux]))
    ref = f"{registries.plain.host}/test/multi:v1"
    assert pull(images, pb, ref) == linux.id
    st = status(images, pb, ref).image
    assert list(st.repo_digests) == [f"{registries.plain.host}/test/multi@{idx.digest}"]


def test_index_without_host_platform(pb, registries, images, img_daemon):
    wins = [registries.image(os_name="windows", os_version="10.0.20348.1")]
    registries.push_index("test/winonly", "v1", R.Index(wins + [registries.image(arch="arm64")]))
    before = store_snapshot(img_daemon)
    e = pull_error(images, pb, f"{registries.plain.host}/test/winonly:v1")
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert "windows/amd64 10.0.20348.1" in e.details() and "linux/arm64" in e.details()
    assert store_snapshot(img_daemon) == before


def test_missing_image_and_bad_reference(pb, registries, images, img_daemon):
    before = store_snapshot(img_daemon)
    e = pull_error(images, pb, f"{registries.plain.host}/test/nothing:here")
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert "test/nothing" in e.details() and registries.plain.url in e.details()
    e = pull_error(images, pb, f"{registries.plain.host}/Test/UPPER:x")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid repository name" in e.details()
    e = pull_error(images, pb, "busybox@sha256:1234")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert store_snapshot(img_daemon) == before


def test_media_types(pb, registries, images):
    """Docker v2 manifest with docker layers, uncompressed and zstd OCI layers."""
    docker = R.Image([R.busybox_layer(R.DOCKER_LAYER),
                      R.Layer(R.TarBuilder().file("d", "docker").bytes(), R.DOCKER_LAYER)],
                     manifest_type=R.DOCKER_MANIFEST)
    registries.push("test/docker", "v2", docker)
    assert pull(images, pb, f"{registries.plain.host}/test/docker:v2") == docker.id
    mixed = R.Image([R.busybox_layer(R.OCI_LAYER_TAR),
                     R.Layer(R.TarBuilder().file("z", "zstd!").bytes(), R.OCI_LAYER_ZSTD)])
    registries.push("test/mixed", "v1", mixed)
    ref = f"{registries.plain.host}/test/mixed:v1"
    assert pull(images, pb, ref) == mixed.id
    dirs = json.loads(status(images, pb, ref, verbose=True).info["info"])["layerDirs"]
    with open(os.path.join(dirs[1], "z")) as f:
        assert f.read() == "zstd!"


MALICIOUS = {
    "dotdot": lambda t: t.file("../../../../tmp/wincri-escaped", "evil"),
    "symlink": lambda t: t.symlink("link", "/tmp").file("link/wincri-escaped", "evil"),
    "relsymlink": lambda t: t.dir("d").symlink("d/up", "../../../../../../tmp")
    .file("d/up/wincri-escaped", "evil"),
    "hardlink": lambda t: t.hardlink("pw", "../../../../etc/passwd"),
    "hardlink-abs": lambda t: t.hardlink("pw", "/etc/passwd"),
}


@pytest.mark.parametrize("kind", sorted(MALICIOUS))
def test_malicious_layer_refused(pb, registries, images, img_daemon, kind):
    t = R.TarBuilder().file("ok", "fine")
    MALICIOUS[kind](t)
    img = R.Image([registries.base, R.Layer(t.bytes())])
    registries.push("test/evil", kind, img)
    if os.path.exists("/tmp/wincri-escaped"):
        os.unlink("/tmp/wincri-escaped")
    before = store_snapshot(img_daemon)
    e = pull_error(images, pb, f"{registries.plain.host}/test/evil:{kind}")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.details()
    assert img.layers[1].digest in e.details()
    assert not os.path.exists("/tmp/wincri-escaped")
    assert store_snapshot(img_daemon) == before


def test_remove_collects_only_unshared(pb, registries, images, img_daemon):
    a = registries.push("test/gc", "a", registries.image())
    b = registries.push("test/gc", "b", registries.image())
    before = store_snapshot(img_daemon)
    pull(images, pb, f"{registries.plain.host}/test/gc:a")
    pull(images, pb, f"{registries.plain.host}/test/gc:b")
    base_blob = "blobs/sha256/" + registries.base.digest[7:]
    images.RemoveImage(pb.RemoveImageRequest(image=spec(pb, a.id)), timeout=30)
    snap = store_snapshot(img_daemon)
    assert base_blob in snap
    assert "blobs/sha256/" + a.layers[1].digest[7:] not in snap
    assert "blobs/sha256/" + b.layers[1].digest[7:] in snap
    images.RemoveImage(pb.RemoveImageRequest(image=spec(pb, f"{registries.plain.host}/test/gc:b")),
                       timeout=30)
    assert store_snapshot(img_daemon) - before == set()



def test_restart_drops_holds_no_container_owns(pb, registries, daemon_factory):
    """A container's release of its image is not synced, so a machine that goes down can lose
    it; the hold left behind (here written into the store while wincrid is stopped) names a
    container that does not exist, and the next start drops it: the layers go with the image
    instead of staying forever."""
    registries.push("test/stalehold", "v1", registries.image())
    d = daemon_factory()
    ref = f"{registries.plain.host}/test/stalehold:v1"
    image_id = pull(d.image(), pb, ref)
    dirs = json.loads(status(d.image(), pb, ref, verbose=True).info["info"])["layerDirs"]
    assert dirs and all(os.path.isdir(x) for x in dirs)
    d.stop()
    ghost = "f" * 64
    db = sqlite3.connect(os.path.join(d.root, "images", "images.db"))
    chains = [r[0] for r in db.execute("SELECT chain_id FROM image_layers WHERE image_id = ?",
                                       (image_id,))]
    db.executemany("INSERT INTO holds(holder, image_id, chain_id) VALUES(?, ?, ?)",
                   [(ghost, image_id, c) for c in chains])
    db.commit()
    db.close()
    d.start()
    assert f"dropped the hold of a container that no longer exists\" holder={ghost[:12]}" in d.log()
    d.image().RemoveImage(pb.RemoveImageRequest(image=spec(pb, ref)), timeout=30)
    assert not [x for x in dirs if os.path.exists(x)]
    db = sqlite3.connect(os.path.join(d.root, "images", "images.db"))
    assert db.execute("SELECT COUNT(*) FROM holds").fetchone()[0] == 0
    db.close()

def _du(path, *args):
    out = subprocess.run(["du", "-s", *args, path], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def test_image_fs_info_matches_du(pb, registries, images, img_daemon):
    registries.push("test/fsinfo", "v1", registries.image())
    pull(images, pb, f"{registries.plain.host}/test/fsinfo:v1")
    r = images.ImageFsInfo(pb.ImageFsInfoRequest(), timeout=30)
    fs = r.image_filesystems[0]
    top = os.path.join(img_daemon.root, "images")
    used, inodes = _du(top, "-B1"), _du(top, "--inodes")
    # the database's WAL may move a little between the two measurements
    assert abs(fs.used_bytes.value - used) <= 256 * 1024, (fs.used_bytes.value, used)
    assert abs(fs.inodes_used.value - inodes) <= 2, (fs.inodes_used.value, inodes)
    assert fs.fs_id.mountpoint and os.path.ismount(fs.fs_id.mountpoint)
    assert fs.timestamp > 0
    assert len(r.container_filesystems) == 1
    assert os.path.ismount(r.container_filesystems[0].fs_id.mountpoint)
