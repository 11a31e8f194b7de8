"""Typed shapes (libcontainerd.types): ``mypy --strict`` accepts a correct program
and reports every mistake of one with wrongly typed spec, process, resources and
stats keys (typecheck/). Also: IoError is an OSError, with the errno."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Set

import pytest

import libcontainerd as lcd
from conftest import make_state_dir, remove_state_dir

HERE = Path(__file__).resolve().parent
TYPECHECK = HERE.parent / "typecheck"


def mypy(path: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict path`` against the package's sources; mypy is required."""
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.fail("mypy is not installed: pip install mypy (the typed shapes are checked with it)")
    cache = os.path.join(os.environ.get("LCD_TEST_TMPDIR") or "/tmp", f"mypy-cache-{os.getuid()}")
    env = dict(os.environ, MYPYPATH=str(HERE.parent / "src"))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", cache, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def marked_lines(path: Path) -> Set[int]:
    """The line numbers marked with a ``# mistake:`` comment."""
    return {i for i, line in enumerate(path.read_text().splitlines(), 1) if "  # mistake:" in line}


def test_mypy_accepts_a_correctly_typed_program() -> None:
    r = mypy(TYPECHECK / "good_spec.py")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_rejects_each_wrongly_typed_key() -> None:
    path = TYPECHECK / "bad_spec.py"
    r = mypy(path)
    assert r.returncode == 1, r.stdout + r.stderr
    reported = {int(m.group(1)) for m in re.finditer(r"^\S*bad_spec\.py:(\d+): error:", r.stdout, re.M)}
    assert reported == marked_lines(path), r.stdout


def test_io_error_is_an_os_error() -> None:
    e = lcd.IoError("opening /x/y: No such file or directory (os error 2)")
    assert isinstance(e, OSError) and isinstance(e, lcd.LibcontainerdError)
    assert (e.errno, e.code, e.message) == (2, 8, "opening /x/y: No such file or directory (os error 2)")
    assert str(e) == "IO: opening /x/y: No such file or directory (os error 2)"
    assert lcd.IoError("no errno here").errno is None
    assert issubclass(lcd.error_class(8), OSError)
    # A real one: a state directory below a regular file.
    d = make_state_dir()
    try:
        blocker = os.path.join(d, "file")
        open(blocker, "w").close()
        with pytest.raises(OSError) as raised:
            lcd.Remote(state_dir=os.path.join(blocker, "state"))
        assert isinstance(raised.value, lcd.IoError)
        assert raised.value.errno == errno.ENOTDIR, raised.value
    finally:
        remove_state_dir(d)
