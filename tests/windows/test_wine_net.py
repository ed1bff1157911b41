"""Builds tests/windows/wine-net/wine_net.c with mingw-w64 and runs it under wine: the
vmcompute.dll / computestorage.dll / computenetwork.dll loaders must report a clear
"not available on this host" error when the DLLs are missing (wine has none of them).

Run with /usr/bin/python3 -m pytest -q tests/windows/test_wine_net.py (needs Debian's
gcc-mingw-w64-x86-64 and wine64)."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCES = [
    "tests/windows/wine-net/wine_net.c",
    "hns/hcn_win32.c",
    "hns/hcnerr.c",
    "hns/hcnguid.c",
    "image/wclayer_win32.c",
    "image/wclayer.c",
    "image/winlayer_win32.c",  # img_wl_restore_base (base layers), with its codec
    "image/winlayer_codec.c",
    "common/err.c",
    "common/wstr_win32.c",
    "common/dll_win32.c",
    "common/xalloc.c",
    "common/log.c",
    "common/clock.c",
    "common/clock_win32.c",
]
CC = "x86_64-w64-mingw32-gcc"


def _wine():
    for name in ("wine64", "wine"):
        path = shutil.which(name)
        if path:
            return path
    for path in ("/usr/lib/wine/wine64", "/usr/bin/wine"):
        if os.path.exists(path):
            return path
    return None


@pytest.fixture(scope="module")
def exe():
    if not shutil.which(CC):
        pytest.skip("x86_64-w64-mingw32-gcc is not installed (apt-get install gcc-mingw-w64-x86-64)")
    out = tempfile.mkdtemp(prefix="wincri-wine-net-")
    target = os.path.join(out, "wine_net.exe")
    cmd = [CC, "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
           "-D_WIN32_WINNT=0x0A00", "-I", ROOT, "-o", target]
    cmd += [os.path.join(ROOT, s) for s in SOURCES]
    cmd += ["-lole32", "-static", "-lpthread"]
    subprocess.run(cmd, check=True)
    yield target
    shutil.rmtree(out, ignore_errors=True)


def test_loaders_say_not_available_under_wine(exe):
    wine = _wine()
    if not wine:
        pytest.skip("wine is not installed (apt-get install wine64)")
    env = dict(os.environ)
    env.setdefault("WINEPREFIX", os.path.join(tempfile.gettempdir(), "wincri-wineprefix"))
    env["WINEDEBUG"] = "-all"
    env["WINEDLLOVERRIDES"] = "mscoree,mshtml="  # no Mono/Gecko install prompts
    proc = subprocess.run([wine, exe], env=env, capture_output=True, text=True, timeout=600)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    print(proc.stdout)
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1].strip())
    assert m, "last line must be 'N passed, N failed': %r" % lines[-1]
    assert int(m.group(2)) == 0, proc.stdout
    assert int(m.group(1)) >= 12
    assert proc.returncode == 0
