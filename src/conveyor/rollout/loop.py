"""The leader loop: ``Controller.tick`` on a background thread, every ``interval`` seconds.

Every server process (and ``conveyor controller``) may run one; the store's lease lets one of
them act. A tick that fails (the store unreachable) is logged and retried on the next round;
``stop`` releases the lease so another process takes over at once instead of after expiry.
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum
from typing import TYPE_CHECKING

from conveyor.errors import ConveyorError

if TYPE_CHECKING:
    from conveyor.rollout.controller import Controller
    from conveyor.rollout.evidence import EvidenceProvider

log = logging.getLogger(__name__)


class LoopState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class LeaderLoop:
    def __init__(
        self, controller: Controller, evidence: EvidenceProvider, interval: float = 5.0
    ) -> None:
        self.controller = controller
        self.evidence = evidence
        self.interval = interval
        self.state = LoopState.NEW
        self.rounds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._transition(LoopState.NEW, LoopState.RUNNING)
        self._thread = threading.Thread(target=self._run, name="rollout-leader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the round in progress, then give up the lease."""
        self._transition(LoopState.RUNNING, LoopState.STOPPED)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.controller.release()
        except ConveyorError as exc:  # it expires by itself
            log.warning("rollout leader: could not release the lease: %s", exc.message)

    def _transition(self, expected: LoopState, to: LoopState) -> None:
        if self.state is not expected:
            raise RuntimeError(f"leader loop is {self.state}, not {expected}")
        self.state = to

    def _run(self) -> None:
        said = ""  # the last failure reported: a failure that repeats is said once
        while not self._stop.is_set():
            try:
                self.controller.tick(None, self.evidence)
            except ConveyorError as exc:
                if exc.message != said:
                    log.warning("rollout leader: %s", exc.message)
                said = exc.message
            except Exception:  # the loop outlives any one bad round
                log.exception("rollout leader: tick failed")
            else:
                if said:
                    log.warning("rollout leader: rounds work again")
                said = ""
            self.rounds += 1
            self._stop.wait(self.interval)
