"""The Windows pull path on the simulated host (issue 18): concurrent pulls of one image fetch,
parse and import each layer once; importing layer N+1 overlaps the download of layer N+2;
a pull that is cancelled does not spoil the others.

Blobs go through a proxy in front of the session's registry (tests/e2e/registry.py
CountingProxy) that counts each blob GET, records when it started and finished sending, and
serves chosen blobs slowly. Imports are read from the host's journal (ProcessBaseImage for
the base layer, ImportLayer for the others), whose t0/t1 share the wall clock with the
proxy's timestamps. Each test starts its own wincrid.exe on an empty root."""
import os
import threading
import time

import grpc
import pytest

import registry as R
from winsim import PB, SimHost, WinCrid, WinTar, calls, chain_hex, windows_image
import winsim

pytestmark = pytest.mark.own_daemon

CHUNK = 64 * 1024  # what the proxy writes between two sleeps


@pytest.fixture
def proxy(registry):
    p = R.CountingProxy(registry.host)
    yield p
    p.stop()


@pytest.fixture
def fresh(host, proxy):
    """A wincrid.exe of its own (nothing in its image store) that pulls through the proxy."""
    d = WinCrid(host, proxy.host, subnet_index=7).start()
    yield d
    d.kill()


def data_layer(i, size):
    """A Windows layer carrying `size` random bytes (gzip cannot shrink them, so the blob is
    as big as the data and its transfer time is what the proxy makes it)."""
    t = WinTar().dir("Files/data")
    t.file(f"Files/data/blob{i}.bin", os.urandom(size))
    return R.Layer(t.bytes(), R.OCI_LAYER_GZIP)


def big_image(n_data_layers, size):
    img = windows_image(cmd=["C:\\app\\ctr.exe", "run"])
    layers = [img.layers[0]] + [data_layer(i, size) for i in range(n_data_layers)]
    return R.Image(layers, os_name="windows", os_version=winsim.IMAGE_OS_VERSION,
                   extra_config={"config": {"Cmd": ["C:\\app\\ctr.exe", "run"],
                                            "WorkingDir": "C:\\app"}})


def imports(entries, img):
    """The import calls per layer index: ProcessBaseImage for the base, ImportLayer above."""
    hexes = chain_hex(img)
    got = {i: [] for i in range(len(hexes))}
    for e in calls(entries, "ProcessBaseImage") + calls(entries, "ImportLayer"):
        name = e["id"].rstrip("\\").rsplit("\\", 1)[-1]
        if name in hexes:
            got[hexes.index(name)].append(e)
    return got


def pull(d, ref, timeout=300):
    return d.image().PullImage(PB.PullImageRequest(image=PB.ImageSpec(image=ref)),
                               timeout=timeout).image_ref


def pull_concurrently(d, refs, timeouts=None, after=None):
    """Pulls from threads released together (pull i `after[i]` seconds later); returns
    (results, errors, spans) by index, spans being each call's (start, end) wall-clock
    times."""
    results, errors, spans = {}, {}, {}
    gate = threading.Barrier(len(refs))

    def one(i, ref):
        gate.wait()
        time.sleep((after or {}).get(i, 0))
        t0 = time.time()
        try:
            results[i] = pull(d, ref, (timeouts or {}).get(i, 300))
        except grpc.RpcError as e:
            errors[i] = e
        spans[i] = (t0, time.time())

    threads = [threading.Thread(target=one, args=(i, r)) for i, r in enumerate(refs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(400)
    return results, errors, spans


def verified_lines(d, digest):
    """'layer verified' lines for a blob: one per time a pull hashed (so parsed) the layer."""
    return [ln for ln in d.log().splitlines()
            if "layer verified" in ln and f"blob={digest}" in ln]


def test_concurrent_pulls_fetch_parse_and_import_each_layer_once(host, registry, proxy, fresh):
    img = big_image(3, 3 << 20)
    registry.push("winsim/pull-conc", "v1", img)
    for l in img.layers:
        proxy.delays[l.digest] = 0.01  # about 0.5 s a layer: the three pulls surely meet
    ref = f"{proxy.host}/winsim/pull-conc:v1"
    mark = host.mark()
    results, errors, spans = pull_concurrently(fresh, [ref] * 3)
    assert not errors, {i: e.details() for i, e in errors.items()}
    assert sorted(results) == [0, 1, 2] and len(set(results.values())) == 1, results
    # the three calls were in flight at the same time
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values()), spans
    status = fresh.image().ImageStatus(PB.ImageStatusRequest(image=PB.ImageSpec(image=ref)),
                                       timeout=60)
    assert status.image.id == results[0] == img.id
    gets = proxy.blob_gets()
    for d in list(img.blobs()):
        assert gets.get(f"/v2/winsim/pull-conc/blobs/{d}") == 1, (d, gets)
    per_layer = imports(host.journal(mark), img)
    assert {i: len(v) for i, v in per_layer.items()} == {i: 1 for i in per_layer}, per_layer
    for l in img.layers:
        assert len(verified_lines(fresh, l.digest)) == 1, (l.digest, "parsed more than once")


@pytest.mark.parametrize("downloads", [4, 1])
def test_import_of_a_layer_overlaps_the_download_of_the_next_but_one(host, registry, proxy,
                                                                     downloads):
    """With 4 downloads at a time (the default) blob k is served so that it ends about
    (k+1) x 0.8 s after the pull starts; with 1 at a time each takes about 0.8 s; each
    ImportLayer takes 0.4 s. Either way the import of layer N+1 and the download of layer N+2
    must overlap: a pull that imported only after every download would begin importing N+1
    after N+2 had arrived, one that stopped downloading while it imported would begin
    downloading N+2 after N+1's import ended, and either fails here."""
    img = big_image(4, 2 << 20)
    repo = f"winsim/pull-pipe{downloads}"
    registry.push(repo, "v1", img)
    for k, l in enumerate(img.layers):
        chunks = max(1, len(l.blob) // CHUNK)
        proxy.delays[l.digest] = 0.8 * (k + 1 if downloads > 1 else 1) / chunks
    # a host whose ImportLayer takes 0.4 s, as a real one takes its time: the overlap is
    # then far longer than the scheduling noise
    slow = SimHost.sibling(host, fail="ImportLayer=delay:400")
    d = WinCrid(slow, proxy.host, subnet_index=7,
                extra={"images": {"max_concurrent_downloads": downloads}}).start()
    try:
        assert pull(d, f"{proxy.host}/{repo}:v1") == img.id
    finally:
        d.kill()
        slow.stop()
    per_layer = imports(slow.journal(), img)
    assert all(len(v) == 1 for v in per_layer.values()), per_layer
    gets = {d: (start, end) for d, start, end in proxy.timeline}
    imps = [(per_layer[i][0]["t0"], per_layer[i][0]["t1"]) for i in range(len(img.layers))]
    assert imps == sorted(imps), "imports out of layer order"
    # import N+1 and download N+2 overlap: each began before the other ended
    report = []
    for n in range(len(img.layers) - 2):
        (i0, i1), (g0, g1) = imps[n + 1], gets[img.layers[n + 2].digest]
        report.append(f"layer {n + 1} import {i0 - g1:+.2f} s from the end of layer {n + 2}'s "
                      f"download, which began {g0 - i1:+.2f} s from the import's end")
    print("\n".join(report))
    for n in range(len(img.layers) - 2):
        (i0, i1), (g0, g1) = imps[n + 1], gets[img.layers[n + 2].digest]
        assert i0 < g1 and g0 < i1, "\n".join(report)


def test_a_cancelled_pull_does_not_spoil_the_others(host, registry, proxy, fresh):
    """Pull 0 gives up (its deadline) while it owns the downloads; pull 1 of the same image
    takes over what pull 0 left and succeeds, and every layer is still imported once."""
    img = big_image(2, 2 << 20)
    registry.push("winsim/pull-cancel", "v1", img)
    for l in img.layers:
        proxy.delays[l.digest] = 0.05  # about 1.6 s a data layer
    ref = f"{proxy.host}/winsim/pull-cancel:v1"
    mark = host.mark()
    results, errors, _ = pull_concurrently(fresh, [ref, ref], timeouts={0: 1.0, 1: 300},
                                           after={1: 0.3})
    assert 0 in errors and errors[0].code() in (grpc.StatusCode.DEADLINE_EXCEEDED,
                                                grpc.StatusCode.CANCELLED), errors
    assert 1 not in errors, errors[1].details()
    assert results[1] == img.id
    # pull 1 redid what pull 0 had under way: a data layer's blob was fetched by both
    gets = proxy.blob_gets()
    refetched = [l for l in img.layers[1:]
                 if gets.get(f"/v2/winsim/pull-cancel/blobs/{l.digest}") == 2]
    assert refetched, gets
    per_layer = imports(host.journal(mark), img)
    assert {i: len(v) for i, v in per_layer.items()} == {i: 1 for i in per_layer}, per_layer
    # the image works: it can be pulled again without a transfer
    before = sum(proxy.blob_gets().values())
    assert pull(fresh, ref) == img.id
    assert sum(proxy.blob_gets().values()) == before
