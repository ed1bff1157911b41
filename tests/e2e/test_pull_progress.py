"""Long pulls say how far they are: a pull from a registry that serves its blobs slowly logs a
progress line at info level every images.progress_interval_seconds (bytes done of the total,
layers done of the total, the rate) and one summary line at the end."""
import registry as R
from conftest_images import bad_registry, pull  # noqa: F401  (fixture)
from logparse import lines, seconds


def _fraction(text):
    done, total = text.split("/")
    return int(done), int(total)


def test_slow_pull_logs_steady_progress(pb, daemon_factory, bad_registry):  # noqa: F811
    d = daemon_factory({"images": {"progress_interval_seconds": 1}, "log_level": "info"})
    img = R.simple_image()
    bad_registry.add("slow/app", "v1", img)
    for layer in img.layers:
        bad_registry.modes[layer.digest] = "slow"  # 32 KiB every 0.1 s: about 3 s for busybox
    ref = f"{bad_registry.host}/slow/app:v1"
    pull(d.image(), pb, ref)
    log = d.log()

    total = sum(len(layer.blob) for layer in img.layers)
    progress = lines(log, "pull progress", image=ref)
    assert len(progress) >= 2, log[-4000:]
    done = []
    for p in progress:
        assert p["level"] == "info" and p["component"] == "image"
        b_done, b_total = _fraction(p["bytes"])
        l_done, l_total = _fraction(p["layers"])
        assert b_total == total and l_total == 2 and 0 <= l_done <= 2
        assert 0 < b_done <= total
        assert float(p["bytes_per_second"]) > 0, p
        done.append(b_done)
    assert done == sorted(done) and done[0] < done[-1], done
    # A steady rate: one line per interval from the start of the transfer, whatever happens
    # in between (a layer finishing wakes the waiting thread without resetting the clock).
    times = [seconds(p["time"]) for p in progress]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(0.8 <= g <= 2.0 for g in gaps), gaps

    summary = lines(log, "pull done", image=ref)
    assert len(summary) == 1, log[-4000:]
    s = summary[0]
    assert s["level"] == "info" and s["id"] == img.config_digest and s["layers"] == "2"
    # bytes: everything received from the registry, layer blobs and the config blob.
    assert int(s["bytes"]) == total + len(img.config)
    assert int(s["size"]) == total
    assert float(s["seconds"]) >= 2 and float(s["bytes_per_second"]) > 0


def test_quick_pull_has_only_the_summary(pb, daemon_factory, bad_registry):  # noqa: F811
    d = daemon_factory({"images": {"progress_interval_seconds": 5}, "log_level": "info"})
    img = R.simple_image()
    bad_registry.add("quick/app", "v1", img)
    ref = f"{bad_registry.host}/quick/app:v1"
    pull(d.image(), pb, ref)
    assert not lines(d.log(), "pull progress", image=ref)
    assert len(lines(d.log(), "pull done", image=ref)) == 1
