"""Images through the binding: pull from the shared test registry fixture
(``scripts/test-registry.sh``) with progress, list, remove, import, and errors."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from typing import Iterator, List, Tuple

import pytest

import libcontainerd as lcd
from conftest import REPO, rootfs, temp_parent

SCRIPT = str(REPO / "scripts" / "test-registry.sh")


@pytest.fixture(scope="module")
def registry() -> Iterator[Tuple[str, str]]:
    """A seeded registry: (address, fixture directory)."""
    d = tempfile.mkdtemp(prefix="lcd-pyreg-", dir=temp_parent())
    env = {"LCD_TEST_ROOTFS": rootfs(), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    addr = subprocess.run([SCRIPT, "seed", d], check=True, capture_output=True, text=True, env=env).stdout.strip()
    try:
        yield addr, d
    finally:
        subprocess.run([SCRIPT, "stop", d], check=False)
        subprocess.run(["rm", "-rf", d], check=False)


def test_pull_with_progress_list_and_remove(remote: lcd.Remote, registry: Tuple[str, str]) -> None:
    addr, _ = registry
    ref = f"{addr}/test/busybox:latest"
    seen: List[Tuple[lcd.PullProgress, str]] = []
    image = remote.pull(
        ref, plain_http=[addr], unpack=False,
        progress=lambda p: seen.append((p, threading.current_thread().name)),
    )
    assert image.name == ref
    assert image.platform == "linux/amd64"
    assert image.config.working_dir == "/data"
    assert image.config.entrypoint == ["/bin/sh"]
    assert seen and seen[0][0].status == "resolving"
    assert {p.status for p, _ in seen} >= {"waiting", "downloading", "verifying", "done"}
    assert all(t != threading.main_thread().name for _, t in seen)
    assert ref in [i.name for i in remote.images()]
    remote.remove_image(ref)
    assert ref not in [i.name for i in remote.images()]
    with pytest.raises(lcd.NotFound):
        remote.remove_image(ref)
    # The option reaches the core (an unknown key would be InvalidArgument).
    assert remote.pull(ref, plain_http=[addr], library_decompression=False).name == ref
    remote.remove_image(ref)


def test_pull_errors(remote: lcd.Remote, registry: Tuple[str, str]) -> None:
    addr, _ = registry
    with pytest.raises(lcd.NotFound):
        remote.pull(f"{addr}/test/busybox:nosuchtag", plain_http=[addr], unpack=False)
    with pytest.raises(lcd.InvalidArgument):
        remote.pull("Not/A:Valid:Ref", plain_http=[addr], unpack=False)

    def boom(_: lcd.PullProgress) -> None:
        raise RuntimeError("from the progress callback")

    with pytest.raises(RuntimeError, match="progress callback"):
        remote.pull(f"{addr}/test/multi:latest", plain_http=[addr], unpack=False, progress=boom)
    remote.remove_image(f"{addr}/test/multi:latest")


def test_import_archive(remote: lcd.Remote, registry: Tuple[str, str]) -> None:
    _, d = registry
    name = f"example.com/pyimport/{threading.get_ident()}:v1"
    images = remote.import_archive(f"{d}/archives/busybox-docker.tar", name=name)
    assert [i.name for i in images] == [name]
    assert images[0].config.env is not None and "IMAGE_MARK=busybox" in images[0].config.env
    remote.remove_image(name)
    with pytest.raises(lcd.InvalidArgument):
        remote.import_archive(SCRIPT)
