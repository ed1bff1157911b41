"""Registries that misbehave: a wrong digest, a truncated blob, HTTP 500, a stalled transfer,
a missing manifest. Each gives a clear error with the right code and leaves the store as it
was; a stalled pull does not block other RPCs."""
import threading
import time

import grpc
import pytest

import registry as R
from conftest_images import (bad_registry, images, img_daemon, pull, pull_error,  # noqa: F401
                             store_snapshot)


def _setup(bad, repo, mode):
    img = R.simple_image()
    bad.add(repo, "v1", img)
    victim = img.layers[1].digest
    bad.modes[victim] = mode
    return img, victim


@pytest.mark.parametrize("mode,code,words", [
    ("corrupt", grpc.StatusCode.DATA_LOSS, "digest mismatch"),
    ("truncate", grpc.StatusCode.UNAVAILABLE, "truncated"),
    ("500", grpc.StatusCode.UNAVAILABLE, "HTTP 500"),
    ("404", grpc.StatusCode.NOT_FOUND, "not found"),
])
def test_bad_blob(pb, bad_registry, images, img_daemon, mode, code, words):
    img, victim = _setup(bad_registry, "bad/app", mode)
    before = store_snapshot(img_daemon)
    e = pull_error(images, pb, f"{bad_registry.host}/bad/app:v1")
    assert e.code() == code, e.details()
    assert words in e.details()
    assert victim in e.details() and f"http://{bad_registry.host}" in e.details()
    assert store_snapshot(img_daemon) == before


def test_corrupt_config(pb, bad_registry, images, img_daemon):
    img = R.simple_image()
    bad_registry.add("bad/cfg", "v1", img)
    bad_registry.modes[img.config_digest] = "corrupt"
    before = store_snapshot(img_daemon)
    e = pull_error(images, pb, f"{bad_registry.host}/bad/cfg:v1")
    assert e.code() == grpc.StatusCode.DATA_LOSS
    assert img.config_digest in e.details()
    assert store_snapshot(img_daemon) == before


def test_missing_manifest(pb, bad_registry, images):
    e = pull_error(images, pb, f"{bad_registry.host}/bad/none:v1")
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert "MANIFEST_UNKNOWN" in e.details()


def test_unreachable_registry(pb, images):
    e = pull_error(images, pb, f"127.0.0.1:{R.free_port()}/x/y:z")
    assert e.code() == grpc.StatusCode.UNAVAILABLE


def test_stall_times_out_and_does_not_block(pb, bad_registry, images, img_daemon):
    img, victim = _setup(bad_registry, "bad/stall", "stall")
    before = store_snapshot(img_daemon)
    result = {}

    def run():
        t = time.time()
        try:
            pull(images, pb, f"{bad_registry.host}/bad/stall:v1", timeout=4)
        except grpc.RpcError as e:
            result["code"] = e.code()
        result["secs"] = time.time() - t

    th = threading.Thread(target=run)
    th.start()
    time.sleep(1.0)
    # other RPCs answer while the pull hangs
    t = time.time()
    images.ListImages(pb.ListImagesRequest(), timeout=5)
    images.ImageFsInfo(pb.ImageFsInfoRequest(), timeout=5)
    assert time.time() - t < 2
    th.join(30)
    assert result["code"] == grpc.StatusCode.DEADLINE_EXCEEDED
    assert result["secs"] < 10
    # the daemon notices the deadline, gives up the transfer and cleans up
    deadline = time.time() + 10
    while time.time() < deadline and store_snapshot(img_daemon) != before:
        time.sleep(0.2)
    assert store_snapshot(img_daemon) == before
    assert "deadline exceeded" in img_daemon.log()
