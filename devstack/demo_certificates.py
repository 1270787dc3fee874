"""The certificate step of `make demo`: a CSR refused, a CSR accepted and authorized by the built-in CA,
the customer's list, a (cumulative) revocation and the CRL that publishes it."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from rich.console import Console
from rich.table import Table

from core.settings import Settings
from devstack import demo_http as http

console = Console()
DEMO_VAT = "IT02038490237"


def _csr(vat: str, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    """What the customer makes on their side: the private key never leaves them (here: never stored)."""
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, vat[:2]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Demo Forniture S.r.l."),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, vat),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Demo Forniture client")])
    return (x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM))


def _show(api: str, vat: str) -> None:
    listed = http.get(f"{api}/tenants/{vat}/certificates", timeout=10).json()
    table = Table(title=f"GET {api}/tenants/{vat}/certificates")
    for col in ["Operation id", "Certificate", "Kind", "State", "Requested", "Expires", "Added by"]:
        table.add_column(col)

    def day(iso: str | None) -> str:
        return f"{iso[8:10]}/{iso[5:7]}/{iso[:4]}" if iso else ""

    for c in listed["certificates"][-5:]:
        table.add_row(c["operation_id"], c["file_name"], c["kind"], c["state_label"], day(c["requested_at"]),
                      day(c["expires_at"]), c["added_by"])
    console.print(table)


def step_certificates(settings: Settings, ctx: dict[str, object]) -> None:
    console.rule("[bold]3. Certificates: request (CSR), authorization, list, revocation, CRL")
    api = settings.public_base_url
    vat = str(ctx.get("vat", DEMO_VAT))
    weak = http.post(f"{api}/tenants/{vat}/certificates", timeout=30,
                      files={"csr": ("weak.csr", _csr(vat, rsa.generate_private_key(65537, 1024)))})
    console.print(f"a CSR with a 1024-bit RSA key is refused before any workflow: {weak.status_code} "
                  f"{weak.json()['detail']}")
    resp = http.post(f"{api}/tenants/{vat}/certificates", timeout=120,
                      files={"csr": ("demo.csr", _csr(vat, ec.generate_private_key(ec.SECP256R1())))},
                      data={"kind": "authentication", "wait": "true"})
    resp.raise_for_status()
    cert = resp.json()
    console.print(f"POST {api}/tenants/{vat}/certificates → {resp.status_code}: workflow cert-{cert['operation_id']} "
                  f"went ordered → accepted → {cert['state_label']}, serial {cert['serial']}")
    _show(api, vat)
    revoked = http.post(f"{api}/tenants/{vat}/certificates/revocations", json={"reason": "renewal"},
                         timeout=60)
    revoked.raise_for_status()
    result = revoked.json()
    console.print(f"POST {api}/tenants/{vat}/certificates/revocations (reason renewal → RFC 5280 superseded) → "
                  f"{'cumulative, ' if result['cumulative'] else ''}revoked {result['revoked_count']} "
                  f"certificate(s)")
    _show(api, vat)
    crl = x509.load_der_x509_crl(http.get(f"{api}/certificates/crl", timeout=10).content)
    console.print(f"GET {api}/certificates/crl: {len(list(crl))} revoked serial(s), signed by "
                  f"{crl.issuer.rfc4514_string()}; the CA certificate: GET {api}/certificates/ca.pem")
    console.print(f"in the Web UI: {settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows"
                  f"?query=WorkflowId%3D%22cert-{cert['operation_id']}%22")
    ctx["certificate"] = cert["operation_id"]
