"""Stored files: every document the system keeps (invoice XML, signed file, SDI notifications, issued
certificates), with its SHA-256, owned by one business object.

Kept in the database so a file and the state change that produced it commit together. Conservation reads
them from here to build archival packages on S3.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, Timestamp, as_utc, utcnow


class StoredFile(Base):
    __tablename__ = "stored_files"
    __table_args__ = (UniqueConstraint("owner_kind", "owner_id", "name", name="uq_stored_files_owner_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    owner_kind: Mapped[str] = mapped_column(String(40))  # "invoice", "certificate", ...
    owner_id: Mapped[str] = mapped_column(String(120), index=True)
    role: Mapped[str] = mapped_column(String(40))  # "original", "signed", "notification", ...
    name: Mapped[str] = mapped_column(String(200))  # file name, e.g. IT02038490237_00001.xml.p7m
    mime_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


@dataclass(frozen=True)
class FileInfo:
    """A stored file without its content (what lists and workflows carry)."""

    id: int
    owner_kind: str
    owner_id: str
    role: str
    name: str
    mime_type: str
    size: int
    sha256: str
    created_at: datetime

    @classmethod
    def of(cls, row: StoredFile) -> FileInfo:
        return cls(row.id, row.owner_kind, row.owner_id, row.role, row.name, row.mime_type, row.size,
                   row.sha256, as_utc(row.created_at))


def store_file(session: Session, tenant_id: int, owner_kind: str, owner_id: str, role: str, name: str,
               mime_type: str, content: bytes) -> FileInfo:
    """Idempotent: storing the same name for the same owner again returns the existing row if the bytes
    match, and refuses different bytes (a file, once stored, never changes)."""
    digest = hashlib.sha256(content).hexdigest()
    existing = session.scalar(
        select(StoredFile).where(StoredFile.owner_kind == owner_kind, StoredFile.owner_id == owner_id,
                                 StoredFile.name == name)
    )
    if existing is not None:
        if existing.sha256 != digest:
            raise ValueError(f"{owner_kind} {owner_id} already has a different file named {name}")
        return FileInfo.of(existing)
    row = StoredFile(tenant_id=tenant_id, owner_kind=owner_kind, owner_id=owner_id, role=role, name=name,
                     mime_type=mime_type, size=len(content), sha256=digest, content=content,
                     created_at=utcnow())
    session.add(row)
    session.flush()
    return FileInfo.of(row)


def _owner_rows(session: Session, owner_kind: str, owner_id: str) -> Iterable[StoredFile]:
    return session.scalars(
        select(StoredFile).where(StoredFile.owner_kind == owner_kind, StoredFile.owner_id == owner_id)
        .order_by(StoredFile.id)
    )


def files_of(session: Session, owner_kind: str, owner_id: str) -> list[FileInfo]:
    return [FileInfo.of(r) for r in _owner_rows(session, owner_kind, owner_id)]


def files_with_content(session: Session, owner_kind: str, owner_id: str) -> list[tuple[FileInfo, bytes]]:
    """Every file of an owner with its bytes, in one query (in the order of `files_of`)."""
    return [(FileInfo.of(r), r.content) for r in _owner_rows(session, owner_kind, owner_id)]


def read_file(session: Session, file_id: int) -> tuple[FileInfo, bytes]:
    row = session.get(StoredFile, file_id)
    if row is None:
        raise LookupError(f"no stored file {file_id}")
    return FileInfo.of(row), row.content
