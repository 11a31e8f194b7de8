"""Type-checked by tests/test_types.py: a program using the typed shapes correctly,
which ``mypy --strict`` must accept."""

from __future__ import annotations

from typing import List

import libcontainerd as lcd
from libcontainerd import types

spec: lcd.Spec = {
    "ociVersion": "1.0.2",
    "process": {
        "terminal": False,
        "user": {"uid": 0, "gid": 0, "additionalGids": [10]},
        "args": ["sh", "-c", "echo hello"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "/srv/rootfs", "readonly": True},
    "hostname": "typed",
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    "linux": {
        "namespaces": [{"type": "pid"}, {"type": "mount"}],
        "resources": {"memory": {"limit": 1 << 26}, "pids": {"limit": 64}},
        "maskedPaths": ["/proc/kcore"],
    },
}
process: lcd.ExecProcess = {"args": ["ps"], "user": {"uid": 1000, "gid": 1000}, "capabilities": ["CAP_KILL"]}
resources: lcd.Resources = {"cpu": {"shares": 512}, "memory": {"limit": 1 << 27}}
policy: types.RestartPolicyDict = {"name": "on-failure", "maximum_retry_count": 3}


def use(client: lcd.Client) -> List[int]:
    """Every typed call; the results keep their types."""
    client.create("typed", spec, restart_policy=policy)
    client.add_process("typed", "ps", process)
    client.update_resources("typed", resources)
    stats: lcd.Stats = client.stats("typed")
    total: int = stats["cpu"]["usage"]["total"]
    limit: int = stats["memory"]["usage"]["limit"]
    current: int = stats["pids"]["current"]
    return [total, limit, current] + [c.pid for c in client.list()]
