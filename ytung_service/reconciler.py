"""Keep allocations and what actually runs in agreement (after any crash, in both directions).

Every ``interval`` seconds, and after events, the reconciler compares the workloads that hold
devices with the hub's list of servers:

- admitted, but no server (a hub restart lost a pending spawn, or the service created it):
  start the server, at most ``max_start_attempts`` times, then mark it ``error``;
- running or stopping, but the server is gone: free its devices (requeue if preempted);
- a ready server whose workload is over or unknown: stop it;
- admitted and the server is ready: ``running``.

Then it runs a scheduling pass and applies what it says (start admitted servers, stop
preempted or overdue ones), and lets the admission estimate the queue's starts (X1; at most
every ``estimate_interval`` seconds, in a worker thread: see :meth:`Admission.estimate`).
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import select

from . import orm
from .admission import Admission, Effects
from .hub import HubClient, HubError
from .i18n import N_

log = logging.getLogger("ytung.reconciler")

SERVER_GONE = {"code": "server_gone", "message": N_("The server stopped"), "params": {}}
START_FAILED = {
    "code": "start_failed",
    "message": N_("The server could not be started after {attempts} attempts"),
}


class Reconciler:
    def __init__(
        self,
        admission: Admission,
        hub: HubClient,
        interval: float = 5.0,
        grace: float = 30.0,
        max_start_attempts: int = 3,
    ):
        self.admission = admission
        self.hub = hub
        self.interval = interval
        self.grace = grace
        self.max_start_attempts = max_start_attempts
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        # when we last asked the hub to start / stop a workload's server (not again before grace)
        self._starts: dict[int, float] = {}
        self._stops: dict[int, float] = {}

    def _due(self, asked: dict[int, float], wid: int, now: float) -> bool:
        if now - asked.get(wid, 0.0) < self.grace:
            return False
        asked[wid] = now
        return True

    def wake(self) -> None:
        """Reconcile soon (after a submit or a release) instead of at the next tick."""
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:
                log.exception("reconcile failed; retrying in %.0fs", self.interval)
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
            self._wake.clear()

    async def once(self) -> None:
        if self.hub.configured:
            await self.repair(await self.hub.servers())
        await self.apply(await self.admission.run_pass())
        await self.admission.estimate()

    async def repair(self, servers: dict[tuple[str, str], dict]) -> None:
        now = time.time()
        with self.admission.sessions() as session:
            active = list(
                session.scalars(
                    select(orm.Workload).where(orm.Workload.status.in_(orm.ACTIVE_STATUSES))
                )
            )
            session.expunge_all()
        wanted = set()
        for w in active:
            key = (w.owner, w.server_name)
            wanted.add(key)
            server = servers.get(key)
            if server is not None:
                if server.get("ready") and w.status == orm.SCHEDULING:
                    await self.admission.mark(w.id, orm.RUNNING, (orm.SCHEDULING,), started_at=now)
                elif w.status == orm.STOPPING and self._due(self._stops, w.id, now):
                    # the first stop request got lost (hub down, service restart): ask again
                    self._background(self._stop(w.owner, w.server_name))
                continue
            if w.status == orm.SCHEDULING:
                admitted = w.admitted_at or w.submit_time
                wait = 0 if w.origin == "service" else self.grace
                if now - admitted > wait and self._due(self._starts, w.id, now):
                    await self._start(w.id, w.owner, w.server_name)
            else:
                log.info("server of %s is gone: freeing its devices", w)
                released = await self.admission.release(
                    w.id, orm.CLOSED, SERVER_GONE, expect=(w.status,)
                )
                await self.apply(released)
        for (user, name), server in servers.items():
            if (user, name) in wanted or not server.get("ready"):
                continue
            if self._managed(user, name):
                log.warning("server %s/%s runs without devices allocated: stopping it", user, name)
                await self._stop(user, name)

    def _managed(self, user: str, name: str) -> bool:
        """A server that a (now finished) workload ran in, so it must not run on."""
        with self.admission.sessions() as session:
            return (
                session.scalar(
                    select(orm.Workload.id).where(
                        orm.Workload.owner == user, orm.Workload.server_name == name
                    )
                )
                is not None
            )

    async def _start(self, wid: int, user: str, name: str) -> None:
        """Start an admitted workload's server, counting attempts (read under the lock)."""
        with self.admission.sessions() as session:
            w = session.get(orm.Workload, wid)
            attempts = w.start_attempts if w is not None else 0
        if attempts >= self.max_start_attempts:
            failed = {**START_FAILED, "params": {"attempts": attempts}}
            released = await self.admission.release(
                wid, orm.ERROR, failed, expect=(orm.SCHEDULING,)
            )
            await self.apply(released)
            return
        started = await self.admission.mark(
            wid, orm.SCHEDULING, (orm.SCHEDULING,), start_attempts=attempts + 1
        )
        if started is None:  # stopped or requeued meanwhile: nothing to start
            return
        try:
            await self.hub.start_server(user, name, {"ytung_workload": wid})
        except HubError as e:
            if e.status == 429:  # the hub is busy spawning: not the workload's failure
                await self.admission.mark(
                    wid, orm.SCHEDULING, (orm.SCHEDULING,), start_attempts=attempts
                )
            log.warning("could not start workload %s: %s", wid, e)

    async def stop_workload(self, workload_id: int) -> None:
        """A user's or admin's stop: a queued workload closes; an active one's server stops,
        and its devices are freed as soon as the hub says the server is gone (else by the
        spawner's report or the next reconciliation)."""
        w, needs_stop = await self.admission.stop(workload_id)
        if needs_stop and await self._stop(w.owner, w.server_name):
            released = await self.admission.release(w.id, orm.CLOSED, expect=(orm.STOPPING,))
            await self.apply(released)

    async def _stop(self, user: str, name: str) -> bool:
        """Ask the hub to stop a server; True when it is gone."""
        try:
            return await self.hub.stop_server(user, name)
        except HubError as e:
            log.warning("could not stop %s/%s: %s", user, name, e)
            return False

    async def apply(self, effects: Effects) -> None:
        if effects.start or effects.stop:
            self.wake()
        if not (effects.start or effects.stop) or not self.hub.configured:
            return
        with self.admission.sessions() as session:
            rows = {
                w.id: (w.owner, w.server_name)
                for w in session.scalars(
                    select(orm.Workload).where(orm.Workload.id.in_(effects.start + effects.stop))
                )
            }
        # the hub answers a start or stop only once it is done (or after ~10 s):
        # run them beside the request that caused them, not inside it
        now = time.time()
        for wid in effects.stop:
            self._stops[wid] = now
            self._background(self._stop(*rows[wid]))
        for wid in effects.start:
            self._starts[wid] = now
            self._background(self._start(wid, *rows[wid]))

    def _background(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
