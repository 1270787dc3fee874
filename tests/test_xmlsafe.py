"""The one safe XML parser (`domain.xmlsafe`): every reader of outside XML refuses XXE, billion laughs, an
external DTD and oversized input through it, and no product module builds a parser of its own (a fourth
copy of the parser fails this module)."""

from __future__ import annotations

import ast
import socket
import sys
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.parsers import expat

import pytest

import domain.fatturapa  # noqa: F401  (before domain.signatures)
from domain.archive import offline_verify
from domain.archive.index import MAX_INDEX_BYTES, build_index, parse_index
from domain.errors import InvalidInput
from domain.fatturapa import MAX_FILE_SIZE, load_invoice
from domain.sdi import messages, soap
from domain.sdi.documents import MAX_ENVELOPE_SIZE, MAX_NOTIFICATION_SIZE
from domain.signatures import verify_xades
from domain.xmlsafe import UNSAFE, parse_untrusted
from tests.invoices_support import invoice
from tests.test_archive_index import _index

ROOT = Path(__file__).resolve().parent.parent
SAFE_MODULE = Path("domain/xmlsafe.py")
# A standalone script shipped in every archive export, run where only the standard library is: it checks
# DOCTYPE and entities with expat itself (tested below).
STDLIB_SCRIPT = Path("domain/archive/offline_verify.py")
NOW = datetime(2026, 6, 1, tzinfo=UTC)


# ---------------------------------------------------------------- no product module parses on its own

LXML_PARSES = {"fromstring", "XML", "parse", "iterparse", "fromstringlist", "XMLID", "XMLDTDID", "HTML"}
LXML_PARSERS = {"XMLParser", "XMLPullParser", "HTMLParser", "HTMLPullParser", "ETCompatXMLParser", "XMLTreeBuilder"}
STDLIB_XML = ("xml", "defusedxml")


def _is_safe_parser(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == "safe_parser")
        or (isinstance(node.func, ast.Attribute) and node.func.attr == "safe_parser"))


def unsafe_xml(source: str) -> list[str]:
    """Each place in `source` that parses XML other than through domain.xmlsafe: a parser built, an lxml
    parse without `safe_parser()`, or a standard-library XML module imported."""
    tree = ast.parse(source)
    modules: set[str] = set()  # names bound to lxml.etree
    functions: dict[str, str] = {}  # names bound to lxml.etree functions
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "lxml.etree":
                    modules.add(alias.asname or "lxml")
                if alias.name.split(".")[0] in STDLIB_XML:
                    found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "lxml":
                modules.update(a.asname or a.name for a in node.names if a.name == "etree")
            elif node.module == "lxml.etree":
                functions.update({a.asname or a.name: a.name for a in node.names})
            elif node.module.split(".")[0] in STDLIB_XML:
                found.append(f"line {node.lineno}: from {node.module} import ...")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = None
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            if node.func.value.id in modules:
                name = node.func.attr
        elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Attribute):
            if node.func.value.attr == "etree":  # lxml.etree.fromstring(...)
                name = node.func.attr
        elif isinstance(node.func, ast.Name) and node.func.id in functions:
            name = functions[node.func.id]
        if name in LXML_PARSERS:
            found.append(f"line {node.lineno}: etree.{name}(...) builds a parser")
        elif name in LXML_PARSES:
            parser = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "parser"), None)
            if parser is None or not _is_safe_parser(parser):
                found.append(f"line {node.lineno}: etree.{name}(...) without safe_parser()")
    return found


def product_modules() -> Iterator[Path]:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["packages"]
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_no_product_module_parses_xml_but_through_the_safe_module() -> None:
    offenders = {}
    for path in product_modules():
        relative = path.relative_to(ROOT)
        if relative in (SAFE_MODULE, STDLIB_SCRIPT):
            continue
        found = unsafe_xml(path.read_text(encoding="utf-8"))
        if found:
            offenders[str(relative)] = found
    assert offenders == {}, f"parse XML with domain.xmlsafe (parse_untrusted, load_vendored): {offenders}"


@pytest.mark.parametrize("source", [
    "from lxml import etree\np = etree.XMLParser(resolve_entities=False)",
    "from lxml import etree\nroot = etree.fromstring(data)",
    "from lxml import etree as ET\nroot = ET.fromstring(data, parser)",
    "import lxml.etree\nroot = lxml.etree.parse(path)",
    "from lxml.etree import XMLParser as P\np = P()",
    "from lxml.etree import fromstring\nroot = fromstring(data, parser=my_parser())",
    "import xml.etree.ElementTree as ET",
    "from xml.dom import minidom",
    "from defusedxml import ElementTree",
])
def test_the_walk_finds_a_parser_of_its_own(source: str) -> None:
    assert unsafe_xml(source)


def test_the_walk_lets_the_safe_parser_through() -> None:
    assert unsafe_xml("from lxml import etree\nfrom domain.xmlsafe import safe_parser\n"
                      "root = etree.fromstring(data, safe_parser())\nel = etree.Element('a')\n"
                      "text = etree.tostring(el)\nxsd = etree.XMLSchema(tree)") == []


def test_the_offline_script_uses_the_standard_library_only() -> None:
    tree = ast.parse((ROOT / STDLIB_SCRIPT).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m.split(".")[0] for m in imported} <= set(sys.stdlib_module_names)
    assert offline_verify.MAX_INDEX_BYTES == MAX_INDEX_BYTES


# ---------------------------------------------------------------- every reader refuses the attacks

@pytest.fixture(scope="module")
def listener() -> Iterator[int]:
    """A local port the network payloads point at: nothing may ever connect to it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        server.setblocking(False)
        yield server.getsockname()[1]
        with pytest.raises(BlockingIOError):
            server.accept()


LAUGHS = '<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
ATTACKS = {
    "xxe-file": ('<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>', "&e;"),
    "xxe-network": ('<!DOCTYPE r [<!ENTITY e SYSTEM "http://127.0.0.1:__PORT__/e">]>', "&e;"),
    "xxe-parameter-entity": ('<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:__PORT__/p"> %p;]>', ""),
    "external-dtd": ('<!DOCTYPE r SYSTEM "http://127.0.0.1:__PORT__/r.dtd">', ""),
    "billion-laughs": (f"<!DOCTYPE r [{LAUGHS}]>", "&lol9;"),
}


def hostile(seed: bytes, attack: str, port: int, encoding: str = "UTF-8") -> bytes:
    """`seed` with the attack's DOCTYPE in front of its root and its entity used in the last text."""
    doctype, ref = ATTACKS[attack]
    text = seed.decode("utf-8")
    head, sep, rest = text.partition("?>")
    body = rest if sep else text
    end = body.rindex("</")
    doc = f'<?xml version="1.0" encoding="{encoding}"?>{doctype.replace("__PORT__", str(port))}' \
          f"{body[:end]}{ref}{body[end:]}"
    return doc.encode(encoding.lower())


def _seeds() -> dict[str, bytes]:
    inv = invoice("XML-1")
    mt = messages.build_mt(78, "IT01234567897_00002.xml", "AAAAAA", "FPA12", "78")
    return {"invoice": inv, "xades": inv, "notification": mt,
            "envelope": soap.build_trasmissione("RicevutaConsegna", soap.FileSdI(77, "IT01234567897_00001_MT_001.xml",
                                                                                 mt)),
            "index": build_index(_index())}


# name: (reader, the field its refusals name, its size limit)
READERS: dict[str, tuple[Callable[[bytes], object], str, int]] = {
    "invoice": (load_invoice, "file", MAX_FILE_SIZE),
    "xades": (verify_xades, "file", MAX_FILE_SIZE),
    "notification": (messages.read_notification, "notification", MAX_NOTIFICATION_SIZE),
    "envelope": (soap.read_trasmissione, "envelope", MAX_ENVELOPE_SIZE),
    "index": (parse_index, "index", MAX_INDEX_BYTES),
}
SEEDS = _seeds()


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_refuses_the_attack_naming_its_field(reader: str, attack: str, listener: int) -> None:
    read, field, _ = READERS[reader]
    with pytest.raises(InvalidInput) as err:
        read(hostile(SEEDS[reader], attack, listener))
    assert [(p.field, p.message) for p in err.value.problems] == [(field, UNSAFE)]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("reader", ["notification", "envelope", "index"])
def test_readers_of_any_encoding_refuse_the_attack_in_utf16_after_parsing(reader: str, attack: str,
                                                                          listener: int) -> None:
    """The bytes hide the DOCTYPE from the check before parsing; the tree's docinfo shows it."""
    read, field, _ = READERS[reader]
    with pytest.raises(InvalidInput) as err:
        read(hostile(SEEDS[reader], attack, listener, "UTF-16"))
    assert err.value.problems[0].field == field
    assert err.value.problems[0].message == UNSAFE or "not well-formed" in err.value.problems[0].message


@pytest.mark.parametrize("reader", ["invoice", "xades"])
def test_sdi_files_in_utf16_are_refused_as_not_utf8(reader: str, listener: int) -> None:
    read, field, _ = READERS[reader]
    with pytest.raises(InvalidInput) as err:
        read(hostile(SEEDS[reader], "xxe-file", listener, "UTF-16"))
    assert err.value.problems[0].field == field and "UTF-8" in err.value.problems[0].message
    assert err.value.problems[0].code == "00200"


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_refuses_an_oversized_document_before_parsing_it(reader: str) -> None:
    read, field, limit = READERS[reader]
    with pytest.raises(InvalidInput) as err:
        read(b"<" + b"a" * limit)
    problem = err.value.problems[0]
    assert problem.field == field and ("exceeds the limit" in problem.message or "SDI limit" in problem.message)


def test_the_safe_parser_names_the_field_and_codes_given() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_untrusted(b"<a>" + b"x" * 100 + b"</a>", "doc", 50, code="00200", size_code="00003")
    assert (err.value.problems[0].field, err.value.problems[0].code) == ("doc", "00003")
    for data, message in [(b"  ", "empty document"), (b"<a>", "not well-formed XML"),
                          (b"<!doctype a><a/>", UNSAFE), (b"<a><!-- <!ENTITY --></a>", UNSAFE)]:
        with pytest.raises(InvalidInput) as err:
            parse_untrusted(data, "doc", 1 << 20, code="00200")
        assert err.value.problems[0].message.startswith(message) and err.value.problems[0].code == "00200"
    with pytest.raises(InvalidInput) as err:
        parse_untrusted("<a>è</a>".encode("latin-1"), "doc", 1 << 20, utf8_only=True)
    assert "not UTF-8 text" in err.value.problems[0].message
    assert parse_untrusted(b"<a>&amp;&#233;</a>", "doc", 1 << 20).text == "&\u00e9"


# ---------------------------------------------------------------- the offline verifier (standard library)

@pytest.mark.parametrize("encoding", ["UTF-8", "UTF-16"])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_the_offline_verifier_refuses_the_attack_in_any_encoding(attack: str, encoding: str, listener: int) -> None:
    """It used to look for `<!DOCTYPE` in the bytes only: in UTF-16 the DOCTYPE and its entities went
    through to ElementTree, which expands internal entities."""
    with pytest.raises(ValueError, match="DOCTYPE or entity declaration"):
        offline_verify.parse_index(hostile(SEEDS["index"], attack, listener, encoding))


def test_the_offline_verifier_refuses_a_doctype_after_a_long_comment() -> None:
    data = SEEDS["index"].replace(b"?>", b"?><!--" + b"x" * 8192 + b"--><!DOCTYPE r SYSTEM 'r.dtd'>", 1)
    with pytest.raises(ValueError, match="DOCTYPE"):
        offline_verify.parse_index(data)


def test_the_offline_verifier_reads_a_genuine_index_and_refuses_an_oversized_one() -> None:
    index = offline_verify.parse_index(SEEDS["index"])
    assert index.findtext(f"{offline_verify.NS}DescrizioneIndice/{offline_verify.NS}IdPacchetto")
    with pytest.raises(ValueError, match="exceeds the limit"):
        offline_verify.parse_index(b"<" + b"a" * MAX_INDEX_BYTES)
    with pytest.raises(expat.ExpatError):
        offline_verify.parse_index(b"<not-xml")
