"""The one-line progress display on stderr: phase, decrees so far, current rate.

On a terminal the line is rewritten in place about once a second; elsewhere (a log,
a pipe) each update is its own line.  ``quiet`` shows nothing.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False,
                 every: float = 1.0) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.quiet, self.every = quiet, every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._shown_at = 0.0
        self._width = 0
        self._samples: deque[tuple[float, int]] = deque()

    def rate(self, done: int, now: float) -> float:
        """Decrees per second over the last ~2 s of samples (a count that went down: a new
        phase, start again)."""
        if self._samples and done < self._samples[-1][1]:
            self._samples.clear()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > 2.0:
            self._samples.popleft()
        t0, d0 = self._samples[0]
        return (done - d0) / (now - t0) if now > t0 else 0.0

    def reset(self) -> None:
        """A new phase: forget the samples of the last one."""
        self._samples.clear()

    def update(self, phase: str, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        rate = self.rate(done, now)
        if self.quiet or (not force and now - self._shown_at < self.every):
            return
        self._shown_at = now
        self.show(f"{phase}: {done:,} decrees, {rate:,.0f}/s")

    def show(self, text: str) -> None:
        if self.quiet:
            return
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A line that stays (a phase started, a warning)."""
        if self.quiet:
            return
        self.done()
        self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self._width and not self.quiet:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self._width = 0
