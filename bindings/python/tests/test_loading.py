"""Finding the library: $LIBCONTAINERD_LIB, the copy bundled in the package, the
system's; a library with another ABI version is refused with a clear message.
Each case runs in a fresh interpreter, since a process loads the library once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

import libcontainerd as lcd

PACKAGE_DIR = Path(lcd.__file__).resolve().parent
PROBE = "import libcontainerd as l; print(l.library_path()); print(l.library_version())"


def run_python(code: str, env_lib: Optional[str], pythonpath: Optional[str] = None) -> subprocess.CompletedProcess[str]:
    env: Dict[str, str] = {k: v for k, v in os.environ.items() if k != "LIBCONTAINERD_LIB"}
    if env_lib is not None:
        env["LIBCONTAINERD_LIB"] = env_lib
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd="/"
    )


def test_library_version_and_path() -> None:
    assert lcd.library_version()
    assert os.path.isfile(lcd.library_path()) or "/" not in lcd.library_path()
    assert lcd.ABI_VERSION == 2


def test_env_var_names_the_library() -> None:
    lib = lcd.library_path()
    r = run_python(PROBE, lib)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == lib


def test_missing_library_is_a_clear_error() -> None:
    r = run_python(PROBE, "/nonexistent/libcontainerd.so")
    assert r.returncode != 0
    assert "LibraryNotFound" in r.stderr
    assert "/nonexistent/libcontainerd.so" in r.stderr and "LIBCONTAINERD_LIB" in r.stderr


def test_package_directory_comes_before_the_repository(tmp_path: Path) -> None:
    pkg = tmp_path / "site" / "libcontainerd"
    shutil.copytree(PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(lcd.library_path(), pkg / "libcontainerd.so")
    r = run_python(PROBE, None, str(tmp_path / "site"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == str(pkg / "libcontainerd.so")


def test_system_library_is_found_without_a_bundled_copy(tmp_path: Path) -> None:
    pkg = tmp_path / "site" / "libcontainerd"
    shutil.copytree(PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    libdir = tmp_path / "lib"
    libdir.mkdir()
    shutil.copy(lcd.library_path(), libdir / "libcontainerd.so")
    env: Dict[str, str] = {k: v for k, v in os.environ.items() if k != "LIBCONTAINERD_LIB"}
    env["PYTHONPATH"] = str(tmp_path / "site")
    env["LD_LIBRARY_PATH"] = str(libdir)
    r = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60, cwd="/"
    )
    assert r.returncode == 0, r.stderr
    loaded = r.stdout.splitlines()[0]
    assert not loaded.startswith(str(pkg)), loaded
    assert "libcontainerd" in loaded


def test_abi_mismatch_is_refused(tmp_path: Path) -> None:
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "other.c"
    src.write_text(
        "#include <stdint.h>\n"
        "uint32_t lcd_abi_version(void) { return 999; }\n"
        "const char *lcd_version(void) { return \"9.9.9\"; }\n"
    )
    so = tmp_path / "libother.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(so), str(src)], check=True, timeout=60)
    r = run_python(PROBE, str(so))
    assert r.returncode != 0
    assert "AbiMismatch" in r.stderr
    assert "C ABI version 999" in r.stderr and "needs version 2" in r.stderr, r.stderr
    assert str(so) in r.stderr
