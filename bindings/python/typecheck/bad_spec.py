"""Type-checked by tests/test_types.py: mistakes that ``mypy --strict`` must report,
each on a line marked ``# mistake``, and on no other line."""

from __future__ import annotations

import libcontainerd as lcd

spec: lcd.Spec = {
    "ociVersion": "1.0.2",
    "process": {
        "args": "sh -c 'echo hello'",  # mistake: a string, not a list
        "cwd": "/",
        "terminal": "no",  # mistake: not a bool
    },
    "root": {"path": "/srv/rootfs", "readonly": 1.5},  # mistake: not a bool
    "mounts": [{"destination": "/proc", "typ": "proc"}],  # mistake: misspelt key
    "linux": {"resources": {"memory": {"limit": "64m"}}},  # mistake: a string, not bytes
}
process: lcd.ExecProcess = {"args": ["ps"], "capabilities": {"bounding": ["CAP_KILL"]}}  # mistake: a list in exec
resources: lcd.Resources = {"pids": {"max": 10}}  # mistake: pids takes "limit"


def use(client: lcd.Client) -> str:
    """Reading a stats figure with the wrong type."""
    return client.stats("x")["pids"]["current"]  # mistake: an int, not a str
