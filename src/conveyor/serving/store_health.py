"""The server's view of its store, probed every second on a thread of its own.

The probe (``Store.check`` and a ``SELECT 1``) creates the tables once a store that was
unreachable at start answers, and catches a SQLite file deleted or replaced while the server
runs (the server's own writes — live monitor counts, alerts, rollouts — would go on into the
deleted file): logged at ERROR, counted in ``conveyor_store_recreated_total``, the store
created again at its path. ``conveyor_store_up`` and ``/ready`` report the state.

An unreachable store does not make the server unready: predictions are still answered and
their records wait in the spool (see docs/scaling.md, "Delivery guarantees").
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum
from typing import TYPE_CHECKING

import sqlalchemy as sa

from conveyor.errors import ServiceUnavailableError
from conveyor.store.errors import StoreUnavailableError, store_errors

if TYPE_CHECKING:
    from conveyor.serving.metrics import ServerMetrics
    from conveyor.store.engine import Store

log = logging.getLogger(__name__)


class StoreState(StrEnum):
    OK = "ok"
    UNAVAILABLE = "unavailable"
    RECREATING = "recreating"  # its SQLite file was deleted and is not created again yet


class StoreHealth:
    """Probes the store every ``interval_s`` and keeps the last answer in ``state``."""

    def __init__(self, store: Store, metrics: ServerMetrics, interval_s: float = 1.0) -> None:
        self.store = store
        self.metrics = metrics
        self.interval_s = interval_s
        self.state = StoreState.OK
        self.detail = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._replacements = 0

    def start(self) -> None:
        """Probe once now (the tables are created here when the store answers), then keep
        probing on a thread."""
        self.store.open()
        if self.probe() is not StoreState.OK:
            log.warning(
                "store unreachable at start (%s): serving anyway; the inference log waits in "
                "the spool until the store answers",
                self.detail,
            )
        self._thread = threading.Thread(target=self._run, name="conveyor-store-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def probe(self) -> StoreState:
        previous = self.state
        try:
            self.store.check()
            with store_errors("store probe"), self.store.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except ServiceUnavailableError as exc:
            self.detail = exc.detail if isinstance(exc, StoreUnavailableError) else str(exc)
            self.state = StoreState.RECREATING if self.store.recreating else StoreState.UNAVAILABLE
        else:
            self.detail = ""
            self.state = StoreState.OK
        replaced = self.store.replacements - self._replacements
        if replaced:
            self._replacements = self.store.replacements
            self.metrics.store_recreated.inc(replaced)
        self.metrics.store_up.set(1 if self.state is StoreState.OK else 0)
        # changes are logged from the thread's probes; start() reports the first one itself
        if self.state is not previous and self._thread is not None:
            if self.state is StoreState.OK:
                log.warning("store available again")
            elif previous is StoreState.OK:
                log.warning(
                    "store unavailable (%s): predictions are still answered and the "
                    "inference log waits in the spool",
                    self.detail,
                )
        return self.state

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.probe()
            except Exception:  # never let the probe die: it is what reports the store
                log.exception("store probe failed")
