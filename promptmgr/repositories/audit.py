"""Data access for the audit log: append and read, nothing else.

There is deliberately no method that updates or deletes a row (tests/test_audit.py checks the
class has none), and the database refuses such statements too (migration 0006's triggers)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_

from ..models_audit import AuditEvent
from .base import Repository


class AuditRepository(Repository):
    def append(self, event: AuditEvent) -> AuditEvent:
        self._own(event)
        self.session.flush()
        return event

    def query(self, *, actor: str | None = None, action: str | None = None, target: str | None = None,
              since: datetime | None = None, until: datetime | None = None, limit: int = 50,
              offset: int = 0) -> tuple[list[AuditEvent], int]:
        """A page of the tenant's events, newest first, and how many match.

        actor and target match a part of the name, case-insensitively; action matches exactly or,
        given a group ("prompt"), every action in it ("prompt.create", "prompt.delete"...)."""
        conditions = []
        if actor:
            conditions.append(func.lower(AuditEvent.actor).contains(actor.lower(), autoescape=True))
        if action:
            conditions.append(or_(AuditEvent.action == action,
                                  AuditEvent.action.startswith(action.rstrip(".") + ".", autoescape=True)))
        if target:
            needle = target.lower()
            conditions.append(or_(func.lower(AuditEvent.target).contains(needle, autoescape=True),
                                  func.lower(AuditEvent.target_type) == needle))
        if since is not None:
            conditions.append(AuditEvent.created_at >= since)
        if until is not None:
            conditions.append(AuditEvent.created_at < until)
        total = self.session.exec(self._scoped(AuditEvent, func.count()).where(*conditions)).one()
        rows = self.session.exec(self._scoped(AuditEvent).where(*conditions)
                                 .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
                                 .offset(offset).limit(limit)).all()
        return list(rows), int(total)

    def actions(self) -> list[str]:
        """The distinct actions this tenant's log holds (the filter's choices)."""
        return sorted(self.session.exec(self._scoped(AuditEvent, AuditEvent.action).distinct()).all())

    @staticmethod
    def append_system(session, event: AuditEvent) -> AuditEvent:
        """An event recorded before there is a caller (its workspace given, or None): the one
        write here not stamped by _own."""
        session.add(event)
        session.flush()
        return event
