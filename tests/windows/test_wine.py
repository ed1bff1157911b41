"""Builds the hcs/ Windows unit test program with mingw-w64 and runs it under wine.

tests/windows/wine/hcs_wine_test.c covers what runs without a Host Compute Service: the
computecore.dll loader's report when the DLL is missing (it is, under wine), HRESULT
names and messages, argv quoting read back by CommandLineToArgvW, UTF-8 <-> UTF-16 of
documents, and path joins checked against PathCchCombineEx. It needs no cross-built
library (no jansson, no gRPC).

Needs Debian's gcc-mingw-w64-x86-64 and wine64 (run as `wine`). Run with
/usr/bin/python3 -m pytest tests/windows/test_wine.py
"""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
CC = "x86_64-w64-mingw32-gcc"
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-I.", "-D_WIN32_WINNT=0x0A00",
          "-O1"]
SOURCES = ["tests/windows/wine/hcs_wine_test.c", "hcs/winstr.c", "common/wstr_win32.c",
           "hcs/hresult.c", "hcs/hcs_load_win32.c", "common/dll_win32.c",
           "common/xalloc.c", "common/log.c", "common/clock.c", "common/clock_win32.c"]


@pytest.fixture(scope="module")
def wine():
    exe = shutil.which("wine") or shutil.which("wine64")
    if not exe:
        pytest.skip("wine is not installed (Debian package wine64); the Windows unit tests "
                    "cannot run")
    if not shutil.which(CC):
        pytest.fail(f"{CC} is missing (Debian package gcc-mingw-w64-x86-64)")
    return exe


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    out = tmp_path_factory.mktemp("hcswine")
    # common/err.c belongs to the shared error module; built as-is for the target.
    subprocess.run([CC, *CFLAGS, "-Wno-error", "-c", "common/err.c", "-o", str(out / "err.o")],
                   cwd=REPO, check=True)
    exe = out / "hcs_wine_test.exe"
    subprocess.run([CC, *CFLAGS, "-o", str(exe), *SOURCES, str(out / "err.o"), "-lshell32",
                    "-lpathcch", "-static", "-lpthread"], cwd=REPO, check=True)
    return exe


def test_hcs_windows_units_under_wine(wine, program, tmp_path):
    env = dict(os.environ, WINEDEBUG="-all", WINEPREFIX=str(tmp_path / "prefix"),
               WINEDLLOVERRIDES="mscoree,mshtml=")
    run = subprocess.run([wine, str(program)], env=env, capture_output=True, text=True,
                         timeout=600)
    print(run.stdout)
    lines = [l for l in run.stdout.splitlines() if l.strip()]
    assert lines, f"no output; stderr:\n{run.stderr}"
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1])
    assert m, f"last line is not the summary: {lines[-1]!r}"
    failures = [l for l in lines if l.startswith("FAIL")]
    assert int(m.group(2)) == 0 and not failures, "\n".join(failures)
    assert int(m.group(1)) >= 30
    assert run.returncode == 0
