"""KSeF authentication's bodies (#14.1 groundwork): the AuthTokenRequest XML and the encrypted KSeF token,
their identifiers checked with the vendored schema's own patterns and the contract's schemas."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from lxml import etree

from domain.errors import InvalidInput
from domain.ksef import auth
from domain.xmlsafe import parse_untrusted

SPEC_DIR = Path(__file__).resolve().parent.parent / "domain" / "ksef" / "spec"
XSD = etree.parse(str(SPEC_DIR / "schemat_auth_v2-0.xsd"))
X = {"xsd": "http://www.w3.org/2001/XMLSchema"}
SPEC = json.loads((SPEC_DIR / "open-api.json").read_text("utf-8"))
SCHEMAS = SPEC["components"]["schemas"]
CHALLENGE = "20250604-CR-461EA5B000-537A6BA15D-D7"  # the documentation's example (auth/context-identifier-nip.md)


def _pattern(type_name: str | None = None, element: str | None = None) -> str:
    where = (f"//xsd:simpleType[@name='{type_name}']" if type_name else f"//xsd:element[@name='{element}']")
    return str(XSD.xpath(f"{where}//xsd:pattern/@value", namespaces=X)[0])


def test_our_patterns_are_the_schemas() -> None:
    assert auth.CHALLENGE == _pattern(element="Challenge")
    assert auth.CONTEXT_PATTERNS == {"Nip": _pattern("TNIP"), "InternalId": _pattern("TIID"),
                                     "PeppolId": _pattern("TPeppolId")}
    assert XSD.getroot().get("targetNamespace") == auth.AUTH_NS


def test_the_auth_token_request_is_the_documentations_example() -> None:
    xml = auth.auth_token_request(CHALLENGE, "Nip", "5265877635")
    root = parse_untrusted(xml, "auth", 64 * 1024)
    assert root.tag == f"{{{auth.AUTH_NS}}}AuthTokenRequest"
    n = {"k": auth.AUTH_NS}
    assert [c.tag.split("}")[1] for c in root] == ["Challenge", "ContextIdentifier", "SubjectIdentifierType"]
    assert root.findtext("k:Challenge", namespaces=n) == CHALLENGE
    assert root.findtext("k:ContextIdentifier/k:Nip", namespaces=n) == "5265877635"
    assert root.findtext("k:SubjectIdentifierType", namespaces=n) == "certificateSubject"
    assert not xml.startswith(b"\xef\xbb\xbf") and b'encoding=' in xml.split(b"?>")[0]


@pytest.mark.parametrize(("args", "fields"), [
    (("20250604-CR-461ea5b000-537A6BA15D-D7", "Nip", "5265877635"), {"challenge"}),
    ((CHALLENGE, "Nip", "0265877635"), {"context.value"}),  # a NIP never starts with 0
    ((CHALLENGE, "Pesel", "88102341294"), {"context.type"}),
    (("x", "InternalId", "5265877635"), {"challenge", "context.value"}),  # every problem at once
])
def test_a_bad_identifier_is_refused_naming_it(args: tuple[str, str, str], fields: set[str]) -> None:
    with pytest.raises(InvalidInput) as err:
        auth.auth_token_request(*args)
    assert {p.field for p in err.value.problems} == fields


def test_the_ksef_token_goes_encrypted_with_the_timestamp_as_given() -> None:
    ministry = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = auth.token_auth_request(CHALLENGE, 1749034800123, "Nip", "5265877635", "token-abc", ministry.public_key())
    schema = SCHEMAS["InitTokenAuthenticationRequest"]
    assert set(schema["required"]) <= set(body) <= set(schema["properties"])
    context = body["contextIdentifier"]
    assert isinstance(context, dict) and context["type"] in SCHEMAS["AuthenticationContextIdentifierType"]["enum"]
    oaep = OAEP(mgf=MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert ministry.decrypt(base64.b64decode(str(body["encryptedToken"])), oaep) == b"token-abc|1749034800123"
    assert "token-abc" not in json.dumps(body)
    with pytest.raises(InvalidInput):
        auth.token_auth_request(CHALLENGE, 1749034800.5, "Nip", "5265877635", "t", ministry.public_key())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        auth.token_auth_request(CHALLENGE, 1, "Nip", "5265877635", "", ministry.public_key())


def test_a_ksef_token_as_ksef_issues_it_with_its_own_separators_goes_whole() -> None:
    """open-api.json's example of a generated token holds '|' twice; KSeF reads the timestamp after the last."""
    token = str(SPEC["paths"]["/tokens"]["post"]["responses"]["202"]["content"]["application/json"]["example"]
                ["token"])
    assert token.count("|") == 2
    ministry = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = auth.token_auth_request(CHALLENGE, 1749034800123, "Nip", "5265877635", token, ministry.public_key())
    oaep = OAEP(mgf=MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    plain = ministry.decrypt(base64.b64decode(str(body["encryptedToken"])), oaep).decode()
    assert plain.rsplit("|", 1) == [token, "1749034800123"]


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_the_signed_request_is_an_enveloped_xades_that_verifies(key_type: str) -> None:
    from domain.signatures.devcert import dev_signer
    from domain.signatures.xades import verify_xades

    signer = dev_signer("KSeF auth test", key_type=key_type)
    signed = auth.signed_auth_token_request(CHALLENGE, "Nip", "5265877635", signer)
    verified = verify_xades(signed)
    assert verified.certificate == signer.certificate
    root = parse_untrusted(signed, "auth", 64 * 1024)
    signature = root[-1]
    assert signature.tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"  # enveloped: the root's last child
    refs = signature.findall(".//{http://www.w3.org/2000/09/xmldsig#}Reference")
    assert "" in [r.get("URI") for r in refs]  # the whole AuthTokenRequest is what is signed
    tampered = signed.replace(b"5265877635", b"5265877636")
    from domain.signatures.errors import InvalidSignature

    with pytest.raises(InvalidSignature, match="Digest mismatch"):  # the signed context was changed
        verify_xades(tampered)
