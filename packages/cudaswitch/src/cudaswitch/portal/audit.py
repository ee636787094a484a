"""The audit log: one row per action, who did it, to what, from where."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AuditEvent


def record(s: Session, actor: str, action: str, subject: str = "", detail: str = "",
           client: str = "") -> None:
    s.add(AuditEvent(at=time.time(), actor=actor, action=action, subject=subject[:128],
                     detail=detail, client=client[:64]))


def recent(s: Session, limit: int = 200) -> list[AuditEvent]:
    return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))
