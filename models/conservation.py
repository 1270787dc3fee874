"""Archival packages on S3 and their objects.

A package row is written only after every object of the package is on S3 and was read back and checked
(activities.archive), in one transaction with its objects: the database never lists half a package.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from domain.errors import Conflict, NotFound
from domain.identifiers import parse_vat_number
from models.base import Base, Timestamp, as_utc, utcnow
from models.conservation_io import StoredPackage
from models.tenant import Tenant, get_tenant_row


class ArchivePackage(Base):
    __tablename__ = "archive_packages"
    __table_args__ = (UniqueConstraint("owner_kind", "owner_id", name="uq_archive_packages_owner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[str] = mapped_column(String(160), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"), index=True)
    owner_kind: Mapped[str] = mapped_column(String(40))
    owner_id: Mapped[str] = mapped_column(String(120))
    bucket: Mapped[str] = mapped_column(String(63))
    prefix: Mapped[str] = mapped_column(String(300))
    year: Mapped[int] = mapped_column()
    document_type: Mapped[str] = mapped_column(String(12))  # TD01, or FA(3)'s RodzajFaktury (KOR_ZAL: 0013)
    document_number: Mapped[str] = mapped_column(String(40))
    document_date: Mapped[date] = mapped_column(Date, index=True)
    sender_vat: Mapped[str] = mapped_column(String(30))
    recipient_id: Mapped[str] = mapped_column(String(30))
    sdi_file_name: Mapped[str] = mapped_column(String(200))
    sdi_id: Mapped[str | None] = mapped_column(String(40))
    index_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp())  # the index's DataOraCreazione
    retain_until: Mapped[datetime] = mapped_column(Timestamp())
    recorded_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    # who acted for the customer when the document was made ("customer:anna@example.it", "sdi")
    requested_by: Mapped[str] = mapped_column(String(300), default="", server_default="")
    last_verified_at: Mapped[datetime | None] = mapped_column(Timestamp())
    last_verify_ok: Mapped[bool | None] = mapped_column(Boolean)

    objects: Mapped[list[ArchiveObject]] = relationship(
        back_populates="package", cascade="all, delete-orphan", order_by="ArchiveObject.id"
    )


class ArchiveObject(Base):
    __tablename__ = "archive_objects"
    __table_args__ = (UniqueConstraint("package_ref", "name", name="uq_archive_objects_package_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_ref: Mapped[int] = mapped_column(ForeignKey("archive_packages.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(500))
    version_id: Mapped[str] = mapped_column(String(200))
    mime_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    is_index: Mapped[bool] = mapped_column(Boolean, default=False)

    package: Mapped[ArchivePackage] = relationship(back_populates="objects")


@dataclass(frozen=True)
class ObjectView:
    name: str
    role: str
    key: str
    version_id: str
    mime_type: str
    size: int
    sha256: str
    is_index: bool

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PackageView:
    package_id: str
    tenant_vat: str
    owner_kind: str
    owner_id: str
    bucket: str
    prefix: str
    year: int
    document_type: str
    document_number: str
    document_date: date
    sender_vat: str
    recipient_id: str
    sdi_file_name: str
    sdi_id: str | None
    index_sha256: str
    created_at: datetime
    retain_until: datetime
    recorded_at: datetime
    last_verified_at: datetime | None
    last_verify_ok: bool | None
    objects: tuple[ObjectView, ...]

    @property
    def size(self) -> int:
        return sum(o.size for o in self.objects)

    @property
    def index(self) -> ObjectView:
        return next(o for o in self.objects if o.is_index)

    @classmethod
    def of(cls, row: ArchivePackage, vat: str) -> PackageView:
        return cls(
            package_id=row.package_id, tenant_vat=vat, owner_kind=row.owner_kind, owner_id=row.owner_id,
            bucket=row.bucket, prefix=row.prefix, year=row.year, document_type=row.document_type,
            document_number=row.document_number, document_date=row.document_date, sender_vat=row.sender_vat,
            recipient_id=row.recipient_id, sdi_file_name=row.sdi_file_name, sdi_id=row.sdi_id,
            index_sha256=row.index_sha256, created_at=as_utc(row.created_at),
            retain_until=as_utc(row.retain_until), recorded_at=as_utc(row.recorded_at),
            last_verified_at=as_utc(row.last_verified_at) if row.last_verified_at else None,
            last_verify_ok=row.last_verify_ok,
            objects=tuple(ObjectView(o.name, o.role, o.key, o.version_id, o.mime_type, o.size, o.sha256,
                                     o.is_index) for o in row.objects),
        )

    def to_json(self, with_objects: bool = True) -> dict[str, object]:
        data: dict[str, object] = {
            k: v for k, v in self.__dict__.items() if k != "objects"
        }
        for k in ("document_date", "created_at", "retain_until", "recorded_at", "last_verified_at"):
            value = data[k]
            data[k] = value.isoformat() if value is not None else None  # type: ignore[attr-defined]
        data["size"] = self.size
        data["object_count"] = len(self.objects)
        if with_objects:
            data["objects"] = [o.to_json() for o in self.objects]
        return data


@dataclass(frozen=True)
class Usage:
    vat_number: str
    name: str
    packages: int
    objects: int
    bytes: int

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def record_package(session: Session, stored: StoredPackage) -> tuple[PackageView, bool]:
    """Insert the package with its objects; the same package again is a no-op (returns created=False)."""
    existing = session.scalar(select(ArchivePackage).where(ArchivePackage.package_id == stored.package_id))
    if existing is not None:
        if existing.index_sha256 != stored.index_sha256:
            raise Conflict(f"package {stored.package_id} is already recorded with another index")
        return PackageView.of(existing, stored.tenant_vat), False
    tenant = get_tenant_row(session, stored.tenant_vat)
    meta = stored.metadata
    row = ArchivePackage(
        package_id=stored.package_id, tenant_id=tenant.id, owner_kind=stored.owner_kind,
        owner_id=stored.owner_id, bucket=stored.bucket, prefix=stored.prefix, year=stored.year,
        document_type=meta.document_type, document_number=meta.document_number,
        document_date=date.fromisoformat(meta.document_date), sender_vat=meta.sender_vat,
        recipient_id=meta.recipient_id, sdi_file_name=meta.sdi_file_name, sdi_id=meta.sdi_id,
        index_sha256=stored.index_sha256, created_at=datetime.fromisoformat(stored.created_at),
        retain_until=datetime.fromisoformat(stored.retain_until), recorded_at=utcnow(),
        requested_by=stored.actor,
    )
    row.objects = [
        ArchiveObject(name=o.name, role=o.role, key=o.key, version_id=o.version_id, mime_type=o.mime_type,
                      size=o.size, sha256=o.sha256, is_index=o.is_index)
        for o in stored.objects
    ]
    session.add(row)
    session.flush()
    return PackageView.of(row, tenant.vat_number), True


def _vat_of(session: Session, tenant_id: int) -> str:
    return session.scalar(select(Tenant.vat_number).where(Tenant.id == tenant_id)) or ""


def find_package(session: Session, package_id: str) -> PackageView | None:
    row = session.scalar(select(ArchivePackage).where(ArchivePackage.package_id == package_id))
    return PackageView.of(row, _vat_of(session, row.tenant_id)) if row else None


def get_package(session: Session, package_id: str) -> PackageView:
    found = find_package(session, package_id)
    if found is None:
        raise NotFound(f"no archival package {package_id}")
    return found


def package_of_owner(session: Session, owner_kind: str, owner_id: str) -> PackageView | None:
    row = session.scalar(select(ArchivePackage).where(ArchivePackage.owner_kind == owner_kind,
                                                      ArchivePackage.owner_id == owner_id))
    return PackageView.of(row, _vat_of(session, row.tenant_id)) if row else None


def list_packages(session: Session, vat: str | None = None, date_from: date | None = None,
                  date_to: date | None = None, limit: int | None = None) -> list[PackageView]:
    query = select(ArchivePackage, Tenant.vat_number).join(Tenant, Tenant.id == ArchivePackage.tenant_id)
    if vat is not None:
        query = query.where(Tenant.vat_number == str(parse_vat_number(vat)))
    if date_from is not None:
        query = query.where(ArchivePackage.document_date >= date_from)
    if date_to is not None:
        query = query.where(ArchivePackage.document_date <= date_to)
    query = query.order_by(ArchivePackage.document_date, ArchivePackage.id)
    if limit is not None:
        query = query.limit(limit)
    return [PackageView.of(row, vat_number) for row, vat_number in session.execute(query)]


def package_ids(session: Session, vat: str | None = None) -> list[str]:
    query = select(ArchivePackage.package_id).order_by(ArchivePackage.id)
    if vat is not None:
        tenant = get_tenant_row(session, vat)
        query = query.where(ArchivePackage.tenant_id == tenant.id)
    return list(session.scalars(query))


def package_page(session: Session, vat: str | None, after: int, upto: int | None,
                 limit: int) -> tuple[list[tuple[int, str]], int, int]:
    """Keyset pagination over the packages in row-id order: at most `limit` (row id, package id) after `after`
    and up to `upto`; with `upto` None it is the newest row id now. Returns the rows, `upto` and how many
    packages there are up to it (counted only when `upto` was None, else 0)."""
    where = [] if vat is None else [ArchivePackage.tenant_id == get_tenant_row(session, vat).id]
    total = 0
    if upto is None:
        newest, total = session.execute(select(func.max(ArchivePackage.id), func.count(ArchivePackage.id))
                                        .where(*where)).one()
        upto, total = int(newest or 0), int(total or 0)
    rows = session.execute(select(ArchivePackage.id, ArchivePackage.package_id)
                           .where(ArchivePackage.id > after, ArchivePackage.id <= upto, *where)
                           .order_by(ArchivePackage.id).limit(limit))
    return [(int(r[0]), str(r[1])) for r in rows], upto, total


def mark_verified(session: Session, package_id: str, ok: bool, at: datetime) -> None:
    row = session.scalar(select(ArchivePackage).where(ArchivePackage.package_id == package_id))
    if row is not None:
        row.last_verified_at = at
        row.last_verify_ok = ok


def usage(session: Session, vat: str | None = None) -> list[Usage]:
    """Space used per customer: packages, objects (files + indexes) and bytes, from the recorded objects."""
    counts = (
        select(ArchivePackage.tenant_id.label("tenant_id"),
               func.count(func.distinct(ArchivePackage.id)).label("packages"),
               func.count(ArchiveObject.id).label("objects"),
               func.coalesce(func.sum(ArchiveObject.size), 0).label("bytes"))
        .join(ArchiveObject, ArchiveObject.package_ref == ArchivePackage.id)
        .group_by(ArchivePackage.tenant_id)
        .subquery()
    )
    query = (select(Tenant.vat_number, Tenant.name, counts.c.packages, counts.c.objects, counts.c.bytes)
             .join(counts, counts.c.tenant_id == Tenant.id, isouter=True).order_by(Tenant.vat_number))
    if vat is not None:
        query = query.where(Tenant.vat_number == get_tenant_row(session, vat).vat_number)
    return [Usage(v, n, int(p or 0), int(o or 0), int(b or 0)) for v, n, p, o, b in session.execute(query)]
