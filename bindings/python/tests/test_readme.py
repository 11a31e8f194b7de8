"""The README's Python example runs as written (with the rootfs and state directory
filled in) and prints what its comments say."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO, make_state_dir, remove_state_dir, rootfs


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    if "## Using it from Python" not in text:
        pytest.skip("no Python section in the README")
    section = text.split("## Using it from Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_example_runs() -> None:
    code = readme_example()
    assert '"/path/to/rootfs"' in code and '"/run/my-app"' in code
    d = make_state_dir()
    try:
        code = code.replace('"/path/to/rootfs"', repr(rootfs())).replace('"/run/my-app"', repr(d))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120, env=dict(os.environ))
    finally:
        remove_state_dir(d)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "3\nb'hello\\n'\n"
