"""Build steps of the libcontainerd Python package: compile the Rust library with cargo
and bundle it in the package, as a platform wheel.

Metadata lives in pyproject.toml; this file only adds the steps setuptools has no
declaration for:

- ``build_py`` also runs ``cargo build --release --lib`` in the Rust crate and copies
  ``libcontainerd.so`` (its debug info stripped) into the package;
- ``bdist_wheel`` tags the wheel for the platform (``py3-none-linux_x86_64``): the
  package holds a native library but no Python extension, so any Python 3 will do;
- ``sdist`` carries the Rust crate (Cargo.toml, Cargo.lock, src/, include/, ...) in
  ``rust/``, so that the sdist builds from source on its own.

The crate is ``rust/`` when it exists (an unpacked sdist), else the repository root two
directories up (a checkout). Environment: ``CARGO`` (the cargo to run, default
``cargo``), ``LIBCONTAINERD_BUILD_LIB`` (bundle this already built library instead of
running cargo). Building needs a Rust toolchain and ``protoc`` (protobuf-compiler).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
LIBRARY = "libcontainerd.so"
#: What the sdist carries of the crate (relative to its root).
CRATE_FILES = ["Cargo.toml", "Cargo.lock", "cbindgen.toml", "LICENSE", "bench/lcd_bench.rs"]
CRATE_DIRS = ["src", "include"]


def crate_dir() -> Path:
    """The Rust crate to build: ``rust/`` of an sdist, else the checkout's root."""
    for candidate in (HERE / "rust", HERE.parent.parent):
        if (candidate / "Cargo.toml").is_file() and (candidate / "src" / "ffi").is_dir():
            return candidate
    raise SystemExit(
        "libcontainerd: the Rust sources are missing (expected rust/ in an sdist, or the "
        "repository two directories above bindings/python)"
    )


def build_library() -> Path:
    """Builds the shared library (or takes $LIBCONTAINERD_BUILD_LIB) and returns its path."""
    prebuilt = os.environ.get("LIBCONTAINERD_BUILD_LIB")
    if prebuilt:
        return Path(prebuilt)
    crate = crate_dir()
    cargo = os.environ.get("CARGO", "cargo")
    cmd = [cargo, "build", "--release", "--lib", "--locked", "--manifest-path", str(crate / "Cargo.toml")]
    print("building the libcontainerd library:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or crate / "target")
    if not target.is_absolute():
        target = crate / target
    return target / "release" / LIBRARY


def copy_stripped(src: Path, dst: Path) -> None:
    """Copies the library without its debug info (objcopy), or as is without objcopy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    objcopy = shutil.which("objcopy")
    if objcopy:
        subprocess.run([objcopy, "--strip-debug", str(src), str(dst)], check=True)
    else:
        shutil.copyfile(src, dst)
    dst.chmod(0o755)


class BuildPyWithLibrary(build_py):
    """build_py, plus the library inside the package."""

    def run(self) -> None:
        super().run()
        lib = build_library()
        if not lib.is_file():
            raise SystemExit(f"libcontainerd: the build did not produce {lib}")
        copy_stripped(lib, Path(self.build_lib) / "libcontainerd" / LIBRARY)


class PlatformWheel(bdist_wheel):
    """A wheel for this platform and any Python 3 (``py3-none-<platform>``)."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple[str, str, str]:
        plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        return "py3", "none", plat


class SdistWithCrate(sdist):
    """sdist, plus the Rust crate in ``rust/`` (and the license)."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        crate = crate_dir()
        dest = Path(base_dir) / "rust"
        for name in CRATE_FILES:
            if (crate / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(crate / name, dest / name)
        for name in CRATE_DIRS:
            shutil.copytree(crate / name, dest / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if (crate / "LICENSE").is_file():
            shutil.copy2(crate / "LICENSE", Path(base_dir) / "LICENSE")


setup(cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel, "sdist": SdistWithCrate})
