"""A round of background work run every `interval` seconds in a worker thread while the app runs
(the deadline sweep, `api.deadline_sweeper`, and the notification dispatcher, `api.notifier`), or
at once when woken (`wake`: the dispatcher, after a commit that queued a notification)."""

from __future__ import annotations

import asyncio


class Periodic:
    """Runs `run_once` (blocking, in a worker thread) at start and then every `interval` seconds,
    until `stop`, which waits for a running round; a round checks `stopping` to end early."""

    name = "periodic"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = asyncio.Event()
        self._nudge = asyncio.Event()  # set by `wake` and `stop`: the wait between rounds ends
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def run_once(self) -> object:
        """One round (blocking); its errors are its own to log, never raised."""
        raise NotImplementedError

    def stopping(self) -> bool:
        """`stop` was called: a running round ends before its next unit of work."""
        return self._stop.is_set()

    async def _run(self) -> None:
        while not self._stop.is_set():
            self._nudge.clear()  # a wake during the round brings the next one at once
            await asyncio.to_thread(self.run_once)
            try:
                await asyncio.wait_for(self._nudge.wait(), timeout=self.interval)
            except TimeoutError:
                continue

    def start(self) -> None:
        """Start the rounds (in the running event loop)."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Run the next round now instead of at the end of the interval (from any thread; nothing
        before `start` or after `stop`)."""
        loop = self._loop
        if loop is not None and not self._stop.is_set() and not loop.is_closed():
            loop.call_soon_threadsafe(self._nudge.set)

    async def stop(self) -> None:
        """Stop after the running round, if any, has finished."""
        self._stop.set()
        self._nudge.set()
        if self._task is not None:
            await self._task
