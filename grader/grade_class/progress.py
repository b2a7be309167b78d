"""Progress of a class run: a live bar on a terminal, plain lines otherwise.

On a TTY one line is redrawn in place: ``[#####.....] 12/40  failures 1  3.2/min  ETA 8m50s``;
students that need a human are printed above it as they come. Elsewhere (a log, CI) each student
gets one line: ``[12/40] student bob: graded (21.3 s)  3.2/min  ETA 8m50s  [failures: 1]``.
"""

from __future__ import annotations

import sys
import time


def _eta(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class Progress:
    """Count students as they are merged; draw the bar (TTY) or print a line each."""

    def __init__(self, total: int, echo=print, stream=None, width: int = 30):
        self.total, self.echo, self.width = total, echo, width
        self.stream = stream if stream is not None else sys.stdout
        self.live = echo is print and self.stream.isatty()
        self.done = self.failures = self.counted = 0
        self.t0 = time.monotonic()

    def skipped(self, n: int) -> None:
        """``n`` students merged by an earlier, interrupted run (they do not count in the rate)."""
        self.done += n

    def _rate(self) -> tuple[str, str]:
        elapsed = time.monotonic() - self.t0
        if not self.counted or elapsed <= 0:
            return "-/min", "ETA -"
        per_s = self.counted / elapsed
        return f"{60 * per_s:.1f}/min", f"ETA {_eta((self.total - self.done) / per_s)}"

    def update(self, line: str, failed: bool, notable: bool) -> None:
        """One more student merged; ``line`` describes it."""
        self.done += 1
        self.counted += 1
        self.failures += failed
        rate, eta = self._rate()
        fails = f"  [failures: {self.failures}]" if self.failures else ""
        if not self.live:
            self.echo(f"[{self.done}/{self.total}] {line}  {rate}  {eta}{fails}")
            return
        if notable:
            self.stream.write("\r\033[K" + line + "\n")
        filled = self.width * self.done // max(1, self.total)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(
            f"\r\033[K[{bar}] {self.done}/{self.total}  failures {self.failures}  {rate}  {eta}"
        )
        if self.done >= self.total:
            self.stream.write("\n")
        self.stream.flush()
