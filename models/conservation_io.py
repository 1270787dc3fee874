"""The dataclasses that cross the conservation workflows' boundary (no SQLAlchemy here).

The invoice workflow imports `ConservationInput` and `PackageMetadata` to start the conservation of an
invoice as a child workflow once its cycle closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PackageMetadata:
    """The invoice metadata the law asks to keep with it (DMEF 17 June 2014, art. 3)."""

    document_number: str  # Numero
    document_date: str  # Data, ISO "YYYY-MM-DD"
    document_type: str  # TipoDocumento, e.g. "TD01"
    sender_vat: str  # CedentePrestatore IdFiscaleIVA, e.g. "IT02038490237"
    sender_name: str
    recipient_id: str  # CessionarioCommittente VAT number or codice fiscale (fiscal code)
    recipient_name: str
    sdi_file_name: str  # e.g. "IT02038490237_00001.xml.p7m"
    sdi_id: str | None = None  # IdentificativoSdI, once the SDI assigned one


@dataclass
class ConservationInput:
    tenant_vat: str
    owner_kind: str  # "invoice"
    owner_id: str  # the invoice id, as its stored files are owned
    metadata: PackageMetadata
    actor: str = ""  # who acted for the customer ("customer:anna@example.it", "sdi"); "" before #12.6


@dataclass
class ConservationResult:
    package_id: str
    prefix: str  # "<vat>/<year>/<package id>/"
    objects: int  # files + the index
    bytes: int
    index_sha256: str
    retain_until: str  # ISO timestamp
    already_conserved: bool = False


@dataclass
class StorePackageInput:
    """What the store activity needs; `created_at` comes from the workflow so retries build the same index."""

    request: ConservationInput
    created_at: str  # ISO timestamp, UTC


@dataclass
class StoredObject:
    name: str
    role: str
    key: str
    version_id: str
    mime_type: str
    size: int
    sha256: str  # hex
    is_index: bool = False


@dataclass
class StoredPackage:
    """A package whose objects are all on S3, each read back and checked; not yet recorded."""

    package_id: str
    tenant_vat: str
    owner_kind: str
    owner_id: str
    year: int
    prefix: str
    bucket: str
    created_at: str
    retain_until: str
    index_sha256: str
    metadata: PackageMetadata
    objects: list[StoredObject] = field(default_factory=list)
    already_recorded: bool = False
    actor: str = ""  # ConservationInput.actor, recorded with the package


# A verification report keeps this many faults (the first found) and counts every one: a report crosses the
# workflow boundary and is carried over continue-as-new, so it must stay bounded whatever the archive holds.
FAULTS_KEPT = 200


@dataclass
class VerifyInput:
    vat: str | None = None  # only this customer's packages
    sample: int | None = None  # a random sample of N packages instead of all
    notify: bool = True  # e-mail the conservation manager when a fault is found
    page_size: int = 200  # package ids read from the database per page (keyset on the package's row id)
    pages_per_run: int = 25  # then the workflow continues as new, carrying only `progress`
    progress: VerifyProgress | None = None  # None at the start; set by the run that continued as new
    actor: str = ""  # who asked ("operator:ops@example.it"; "" from the schedule, or before #12.6)


@dataclass
class VerifyProgress:
    """What one run hands the next: the cursor and the running totals, never the ids seen."""

    after: int = 0  # the last package row id read
    upto: int | None = None  # the newest row id when the verification began: packages added later wait
    total: int = 0  # packages up to `upto` (of which `sample` are chosen, when sampling)
    seen: int = 0  # packages read so far
    chosen: int = 0  # packages verified so far
    report: VerifyReport = field(default_factory=lambda: VerifyReport())


@dataclass
class PackagePageInput:
    vat: str | None
    after: int  # keyset: row ids greater than this
    upto: int | None  # and not greater than this (None: the first page, which sets it)
    limit: int


@dataclass
class PackagePage:
    package_ids: list[str]
    last: int  # the row id of the last package in the page (`after` when the page is empty)
    upto: int  # the newest row id when the verification began
    total: int  # packages with a row id up to `upto`
    more: bool = False  # a full page that did not reach `upto`: there may be another


@dataclass
class VerifyPackagesInput:
    package_ids: list[str]


@dataclass
class Fault:
    package_id: str
    kind: str  # "missing" | "altered" | "index-mismatch" | "retention" | "superseded" | "unreadable"
    detail: str
    key: str | None = None


@dataclass
class VerifyReport:
    packages: int = 0
    objects: int = 0
    bytes: int = 0
    faults: list[Fault] = field(default_factory=list)  # the first FAULTS_KEPT found
    faults_total: int = 0  # every fault found, once merged (see fault_count)

    @property
    def ok(self) -> bool:
        return self.fault_count == 0

    @property
    def fault_count(self) -> int:
        """Every fault found, also those beyond the FAULTS_KEPT listed."""
        return max(self.faults_total, len(self.faults))

    def merge(self, other: VerifyReport) -> None:
        self.packages += other.packages
        self.objects += other.objects
        self.bytes += other.bytes
        total = self.fault_count + other.fault_count
        self.faults.extend(other.faults[:max(FAULTS_KEPT - len(self.faults), 0)])
        self.faults_total = total


@dataclass
class FaultMail:
    workflow_id: str
    report: VerifyReport
