"""Progress of a tournament's stages: a rich bar (with rate and ETA) on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from arena import console


class StageReporter:
    def __init__(self) -> None:
        self.live = console.stderr().is_terminal

    @contextmanager
    def stage(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """`advance(k)` reports k more units done."""
        started = time.perf_counter()
        done = 0
        if self.live:
            with console.progress(description, total) as bar:

                def advance(count: int) -> None:
                    bar.update(0, advance=count)

                yield advance
            return

        def count(units: int) -> None:
            nonlocal done
            done += units

        console.log_line(f"{description}: {total} to do")
        yield count
        elapsed = time.perf_counter() - started
        console.log_line(f"{description}: done {done} in {elapsed:.1f} s ({done / max(elapsed, 1e-9):.1f}/s)")
