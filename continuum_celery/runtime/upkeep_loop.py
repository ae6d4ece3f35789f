"""Upkeep as a loop inside each worker: one leader at a time, asleep until needed.

Every worker runs this loop in a thread of its main process. The one holding the
leader row (``journal/leader.py``) does the work; the others only try to take the
row over about once a second, so a leader that dies is replaced within its TTL
plus a second.

The leader does not tick at a fixed rate. It sleeps until the earliest wait fires
(at most a second, and until the next full sweep), and a wait inserted to fire
sooner wakes it through ``LISTEN``/``NOTIFY``: a short timer fires within a few
milliseconds of its time on an idle system, and an idle system costs two small
queries a second.

Trouble is logged one line per retry, backing off: an unreachable database as a
WARNING, a database without the schema as an ERROR naming the fix.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from ..errors import SchemaNotMigrated
from ..journal.db import Database, unavailable
from ..journal.leader import UpkeepLeader, WaitListener
from ..journal.migrate import require_schema
from ..journal.sweep import SweepStore
from ..journal.tasks import TaskStore
from .perform import Performer
from .sweeper import Sweeper, UpkeepSettings
from .transport import AfterCommit, Publisher

log = logging.getLogger("continuum_celery.upkeep")

LONGEST_SLEEP = 1.0
"""The leader looks at the earliest wait at least this often (``INSERT_WAIT`` only
notifies waits due sooner than that, with a margin)."""
OVERDUE_PAUSE = 0.005
"""A wait still overdue after a firing pass is one whose run was locked (busy in a
transaction): look again shortly, without spinning on it."""
FIRST_BACKOFF, LONGEST_BACKOFF = 1.0, 30.0

JobsFactory = Callable[[Database, AfterCommit], Callable[[], int]]
"""Builds upkeep's bulk job step over upkeep's own database and publisher."""


class Backoff:
    def __init__(self) -> None:
        self.pause = 0.0
        self.troubled = False

    def next(self) -> float:
        self.pause = min(max(self.pause * 2, FIRST_BACKOFF), LONGEST_BACKOFF)
        self.troubled = True
        return self.pause

    def reset(self) -> bool:
        """True when this ends a spell of trouble."""
        was, self.pause, self.troubled = self.troubled, 0.0, False
        return was


class UpkeepLoop:
    def __init__(
        self,
        sweeper: Sweeper,
        leader: UpkeepLeader,
        listener: WaitListener,
        check_schema: Callable[[], None],
        owner: str,
        interval: float,
        publisher: AfterCommit | None = None,
    ) -> None:
        self.publisher = publisher
        """Upkeep's own publisher: when its publishes fail, another worker should lead."""
        self._benched_until = 0.0
        self.sweeper = sweeper
        self.leader = leader
        self.listener = listener
        self.check_schema = check_schema
        self.owner = owner
        self.interval = interval
        self.ttl = sweeper.settings.leader_ttl
        self.leading = False
        self._renewed = self._next_sweep = 0.0
        self._schema_ok = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = Backoff()

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="continuum-upkeep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the current step, then hand leadership over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(LONGEST_SLEEP + 5.0)
            self._thread = None

    def _run(self) -> None:
        """Sleep, step, repeat; nothing that goes wrong ends the loop but ``stop``."""
        pause = 0.0
        while not self._stop.is_set():
            try:
                self._sleep(pause)
                if self._stop.is_set():
                    break
                pause = self.step()
                if self._backoff.reset():
                    log.info("upkeep: the database is reachable again; upkeep resumes")
            except Exception as error:
                self._step_down()
                pause = self._trouble(error)
        self._resign()

    def _sleep(self, pause: float) -> None:
        if self.leading and not self._stop.is_set():
            self.listener.wait(pause)
        else:
            self._stop.wait(pause)

    # --- one step -----------------------------------------------------------------------

    def step(self) -> float:
        """Lead (or try to) and do what is due; returns how long to sleep."""
        if not self._schema_ok:
            self.check_schema()
            self._schema_ok = True
        if time.monotonic() < self._benched_until or not self._hold_lead():
            return min(LONGEST_SLEEP, self.ttl / 3)
        failures = self.publisher.failures if self.publisher else 0
        now = time.monotonic()
        if now >= self._next_sweep:
            # Jittered, so re-published messages never fall into lockstep with
            # anything periodic on the broker's side (say, consumers' poll timeouts).
            self._next_sweep = now + self.interval * random.uniform(0.5, 1.5)
            self.sweeper.run_once()
        else:
            self.sweeper.fire_timers()
        if self.publisher and self.publisher.failures > failures:
            return self._hand_over()
        return self._until_next(time.monotonic())

    def _hand_over(self) -> float:
        """This worker reaches Postgres but not the broker: let another one lead.

        What it could not publish is still due in Postgres, so the next leader
        sends it. Alone, this worker leads again after ``2 * leader_ttl``.
        """
        log.warning("upkeep: %s cannot publish to the broker; handing upkeep over", self.owner)
        self._resign()
        self._benched_until = time.monotonic() + 2 * self.ttl
        return min(LONGEST_SLEEP, self.ttl / 3)

    def _hold_lead(self) -> bool:
        now = time.monotonic()
        if self.leading and now - self._renewed < self.ttl / 3:
            return True
        if not self.leader.lead(self.owner, self.ttl):
            if self.leading:
                log.info("upkeep: %s no longer leads", self.owner)
            self._step_down()
            return False
        self._renewed = now
        if not self.leading:
            self.listener.listen()  # before looking at the waits: nothing slips between
            self.leading, self._next_sweep = True, 0.0
            log.info("upkeep: %s leads upkeep", self.owner)
        return True

    def _until_next(self, now: float) -> float:
        """Sleep until the earliest wait fires, the next sweep, or the renewal."""
        pause = min(LONGEST_SLEEP, self._next_sweep - now, self._renewed + self.ttl / 3 - now)
        fired = self.sweeper.next_due is not None  # the firing read it: no read of our own
        due = self.sweeper.next_wait_in() if fired else self.leader.next_wait_in()
        if due is not None:
            pause = min(pause, due + 0.002)  # fires_at <= now() must hold when we look
        return max(pause, OVERDUE_PAUSE if due is not None and due < 0 else 0.001)

    # --- trouble ------------------------------------------------------------------------

    def _trouble(self, error: Exception) -> float:
        pause = self._backoff.next()
        if isinstance(error, SchemaNotMigrated):
            log.error("upkeep: %s; checking again in %.0fs", error, pause)
        elif unavailable(error):
            log.warning("upkeep: Postgres unreachable (%s); retrying in %.0fs",
                        _one_line(error), pause)  # fmt: skip
        else:
            log.error("upkeep step failed; retrying in %.0fs", pause, exc_info=True)
        return pause

    def _step_down(self) -> None:
        self.leading = False
        try:
            self.listener.close()
        except Exception:  # the connection is going away anyway
            log.debug("closing the wait listener failed", exc_info=True)

    def _resign(self) -> None:
        was_leading = self.leading
        self._step_down()
        if was_leading:
            try:
                self.leader.resign(self.owner)
            except Exception as error:
                log.info("upkeep: could not resign (%s); the lead expires by itself", error)


def _one_line(error: BaseException) -> str:
    """The driver's own words, on one line, without SQLAlchemy's boilerplate."""
    cause = getattr(error, "orig", None) or error.__cause__ or error
    return " ".join(str(cause).split())


def build_upkeep_loop(
    database_url: str,
    claim_ttl: float,
    performer: Performer,
    transport: Publisher,
    settings: UpkeepSettings,
    interval: float,
    owner: str,
    jobs: JobsFactory | None = None,
) -> UpkeepLoop:
    """A worker's upkeep loop, on a database engine of its own: the worker's pool
    processes are forked from this process and must never share its connections."""
    db = Database(database_url, pool_size=2)
    scope = performer.tasks.scope
    tasks = TaskStore(db, claim_ttl, scope=scope)
    publisher = AfterCommit(transport)
    # Publishes what expiry settles, and reports lost attempts as the pool processes do.
    settler = Performer(tasks, performer.registry, publisher, observer=performer.observer)
    settler.hooks = performer.hooks  # telemetry, as the pool processes report it
    sweeper = Sweeper(SweepStore(db, scope), tasks, publisher, settler, settings)
    if jobs is not None:
        sweeper.jobs = jobs(db, publisher)
    leader, listener = UpkeepLeader(db, scope), WaitListener(db)
    return UpkeepLoop(
        sweeper, leader, listener, lambda: require_schema(db), owner, interval, publisher
    )
