"""Containers created from an image (``client.create(..., image=...)``) on a real
containerd: the image, two layers built with umoci and skopeo from the busybox
fixture, is imported with ``ctr images import --no-unpack`` and unpacked by the
library."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from typing import Any, Dict

import pytest

import libcontainerd as lcd
from conftest import NAMESPACE, TIMEOUT, remove_state_dir, rootfs, spec, temp_parent, unique_id
from libcontainerd import State, aio

IMAGE = "lcd.test/py-busybox:v1"


def run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True)


@pytest.fixture(scope="module")
def image(state_dir: str, remote: lcd.Remote) -> str:
    """IMAGE, imported into the session's containerd: the busybox rootfs, then a
    layer adding /srv/layer2.txt; it runs as user ``app`` in /srv."""
    d = tempfile.mkdtemp(prefix="lcdpy-img-", dir=temp_parent())
    oci, bundle, archive = f"{d}/oci", f"{d}/bundle", f"{d}/img.tar"
    img = f"{oci}:img"
    run("umoci", "init", "--layout", oci)
    run("umoci", "new", "--image", img)
    run("umoci", "unpack", "--image", img, bundle)
    run("cp", "-a", rootfs() + "/.", f"{bundle}/rootfs")
    run("umoci", "repack", "--refresh-bundle", "--image", img, bundle)
    os.makedirs(f"{bundle}/rootfs/srv", exist_ok=True)
    with open(f"{bundle}/rootfs/srv/layer2.txt", "w") as f:
        f.write("layer-two\n")
    run("umoci", "repack", "--refresh-bundle", "--image", img, bundle)
    run("umoci", "config", "--image", img,
        "--config.entrypoint", "/bin/sh", "--config.entrypoint", "-c",
        "--config.cmd", "echo cwd=$(pwd) uid=$(id -u) var=$IMG_VAR; cat layer2.txt",
        "--config.env", "IMG_VAR=fromimage", "--config.env", "PATH=/bin",
        "--config.workingdir", "/srv", "--config.user", "app")
    run("skopeo", "copy", "-q", f"oci:{img}", f"oci-archive:{archive}:{IMAGE}")
    run("ctr", "-a", f"{state_dir}/containerd/containerd.sock", "-n", NAMESPACE,
        "images", "import", "--no-unpack", archive)
    remove_state_dir(d)
    return IMAGE


def image_spec() -> Dict[str, Any]:
    """The fixture spec without a process: all of it comes from the image."""
    s = spec(["true"])
    del s["process"]
    return s


def test_create_from_an_image(client: lcd.Client, backend: lcd.CollectingBackend, image: str) -> None:
    id = unique_id("img")
    client.create(id, image_spec(), image=image)
    assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 0
    out = backend.wait_output(id, timeout=TIMEOUT)
    assert out.stdout == b"cwd=/srv uid=1000 var=fromimage\nlayer-two\n", out
    # Another snapshotter; the spec's args win over the image's.
    id2 = unique_id("img-native")
    client.create(id2, spec(["cat", "/srv/layer2.txt"]), image=image, snapshotter="native")
    backend.wait_for(id2, State.EXIT, TIMEOUT)
    assert backend.wait_output(id2, timeout=TIMEOUT).stdout == b"layer-two\n"


def test_a_missing_image_is_not_found(client: lcd.Client, image: str) -> None:
    with pytest.raises(lcd.NotFound):
        client.create(unique_id("img-none"), image_spec(), image="lcd.test/none:here")
    with pytest.raises(lcd.InvalidArgument):
        client.create(unique_id("img-bad"), image_spec(), image=image, snapshotter="../x")


def test_create_from_an_image_as_a_coroutine(state_dir: str, image: str) -> None:
    """``aio.Client.create`` takes the image options of the blocking ``create``."""
    backend = lcd.CollectingBackend()

    async def main() -> None:
        async with aio.Remote(state_dir=state_dir, namespace=NAMESPACE) as r:
            async with await r.client(backend) as client:
                id = unique_id("img-aio")
                async with client.events(id) as events:
                    await client.create(id, image_spec(), image=image, snapshotter="native")
                    ev = await asyncio.wait_for(events.wait_for(State.EXIT), TIMEOUT)
                    assert ev.info.exit_code == 0, backend.wait_output(id, "init", TIMEOUT).stderr
                assert backend.wait_output(id, "init", TIMEOUT).stdout == b"cwd=/srv uid=1000 var=fromimage\nlayer-two\n"

    asyncio.run(main())
