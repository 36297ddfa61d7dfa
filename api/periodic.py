"""A round of background work run every `interval` seconds in a worker thread while the app runs
(the deadline sweep, `api.deadline_sweeper`, and the notification dispatcher, `api.notifier`)."""

from __future__ import annotations

import asyncio


class Periodic:
    """Runs `run_once` (blocking, in a worker thread) at start and then every `interval` seconds,
    until `stop`, which waits for a running round; a round checks `stopping` to end early."""

    name = "periodic"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def run_once(self) -> object:
        """One round (blocking); its errors are its own to log, never raised."""
        raise NotImplementedError

    def stopping(self) -> bool:
        """`stop` was called: a running round ends before its next unit of work."""
        return self._stop.is_set()

    async def _run(self) -> None:
        while not self._stop.is_set():
            await asyncio.to_thread(self.run_once)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)
            except TimeoutError:
                continue

    def start(self) -> None:
        """Start the rounds (in the running event loop)."""
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop after the running round, if any, has finished."""
        self._stop.set()
        if self._task is not None:
            await self._task
