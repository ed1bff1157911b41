"""Concurrent pulls: of one image, and of images sharing layers. Every blob crosses the
network once (counted by a proxy in front of the registry); the later pulls wait for it."""
import threading

import pytest

import registry as R
from conftest_images import images, img_daemon, pull, registries, status  # noqa: F401


@pytest.fixture
def proxy(registries):
    p = R.CountingProxy(registries.plain.host, blob_delay=0.02)
    yield p
    p.stop()


def _pull_all(stub, pb, refs):
    results, errors = {}, []

    def one(i, ref):
        try:
            results[i] = pull(stub, pb, ref)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i, r)) for i, r in enumerate(refs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return [results[i] for i in range(len(refs))]


def test_concurrent_pulls_of_one_image_fetch_each_blob_once(pb, registries, proxy, images):
    img = registries.push("conc/same", "v1", registries.image())
    ref = f"{proxy.host}/conc/same:v1"
    ids = _pull_all(images, pb, [ref] * 4)
    assert ids == [img.id] * 4
    gets = proxy.blob_gets()
    want = {f"/v2/conc/same/blobs/{d}" for d in img.blobs()}
    assert set(gets) == want
    assert all(n == 1 for n in gets.values()), gets


def test_concurrent_pulls_sharing_layers(pb, registries, proxy, images):
    import os
    shared = R.Layer(R.TarBuilder().file("shared.bin", os.urandom(2 << 20)).bytes())
    tops = [R.Layer(R.TarBuilder().file("top", os.urandom(16)).bytes()) for _ in range(2)]
    a = registries.push("conc/a", "v1", R.Image([registries.base, shared, tops[0]]))
    b = registries.push("conc/b", "v1", R.Image([registries.base, shared, tops[1]]))
    ids = _pull_all(images, pb, [f"{proxy.host}/conc/a:v1", f"{proxy.host}/conc/b:v1"])
    assert ids == [a.id, b.id]
    gets = proxy.blob_gets()
    assert sum(n for p, n in gets.items() if p.endswith(shared.digest)) == 1, gets
    for img, repo in ((a, "conc/a"), (b, "conc/b")):
        assert gets[f"/v2/{repo}/blobs/{img.layers[2].digest}"] == 1
        assert gets[f"/v2/{repo}/blobs/{img.config_digest}"] == 1
    # both images are whole
    for img, repo in ((a, "conc/a"), (b, "conc/b")):
        assert status(images, pb, f"{proxy.host}/{repo}:v1").image.id == img.id
