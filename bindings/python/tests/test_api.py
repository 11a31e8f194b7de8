"""The package's public surface: everything exported is documented, and the names
the issue and DESIGN.md fix are there."""

from __future__ import annotations

import dataclasses
import inspect

import libcontainerd as lcd


def test_every_public_item_has_a_docstring() -> None:
    missing = []
    for name in lcd.__all__:
        obj = getattr(lcd, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not inspect.getdoc(obj):
                missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr not in ("__init__", "__enter__", "__exit__"):
                    continue
                if attr == "__init__" and dataclasses.is_dataclass(obj):
                    continue  # generated; the fields are documented
                if inspect.isfunction(member) or isinstance(member, property):
                    if not (member.__doc__ or "").strip():
                        missing.append(f"{name}.{attr}")
    assert missing == []


def test_api_names() -> None:
    for method in ["create", "signal", "signal_process", "add_process", "resize", "pause",
                   "resume", "restore", "stats", "get_pids", "summary", "update_resources",
                   "list", "close", "__enter__", "__exit__"]:
        assert callable(getattr(lcd.Client, method)), method
    for method in ["client", "update_options", "cleanup", "close", "__enter__", "__exit__"]:
        assert callable(getattr(lcd.Remote, method)), method
    params = inspect.signature(lcd.Remote.__init__).parameters
    assert list(params)[1:10] == ["state_dir", "start_daemon", "remote_addr", "debug_log",
                                  "live_restore", "oom_score", "runtime_path", "runtime_args",
                                  "namespace"]
    create = inspect.signature(lcd.Client.create).parameters
    assert create["runtime"].kind is inspect.Parameter.KEYWORD_ONLY
    assert create["restart_policy"].kind is inspect.Parameter.KEYWORD_ONLY
    assert {s.value for s in lcd.State} == {
        "start-container", "pause", "resume", "exit", "restart", "restore",
        "start-process", "exit-process", "oom",
    }
    assert lcd.State("exit") is lcd.State.EXIT and str(lcd.State.EXIT) == "exit"
    assert "exit" in [lcd.State.EXIT]  # members compare equal to their strings
