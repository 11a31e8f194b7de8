"""Live pull progress for the demos: what the library reports of each blob, shown as one
updating line on a terminal and as a line per report otherwise."""

from __future__ import annotations

import shutil
import sys
from typing import Dict, List, TextIO

import libcontainerd as lcd


def human(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} B"


def finished(p: lcd.PullProgress) -> bool:
    """Downloaded (or already there) and, for a layer, unpacked."""
    return p.status in ("done", "exists") or (p.status == "extracting" and 0 < p.total == p.current)


class ProgressLine:
    """Shows a pull's reports (``report`` is the pull's progress callable: one report at
    a time, in order); ``end`` once the pull returned."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.tty = out.isatty()
        self.order: List[str] = []  # digests, in the order first seen
        self.blobs: Dict[str, lcd.PullProgress] = {}  # the last report of each
        self.open = False  # a line without its newline is on the terminal

    def report(self, p: lcd.PullProgress) -> None:
        short = p.digest.removeprefix("sha256:")
        if not self.tty:
            print(f"pull: {short[:12] or '-'} {p.status} {human(p.current)} / {human(p.total)}", file=self.out, flush=True)
            return
        line = f"pull: {p.status}"  # resolving the reference: no blob yet
        if p.digest:
            if p.digest not in self.blobs:
                self.order.append(p.digest)
            self.blobs[p.digest] = p
            left = [b for b in (self.blobs[d] for d in self.order) if not finished(b)]
            parts = [f"pull: {len(self.order) - len(left)}/{len(self.order)} done"]
            parts += [f"{b.digest.removeprefix('sha256:')[:8]} {b.status} {human(b.current)}/{human(b.total)}"
                      for b in left]
            line = " | ".join(parts)
        width = shutil.get_terminal_size().columns - 1
        self.out.write(f"\r\033[K{line[:width]}")
        self.out.flush()
        self.open = True

    def end(self) -> None:
        if self.open:
            print(file=self.out, flush=True)
