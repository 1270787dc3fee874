"""One settings object, read from environment variables.

The defaults describe the embedded stack that `einvoice dev up` starts on this machine, so a fresh
checkout runs with no configuration; docker-compose and production override them through the
environment. Every variable is listed in the README's configuration table (a test keeps them in step).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-not-secret"  # refused outside the embedded stack (core/secrets.py)
DEV_SEARCH_KEY_SECRET = "dev-only-search-keys"  # likewise (core/search_keys.py)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # Where the embedded stack keeps its state (Temporal's SQLite file, the app database, e-mails, keys).
    data_dir: Path = Field(default=Path(".einvoice"), alias="DATA_DIR")

    temporal_address: str = Field(default="127.0.0.1:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field(default="einvoice", alias="TEMPORAL_TASK_QUEUE")
    temporal_ui_port: int = Field(default=8233, alias="TEMPORAL_UI_PORT")
    temporal_ui_url: str = Field(default="", alias="TEMPORAL_UI_URL")

    # Empty means the embedded SQLite file in DATA_DIR.
    database_url: str = Field(default="", alias="DATABASE_URL")

    s3_endpoint_url: str = Field(default="http://127.0.0.1:9000", alias="S3_ENDPOINT_URL")
    s3_bucket: str = Field(default="einvoice-archive", alias="S3_BUCKET")
    s3_region: str = Field(default="us-east-1", alias="S3_REGION")
    s3_access_key_id: str = Field(default="einvoice", alias="S3_ACCESS_KEY_ID")
    s3_secret_access_key: SecretStr = Field(default=SecretStr("einvoice-secret"), alias="S3_SECRET_ACCESS_KEY")

    smtp_host: str = Field(default="127.0.0.1", alias="SMTP_HOST")
    smtp_port: int = Field(default=1025, alias="SMTP_PORT")
    smtp_user: str = Field(default="", alias="SMTP_USER")
    smtp_password: SecretStr = Field(default=SecretStr(""), alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(default=False, alias="SMTP_STARTTLS")
    mail_from: str = Field(default="einvoice-hub <noreply@einvoice-hub.local>", alias="MAIL_FROM")
    # Who receives the partner's activation e-mails (the intermediary's own address).
    partner_email: str = Field(default="partner@einvoice-hub.local", alias="PARTNER_EMAIL")

    api_host: str = Field(default="127.0.0.1", alias="API_HOST")
    api_port: int = Field(default=8000, alias="API_PORT")
    # The address customers reach the API at: links in e-mails are built from it.
    public_base_url: str = Field(default="", alias="PUBLIC_BASE_URL")
    # Signs acceptance-link tokens. The embedded default is for local work only.
    # Comma-separated, newest first: the first signs, every one is accepted (rotation; core/secrets.py).
    secret_key: SecretStr = Field(default=SecretStr(DEV_SECRET_KEY), alias="SECRET_KEY")
    # Keys the customer and document identifiers in workflow ids and search attributes (core/search_keys.py).
    # Never rotated: the keys are part of workflow ids.
    search_key_secret: SecretStr = Field(default=SecretStr(DEV_SEARCH_KEY_SECRET), alias="SEARCH_KEY_SECRET")
    # Set by `einvoice dev up`: the development defaults (SECRET_KEY, PAYLOAD_CODEC_KEY) are allowed.
    embedded: bool = Field(default=False, alias="EINVOICE_EMBEDDED")
    # How long an HTTP request may wait for a slow party (a certificate request with wait=true) before it is
    # answered with the state so far and a link to follow.
    http_wait_seconds: float = Field(default=30.0, gt=0, le=300, alias="HTTP_WAIT_SECONDS")
    # The browser that prints an invoice's PDF copy; empty: `chromium` on PATH. Without one, PDF is refused.
    chromium_path: str = Field(default="", alias="CHROMIUM_PATH")
    # Encrypts workflow payloads at rest in Temporal: comma-separated base64 32-byte keys, the first encrypts.
    # Empty: a key kept in DATA_DIR/codec.key (embedded stack). "off" disables encryption.
    payload_codec_key: SecretStr = Field(default=SecretStr(""), alias="PAYLOAD_CODEC_KEY")
    # Bearer token an operator's Temporal UI must present to the codec endpoint; empty: loopback only.
    codec_auth_token: SecretStr = Field(default=SecretStr(""), alias="CODEC_AUTH_TOKEN")

    # identity
    # Lifetime of an API token given at login; failed logins allowed per account and per client address
    # within the window before further attempts are refused (429) until it has passed.
    api_token_hours: int = Field(default=12, ge=1, le=24 * 90, alias="API_TOKEN_HOURS")
    login_max_failures_per_account: int = Field(default=5, ge=1, alias="LOGIN_MAX_FAILURES_PER_ACCOUNT")
    login_max_failures_per_address: int = Field(default=20, ge=1, alias="LOGIN_MAX_FAILURES_PER_ADDRESS")
    login_failure_window_seconds: int = Field(default=900, ge=1, alias="LOGIN_FAILURE_WINDOW_SECONDS")

    # certificates
    # The built-in CA (keys in DATA_DIR/ca): validity of the certificates it issues, how long it takes to
    # decide (a simulated authorization time), and a regular expression of subjects it refuses.
    ca_validity_days: int = Field(default=365, alias="CA_VALIDITY_DAYS")
    ca_decision_delay_seconds: float = Field(default=0.0, alias="CA_DECISION_DELAY_SECONDS")
    ca_deny_subject_pattern: str = Field(default="", alias="CA_DENY_SUBJECT_PATTERN")
    # Days before expiry on which the customer is reminded, comma-separated.
    cert_reminder_days: str = Field(default="30,7,1", alias="CERT_REMINDER_DAYS")

    # mutual TLS (api/tls.py): serve the API over TLS; every authenticated route then also needs a client
    # certificate issued by our CA. The server's certificate and key (PEM files); empty: one issued by our CA
    # for API_TLS_NAMES, kept in DATA_DIR/tls. Operators present a certificate of API_TLS_OPERATOR_VAT (the
    # intermediary itself, registered as a customer); empty: operators cannot work over mutual TLS.
    api_tls: bool = Field(default=False, alias="API_TLS")
    api_tls_cert: str = Field(default="", alias="API_TLS_CERT")
    api_tls_key: str = Field(default="", alias="API_TLS_KEY")
    api_tls_names: str = Field(default="localhost,127.0.0.1", alias="API_TLS_NAMES")
    api_tls_operator_vat: str = Field(default="", alias="API_TLS_OPERATOR_VAT")

    # contracts
    # (CONSERVATION_MANAGER_EMAIL, who gets their access on activation, is declared in the conservation block.)
    # A contract awaiting acceptance: reminders this many days after the invitation, expiry after that many.
    contract_reminder_days: str = Field(default="3,7,14", alias="CONTRACT_REMINDER_DAYS")
    contract_expiry_days: int = Field(default=30, alias="CONTRACT_EXPIRY_DAYS")
    # The contract e-mail sent again on request (resend): at most this many times per order, and this many in
    # any hour (each goes to the customer's PEC and into the order's history).
    contract_resend_max_per_order: int = Field(default=5, ge=1, le=100, alias="CONTRACT_RESEND_MAX_PER_ORDER")
    contract_resend_max_per_hour: int = Field(default=2, ge=1, le=100, alias="CONTRACT_RESEND_MAX_PER_HOUR")

    # invoices
    # The SDI (the local simulator by default): RiceviFile at <SDI_URL>/SdIRiceviFile, the recipient's
    # outcome at <SDI_URL>/SdIRiceviNotifica. https:// with SDI_CLIENT_CERT/KEY for mutual TLS.
    sdi_url: str = Field(default="http://127.0.0.1:8010", alias="SDI_URL")
    sdi_sim_port: int = Field(default=8010, alias="SDI_SIM_PORT")
    # Where the SDI calls us back (our TrasmissioneFatture and RicezioneFatture endpoints); empty means
    # <PUBLIC_BASE_URL>/sdi.
    sdi_callback_url: str = Field(default="", alias="SDI_CALLBACK_URL")
    sdi_client_cert: str = Field(default="", alias="SDI_CLIENT_CERT")
    sdi_client_key: str = Field(default="", alias="SDI_CLIENT_KEY")
    sdi_ca_cert: str = Field(default="", alias="SDI_CA_CERT")
    # The SDI's signing certificate (PEM): notifications signed by any other key are refused. Empty means
    # <DATA_DIR>/sdisim/signer.pem, written by the local simulator (enforced once the file exists).
    sdi_signer_cert: str = Field(default="", alias="SDI_SIGNER_CERT")
    # The intermediary's own key alias in the key store (DATA_DIR/keys), used when signing by delegation.
    sdi_delegated_key_alias: str = Field(default="intermediary", alias="SDI_DELEGATED_KEY_ALIAS")
    # Local simulator only: seconds before its first notification, and before DT/AT (15 days in reality).
    sdi_sim_delay: float = Field(default=1.0, alias="SDI_SIM_DELAY")
    sdi_sim_dt_delay: float = Field(default=1296000.0, alias="SDI_SIM_DT_DELAY")

    # KSeF (Poland): the API's base URL (the local simulator by default; the test environment is
    # https://api-test.ksef.mf.gov.pl/v2) and the local simulator's port.
    ksef_url: str = Field(default="http://127.0.0.1:8011/v2", alias="KSEF_URL")
    ksef_sim_port: int = Field(default=8011, alias="KSEF_SIM_PORT")
    # A customer's KSeF interactive session is closed this long after its last invoice was sent or answered
    # (a burst shares one session), and this long before KSeF's validUntil whatever is going on.
    # Which QR host the codes of an offline invoice name (test | demo | production: kody-qr.md).
    ksef_qr_environment: Literal["test", "demo", "production"] = Field(default="test", alias="KSEF_QR_ENVIRONMENT")
    ksef_session_idle_seconds: int = Field(default=300, gt=0, alias="KSEF_SESSION_IDLE_SECONDS")
    ksef_session_margin_seconds: int = Field(default=600, ge=0, alias="KSEF_SESSION_MARGIN_SECONDS")
    # How long one SDICoop call may take (connect, send, answer) before it counts as failed and is retried.
    sdi_timeout_seconds: float = Field(default=20.0, gt=0, alias="SDI_TIMEOUT_SECONDS")
    # The notification sweep (a Temporal Schedule) runs this often, and signals again every stored notification
    # its invoice workflow has not been given this long after it was stored (Temporal was away at delivery).
    notification_sweep_minutes: int = Field(default=5, ge=1, alias="NOTIFICATION_SWEEP_MINUTES")
    notification_stuck_minutes: int = Field(default=2, ge=1, alias="NOTIFICATION_STUCK_MINUTES")
    # The SDI owes an answer (RC, MC or NS) within 5 days of receiving a file: an invoice still without one this
    # many hours after transmission is flagged (BusinessStatus sdi-silent, one e-mail to PARTNER_EMAIL) and
    # still completes when the answer comes.
    invoice_sdi_silence_hours: int = Field(default=120, ge=1, le=24 * 30, alias="INVOICE_SDI_SILENCE_HOURS")

    @property
    def sdi_callback_base(self) -> str:
        return (self.sdi_callback_url or f"{self.public_base_url}/sdi").rstrip("/")

    @property
    def sdi_signer_cert_path(self) -> Path:
        return Path(self.sdi_signer_cert) if self.sdi_signer_cert else self.data_dir / "sdisim" / "signer.pem"

    # conservation
    # Object Lock retention (COMPLIANCE) of every archived object, in calendar years.
    archive_retention_years: int = Field(default=10, ge=1, le=100, alias="ARCHIVE_RETENTION_YEARS")
    # Files from this size up go to S3 by multipart upload, in parts of ARCHIVE_MULTIPART_PART_SIZE.
    archive_multipart_threshold: int = Field(default=16 * 1024 * 1024, ge=1, alias="ARCHIVE_MULTIPART_THRESHOLD")
    archive_multipart_part_size: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024,
                                             alias="ARCHIVE_MULTIPART_PART_SIZE")
    # How often the scheduled archive verification runs.
    archive_verify_every_days: int = Field(default=7, ge=1, alias="ARCHIVE_VERIFY_EVERY_DAYS")
    # The conservation manager (responsabile della conservazione): receives archive faults.
    conservation_manager_email: str = Field(default="conservazione@einvoice-hub.local",
                                            alias="CONSERVATION_MANAGER_EMAIL")

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'einvoice.db').resolve()}"
        if not self.public_base_url:
            scheme = "https" if self.api_tls else "http"
            self.public_base_url = f"{scheme}://{self.api_host}:{self.api_port}"
        if not self.temporal_ui_url:
            host = self.temporal_address.rsplit(":", 1)[0]
            self.temporal_ui_url = f"http://{host}:{self.temporal_ui_port}"
        return self

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite:///"
        return Path(self.database_url[len(prefix):]) if self.database_url.startswith(prefix) else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings(...)` instead of patching this."""
    return Settings()
