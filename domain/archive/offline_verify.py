#!/usr/bin/env python3
"""Offline checker of an einvoice-hub archive export: needs only Python 3 (standard library).

Run it inside the unzipped export:  python3 verify.py [EXPORT_DIR]

It checks, without any network access:
1. every line of SHA256SUMS: the file exists and its SHA-256 matches (and no file is left unlisted);
2. every package in manifest.json: its index (IndiceConservazione.xml) has the SHA-256 the manifest
   records, and every file the index lists exists with the size and SHA-256 fingerprint (impronta) the
   index gives.
Exit status 0 when everything matches, 1 when anything is missing or altered.

An index is read with ElementTree (this script runs where lxml is not, so it cannot use the project's
`domain.xmlsafe`), after a first pass of expat that refuses any DOCTYPE or entity declaration in whatever
encoding (XXE, billion laughs) and an index over the size limit the project's reader has.
"""

from __future__ import annotations

import hashlib
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.parsers import expat

NS = "{urn:einvoice-hub:conservazione:indice:1}"
SUMS = "SHA256SUMS"
MAX_INDEX_BYTES = 2 * 1024 * 1024  # domain.archive.index.MAX_INDEX_BYTES (a test holds them equal)
UNSAFE = "a DOCTYPE or entity declaration is not allowed"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def inside(root: Path, relative: str) -> Path | None:
    """The path of `relative` under root, or None when it would escape it."""
    candidate = (root / relative).resolve()
    return candidate if candidate.is_relative_to(root) else None


def check_sums(root: Path, problems: list[str]) -> int:
    listed: set[str] = set()
    for number, line in enumerate((root / SUMS).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            problems.append(f"{SUMS} line {number}: not '<sha256>  <path>'")
            continue
        listed.add(name)
        path = inside(root, name)
        if path is None:
            problems.append(f"{SUMS} line {number}: {name} points outside the export")
        elif not path.is_file():
            problems.append(f"missing: {name}")
        elif sha256_of(path) != digest:
            problems.append(f"altered: {name} (SHA-256 differs from {SUMS})")
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_file() and name != SUMS and name not in listed:
            problems.append(f"unlisted: {name} is not in {SUMS}")
    return len(listed)


def _refuse(*_declaration: object) -> None:
    raise ValueError(UNSAFE)


def parse_index(data: bytes) -> ET.Element:
    """The index's root element; ValueError for a DOCTYPE or entity declaration or an oversized index,
    expat.ExpatError or ET.ParseError for malformed XML."""
    if len(data) > MAX_INDEX_BYTES:
        raise ValueError(f"index of {len(data)} bytes exceeds the limit of {MAX_INDEX_BYTES} bytes")
    scan = expat.ParserCreate()
    # Called at the DOCTYPE's start, before any declaration in it is read: nothing is expanded or fetched.
    scan.StartDoctypeDeclHandler = _refuse
    scan.EntityDeclHandler = _refuse
    scan.Parse(data, True)
    return ET.fromstring(data)


def check_packages(root: Path, problems: list[str]) -> tuple[int, int]:
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    packages = files = 0
    for pkg in manifest.get("packages", []):
        packages += 1
        pid = pkg.get("package_id", "?")
        index_path = inside(root, pkg.get("index", ""))
        if index_path is None or not index_path.is_file():
            problems.append(f"{pid}: index {pkg.get('index')} missing")
            continue
        data = index_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != pkg.get("index_sha256"):
            problems.append(f"{pid}: index altered (SHA-256 differs from manifest.json)")
        try:
            index = parse_index(data)
        except (ET.ParseError, expat.ExpatError, ValueError) as err:
            problems.append(f"{pid}: index unreadable: {err}")
            continue
        found_id = index.findtext(f"{NS}DescrizioneIndice/{NS}IdPacchetto")
        if found_id != pid:
            problems.append(f"{pid}: the index names package {found_id}")
        for el in index.iterfind(f"{NS}Pacchetto/{NS}File"):
            files += 1
            name = el.findtext(f"{NS}Nome") or ""
            path = inside(index_path.parent, name)
            if path is None or not path.is_file():
                problems.append(f"{pid}: missing file {name}")
                continue
            size = int(el.findtext(f"{NS}Dimensione") or "-1")
            if path.stat().st_size != size:
                problems.append(f"{pid}: {name} has {path.stat().st_size} bytes, the index says {size}")
            if sha256_of(path) != (el.findtext(f"{NS}Impronta") or "").strip():
                problems.append(f"{pid}: {name} altered (SHA-256 differs from its impronta in the index)")
    return packages, files


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parent).resolve()
    problems: list[str] = []
    for required in (SUMS, "manifest.json"):
        if not (root / required).is_file():
            print(f"FAULT: {required} is missing from {root}")
            return 1
    listed = check_sums(root, problems)
    packages, files = check_packages(root, problems)
    for problem in problems:
        print(f"FAULT: {problem}")
    verdict = "OK" if not problems else f"{len(problems)} FAULT(S)"
    print(f"{verdict}: {listed} files in {SUMS}, {packages} packages, {files} indexed files checked")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
