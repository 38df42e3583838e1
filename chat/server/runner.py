"""Process supervision for `runchat`: one listening socket, one daphne child per core.

Besides the daphne children it may run helper commands (the job worker), restarted alike.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import multiprocess

log = logging.getLogger("chat.runchat")

STOP_TIMEOUT_S = 10.0
# A child that dies sooner than this after starting is restarted with a growing delay,
# so a crash loop does not spin the CPU.
HEALTHY_AFTER_S = 5.0
MAX_RESTART_DELAY_S = 10.0


def bind_listener(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """Bind the one listening socket every worker shares."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def restart_delay(failures: int) -> float:
    """Delay before restarting a child that keeps dying young: 0, 0.5, 1, 2, ... capped."""
    if failures <= 0:
        return 0.0
    return min(MAX_RESTART_DELAY_S, 0.5 * 2 ** (failures - 1))


def prepare_metrics_dir(configured: str) -> tuple[Path, bool]:
    """The directory the workers share their metrics in, emptied; True when it is our own.

    Samples left from an earlier run would be summed into this one's, so old files go.
    Only the metric files are removed from a configured directory, nothing else in it.
    """
    if not configured:
        # Memory-backed where there is one: a worker writing to a page of a disk-backed file
        # that the kernel is writing back has to wait for the disk, on every broadcast.
        shm = Path("/dev/shm")
        parent = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
        return Path(tempfile.mkdtemp(prefix="chatsite-metrics-", dir=parent)), True
    path = Path(configured)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink()
    return path, False


@dataclass
class Slot:
    """One worker position: the current child process and its crash history."""

    name: str
    # A helper's command line; None for a daphne child serving the shared socket.
    command: list[str] | None = None
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float = 0.0


@dataclass
class Supervisor:
    """Starts the workers, restarts any that die, stops them all on SIGTERM/SIGINT."""

    sock: socket.socket
    workers: int
    # Shared by the workers for their Prometheus samples (PROMETHEUS_MULTIPROC_DIR).
    metrics_dir: Path
    helpers: dict[str, list[str]] = field(default_factory=dict)
    slots: list[Slot] = field(default_factory=list)
    stopping: bool = False

    def spawn(self, slot: Slot) -> None:
        env = {
            **os.environ,
            "CHAT_WORKER_SLOT": slot.name,
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
        }
        if slot.command is not None:
            slot.process = subprocess.Popen(slot.command, env=env)
        else:
            fd = self.sock.fileno()
            slot.process = subprocess.Popen(
                [sys.executable, "-m", "chat.server.daphne_worker", "--fd", str(fd)],
                pass_fds=(fd,),
                env=env,
            )
        slot.started_at = time.monotonic()
        log.info("worker %s started (pid %s)", slot.name, slot.process.pid)

    def run(self) -> int:
        """Supervise until a stop signal; return the exit status."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.slots = [Slot(name=f"w{i + 1}") for i in range(self.workers)]
        self.slots += [Slot(name=name, command=cmd) for name, cmd in self.helpers.items()]
        for slot in self.slots:
            self.spawn(slot)
        while not self.stopping:
            self._reap_and_restart()
            time.sleep(0.2)
        return self._stop_all()

    def forget(self, pid: int) -> None:
        """A worker is gone: drop its share of the live gauges (its counters stay summed)."""
        multiprocess.mark_process_dead(pid, str(self.metrics_dir))

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _reap_and_restart(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is not None:
                lived = now - slot.started_at
                slot.failures = slot.failures + 1 if lived < HEALTHY_AFTER_S else 0
                delay = restart_delay(slot.failures)
                log.warning(
                    "worker %s (pid %s) exited with %s; restarting in %.1fs",
                    slot.name,
                    slot.process.pid,
                    slot.process.returncode,
                    delay,
                )
                self.forget(slot.process.pid)
                slot.process = None
                slot.restart_at = now + delay
            if slot.process is None and now >= slot.restart_at:
                self.spawn(slot)

    def _stop_all(self) -> int:
        # Closing our copy first means the socket goes away as soon as the children let go.
        self.sock.close()
        running = [s.process for s in self.slots if s.process and s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %s did not stop in time; killing it", process.pid)
                process.kill()
                process.wait()
            self.forget(process.pid)
        log.info("all workers stopped")
        return 0
