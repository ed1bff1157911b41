"""Builds tests/windows/wine-front/wine_front.c with the Windows front (cri/front.c,
cri/front_win32.c) using mingw-w64 and runs it under wine: the named-pipe front must create
\\\\.\\pipe\\<name> with a DACL for SYSTEM and Administrators only, relay bytes both ways to a
local TCP listener standing in for gRPC core, register each relay's local port for the peer
check (and drop it at close), serve several clients at once, carry both close directions,
stop accepting and free as on Linux; a tcp:// endpoint must relay the same way.
A second program (wine_cni.c) runs a fake CNI plugin through hns/cni_exec_win32.c: env,
stdin, stdout/stderr, exit code, a missing plugin, the deadline.

Needs Debian's gcc-mingw-w64-x86-64 and wine64 (run as `wine`). Run with
/usr/bin/python3 -m pytest -q tests/windows/test_wine_front.py
"""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
CC = "x86_64-w64-mingw32-gcc"
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wno-unused-parameter", "-I.",
          "-D_WIN32_WINNT=0x0A00", "-D__USE_MINGW_ANSI_STDIO=1", "-O1"]
SOURCES = ["tests/windows/wine-front/wine_front.c", "cri/front.c", "cri/front_win32.c",
           "common/log.c", "common/clock.c", "common/clock_win32.c", "common/wstr_win32.c", "common/xalloc.c"]
LIBS = ["-static", "-lws2_32", "-ladvapi32", "-lpthread"]


@pytest.fixture(scope="module")
def wine():
    exe = shutil.which("wine") or shutil.which("wine64")
    if not exe:
        pytest.skip("wine is not installed (Debian package wine64)")
    if not shutil.which(CC):
        pytest.fail(f"{CC} is missing (Debian package gcc-mingw-w64-x86-64)")
    return exe


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    out = tmp_path_factory.mktemp("winefront")
    # common/err.c belongs to the shared error module; built as-is for the target.
    subprocess.run([CC, *CFLAGS, "-Wno-error", "-c", "common/err.c", "-o", str(out / "err.o")],
                   cwd=REPO, check=True)
    exe = out / "wine_front.exe"
    subprocess.run([CC, *CFLAGS, "-o", str(exe), *SOURCES, str(out / "err.o"), *LIBS],
                   cwd=REPO, check=True)
    return exe


def test_named_pipe_front_relays_under_wine(wine, program, tmp_path):
    env = dict(os.environ, WINEDEBUG="-all", WINEPREFIX=str(tmp_path / "prefix"),
               WINEDLLOVERRIDES="mscoree,mshtml=")
    run = subprocess.run([wine, str(program)], env=env, capture_output=True, text=True,
                         timeout=600)
    print(run.stdout)
    lines = [l for l in run.stdout.splitlines() if l.strip()]
    assert lines, f"no output; stderr:\n{run.stderr}"
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1])
    assert m, f"last line is not the summary: {lines[-1]!r}"
    failures = [l for l in lines if l.startswith("not ok")]
    assert int(m.group(2)) == 0 and not failures, "\n".join(failures)
    assert int(m.group(1)) >= 20
    assert run.returncode == 0


CNI_SOURCES = ["tests/windows/wine-front/wine_cni.c", "hns/cni_exec_win32.c",
               "common/wstr_win32.c", "common/xalloc.c", "common/log.c", "common/clock.c",
               "common/clock_win32.c"]


@pytest.fixture(scope="module")
def cni_program(tmp_path_factory):
    """wine_cni.exe and a bin dir with the fake plugin as fake.exe and slow.exe."""
    out = tmp_path_factory.mktemp("winecni")
    subprocess.run([CC, *CFLAGS, "-Wno-error", "-c", "common/err.c", "-o", str(out / "err.o")],
                   cwd=REPO, check=True)
    bindir = out / "bin"
    bindir.mkdir()
    subprocess.run([CC, *CFLAGS, "-o", str(bindir / "fake.exe"),
                    "tests/windows/wine-front/fake_cni.c"], cwd=REPO, check=True)
    shutil.copy(bindir / "fake.exe", bindir / "slow.exe")
    exe = out / "wine_cni.exe"
    # hns/cni_int.h includes jansson.h for its types only; the header shim provides it.
    inc = REPO / "build" / "win" / "include"
    if not (inc / "jansson.h").exists():
        subprocess.run(["make", "build/win/include/.stamp"], cwd=REPO, check=True)
    subprocess.run([CC, *CFLAGS, "-I", str(inc), "-o", str(exe), *CNI_SOURCES,
                    str(out / "err.o"), "-static", "-lpthread"], cwd=REPO, check=True)
    return exe, bindir


def test_cni_plugin_exec_under_wine(wine, cni_program, tmp_path):
    exe, bindir = cni_program
    env = dict(os.environ, WINEDEBUG="-all", WINEPREFIX=str(tmp_path / "prefix"),
               WINEDLLOVERRIDES="mscoree,mshtml=")
    # wine maps the Unix root to drive Z:.
    windir = "Z:" + str(bindir).replace("/", "\\")
    run = subprocess.run([wine, str(exe), windir], env=env, capture_output=True, text=True,
                         timeout=600)
    print(run.stdout)
    lines = [l for l in run.stdout.splitlines() if l.strip()]
    assert lines, f"no output; stderr:\n{run.stderr}"
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1])
    assert m, f"last line is not the summary: {lines[-1]!r}"
    assert int(m.group(2)) == 0, run.stdout
    assert int(m.group(1)) >= 10
    assert run.returncode == 0
