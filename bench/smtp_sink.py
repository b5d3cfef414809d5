"""A counting SMTP sink (aiosmtpd) in its own process, shared by the sending benchmark's two runs.

It keeps nothing but a count, the bytes, and the arrival time of the first and the last
message, in shared memory, so both runs are timed the same way: at the receiving end.
"""

from __future__ import annotations

import multiprocessing
import socket
import time

COUNT, FIRST, LAST, BYTES = range(4)


def _serve(port: int, counters, ready, stop, record_to: str | None) -> None:
    from aiosmtpd.controller import Controller

    recipients = open(record_to, "a", buffering=1) if record_to else None  # noqa: SIM115 — a line per mail

    class Counting:
        async def handle_DATA(self, server, session, envelope):
            if recipients is not None:
                recipients.write("\t".join(envelope.rcpt_tos) + "\n")
            now = time.time()
            if counters[COUNT] == 0:
                counters[FIRST] = now
            counters[COUNT] += 1
            counters[LAST] = now
            counters[BYTES] += len(envelope.original_content or envelope.content or b"")
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    if recipients is not None:
        recipients.close()


class Sink:
    """The sink; with `record_to`, every accepted mail's recipients also go to that file, a line each."""

    def __init__(self, record_to: str | None = None):
        ctx = multiprocessing.get_context("spawn")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.host = "127.0.0.1"
        self.counters = ctx.RawArray("d", 4)
        self._ready, self._stop = ctx.Event(), ctx.Event()
        self._proc = ctx.Process(target=_serve, args=(self.port, self.counters, self._ready, self._stop, record_to), daemon=True)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}?timeout=30"

    def __enter__(self) -> Sink:
        self._proc.start()
        if not self._ready.wait(30):
            raise RuntimeError("the SMTP sink did not start within 30 s")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()

    def reset(self) -> None:
        for i in range(4):
            self.counters[i] = 0

    @property
    def count(self) -> int:
        return int(self.counters[COUNT])

    def rate(self) -> float:
        """Messages per second between the first and the last arrival."""
        span = self.counters[LAST] - self.counters[FIRST]
        return (self.count - 1) / span if span > 0 and self.count > 1 else 0.0
