"""Runs and audit events in the bot database: the single source of truth about runs.

Every state change is a compare-and-set (``UPDATE ... WHERE status IN (...)``) so two processes
(a click and a worker, two workers, a janitor) can never both move a run, and only along
``bot.core.runs.TRANSITIONS`` (anything else raises ``InvalidTransition``). Each change that matters
appends an audit event in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Iterator, Sequence

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.core.errors import InvalidTransition
from bot.core.runs import RunStatus, check_moves
from bot.infra import audit
from bot.infra.db.models import AuditEvent, AuditHead, Run, Snapshot, utcnow
from bot.redaction import redact_obj

SYSTEM = "system"


@dataclass(frozen=True)
class RunView:
    """A detached, read-only copy of a run row."""

    id: int
    verb: str
    env: str | None
    args: dict
    text: str
    requester: str
    channel: str
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    attempts: int
    parent_ts: str | None
    card_ts: str | None
    plan: dict | None
    plan_hash: str | None
    approved_by: str | None
    decided_at: datetime | None
    expires_at: datetime | None
    summary: str
    worker: str | None
    enqueued_at: datetime | None
    delay_notified: bool

    @classmethod
    def of(cls, row: Run) -> "RunView":
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__ if f != "status"},
                   status=RunStatus(row.status))


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # -- sessions -------------------------------------------------------------------------
    def session(self) -> Session:
        return self._sessions()

    # -- audit --------------------------------------------------------------------------------
    def _append(self, s: Session, event: str, *, run_id: int | None, env: str | None, actor: str,
                detail: dict | None = None) -> AuditEvent:
        head = s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
        ev = AuditEvent(run_id=run_id, env=env, event=event, actor=actor or SYSTEM,
                        detail=redact_obj(detail or {}), ts=utcnow(), prev_hash=head.last_hash, hash="")
        s.add(ev)
        s.flush()  # assigns the id, which the hash covers
        ev.hash = audit.chain_hash(head.last_hash, _event_dict(ev))
        head.last_id, head.last_hash = ev.id, ev.hash
        return ev

    def audit(self, event: str, *, run_id: int | None = None, env: str | None = None,
              actor: str = SYSTEM, detail: dict | None = None) -> None:
        with self.session() as s, s.begin():
            self._append(s, event, run_id=run_id, env=env, actor=actor, detail=detail)

    def audit_events(self, run_id: int | None = None) -> list[dict]:
        with self.session() as s:
            q = select(AuditEvent).order_by(AuditEvent.id)
            if run_id is not None:
                q = q.where(AuditEvent.run_id == run_id)
            return [_event_dict(e, with_hashes=True) for e in s.execute(q).scalars()]

    def iter_audit(self) -> Iterator[dict]:
        with self.session() as s:
            for ev in s.execute(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=500)).scalars():
                yield _event_dict(ev, with_hashes=True)

    def verify_audit(self) -> audit.ChainBreak | None:
        with self.session() as s:
            head = s.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
            head_pair = (head.last_id, head.last_hash)
        return audit.verify_chain(self.iter_audit(), head=head_pair)

    # -- runs -----------------------------------------------------------------------------
    def create_run(self, *, verb: str, env: str | None, args: dict, text: str, requester: str,
                   channel: str, trigger_id: str | None) -> tuple[RunView, bool]:
        """Record a requested run. Returns (run, created); a known trigger_id returns the first run."""
        try:
            with self.session() as s, s.begin():
                run = Run(verb=verb, env=env, args=args, text=text[:600], requester=requester,
                          channel=channel, trigger_id=trigger_id, status=RunStatus.QUEUED.value,
                          attempts=0, summary="", delay_notified=False)
                s.add(run)
                s.flush()
                self._append(s, "requested", run_id=run.id, env=env, actor=requester,
                             detail={"command": text[:600], "channel": channel})
                return RunView.of(run), True
        except IntegrityError:
            if trigger_id is None:
                raise
            with self.session() as s:
                row = s.execute(select(Run).where(Run.trigger_id == trigger_id)).scalar_one()
                return RunView.of(row), False

    def get_run(self, run_id: int) -> RunView | None:
        with self.session() as s:
            row = s.get(Run, run_id)
            return RunView.of(row) if row else None

    def transition(self, run_id: int, allowed_from: Iterable[RunStatus], to: RunStatus, *,
                   event: str | None = None, actor: str = SYSTEM, detail: dict | None = None,
                   **fields) -> RunView | None:
        """Move a run to ``to`` if it is in one of ``allowed_from``; returns the new run or None.

        Raises InvalidTransition when a move from one of ``allowed_from`` to ``to`` is not in
        ``bot.core.runs.TRANSITIONS``: the caller asked for something a run never does."""
        allowed_from = list(allowed_from)
        check_moves(allowed_from, to)
        _no_status(fields)
        allowed = [st.value for st in allowed_from]
        values = {"status": to.value, "updated_at": utcnow(), **fields}
        with self.session() as s, s.begin():
            res = s.execute(update(Run).where(Run.id == run_id, Run.status.in_(allowed)).values(**values))
            if res.rowcount != 1:
                return None
            row = s.get(Run, run_id)
            if event:
                self._append(s, event, run_id=run_id, env=row.env, actor=actor, detail=detail)
            return RunView.of(row)

    def update_run(self, run_id: int, **fields) -> RunView:
        """Set bookkeeping fields (message ts, heartbeat) without a status change."""
        _no_status(fields)
        with self.session() as s, s.begin():
            s.execute(update(Run).where(Run.id == run_id).values(updated_at=utcnow(), **fields))
            return RunView.of(s.get(Run, run_id))

    def claim(self, run_id: int, *conditions, **fields) -> bool:
        """Set bookkeeping ``fields`` only where ``conditions`` (on ``Run`` columns) hold; True if
        this call did it. ``updated_at`` is kept: bookkeeping must not postpone the outbox."""
        _no_status(fields)
        with self.session() as s, s.begin():
            res = s.execute(update(Run).where(Run.id == run_id, *conditions)
                            .values(updated_at=Run.updated_at, **fields))
            return res.rowcount == 1

    def runs(self, *, env: str | None = None, statuses: Sequence[RunStatus] | None = None,
             limit: int = 20, newest_first: bool = True) -> list[RunView]:
        with self.session() as s:
            q = select(Run)
            if env is not None:
                q = q.where(Run.env == env)
            if statuses is not None:
                q = q.where(Run.status.in_([st.value for st in statuses]))
            q = q.order_by(Run.id.desc() if newest_first else Run.id).limit(limit)
            return [RunView.of(r) for r in s.execute(q).scalars()]

    # -- snapshots ------------------------------------------------------------------------
    def add_snapshot(self, **fields) -> Snapshot:
        with self.session() as s, s.begin():
            snap = Snapshot(**fields)
            s.add(snap)
            s.flush()
            return snap

    def update_snapshot(self, name: str, **fields) -> None:
        with self.session() as s, s.begin():
            s.execute(update(Snapshot).where(Snapshot.name == name).values(**fields))

    def snapshots(self, env: str, *, verified_only: bool = False) -> list[Snapshot]:
        with self.session() as s:
            q = select(Snapshot).where(Snapshot.env == env)
            if verified_only:
                q = q.where(Snapshot.verified.is_(True))
            return list(s.execute(q.order_by(Snapshot.id.desc())).scalars())

    def snapshot(self, env: str, name: str) -> Snapshot | None:
        with self.session() as s:
            return s.execute(select(Snapshot).where(Snapshot.env == env, Snapshot.name == name)).scalar_one_or_none()

    def delete_snapshot(self, name: str) -> None:
        with self.session() as s, s.begin():
            snap = s.execute(select(Snapshot).where(Snapshot.name == name)).scalar_one_or_none()
            if snap is not None:
                s.delete(snap)


def _no_status(fields: dict) -> None:
    if "status" in fields:
        raise InvalidTransition("a run's status changes only through Store.transition")


def _event_dict(ev: AuditEvent, with_hashes: bool = False) -> dict:
    d = {"id": ev.id, "ts": ev.ts, "run_id": ev.run_id, "env": ev.env, "event": ev.event,
         "actor": ev.actor, "detail": ev.detail}
    if with_hashes:
        d["prev_hash"], d["hash"] = ev.prev_hash, ev.hash
    return d
