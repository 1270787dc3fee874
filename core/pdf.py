"""Print an HTML page to PDF with headless Chromium (its own `--print-to-pdf`), for the invoice's readable copy.

The page is our own XSLT rendering of an invoice from outside, so the browser gets nothing to reach: no
network (every host, named or by address, resolves to nothing), no extensions, a throw-away profile and
environment, and a time limit. (Turning scripts off would be tidier, but Chromium then prints nothing.)
Without a browser installed the caller gets `Unavailable`, naming the setting to fix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from domain.errors import Unavailable

PRINT_TIMEOUT_SECONDS = 60.0
# What keeps the page off the network: every host, named or by address, resolves to nothing. A constant of
# its own so the test's positive control can print the same page without it and see the requests arrive.
NO_NETWORK = ("--host-resolver-rules=MAP * ~NOTFOUND",)


def find_chromium(configured: str) -> Path:
    """The browser to print with: CHROMIUM_PATH if set, else `chromium` or `chromium-browser` on PATH."""
    candidates = [configured] if configured else ["chromium", "chromium-browser"]
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return Path(found)
    raise Unavailable(f"PDF printing needs Chromium: {configured or 'chromium'} is not installed here "
                      "(install it, or set CHROMIUM_PATH)")


def html_to_pdf(html: str, chromium: Path, timeout: float = PRINT_TIMEOUT_SECONDS) -> bytes:
    with tempfile.TemporaryDirectory(prefix="einvoice-pdf-") as tmp:
        page, out = Path(tmp) / "invoice.html", Path(tmp) / "invoice.pdf"
        page.write_text(html, encoding="utf-8")
        argv = [
            str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions",
            "--disable-background-networking", "--no-first-run", "--no-default-browser-check",
            *NO_NETWORK,
            f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer", f"--print-to-pdf={out}", page.as_uri(),
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "LANG": "C.UTF-8"}
        try:
            done = subprocess.run(argv, env=env, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise Unavailable(f"Chromium did not print the PDF within {timeout:.0f} s") from None
        except OSError as err:
            raise Unavailable(f"Chromium could not be started ({chromium}): {err.strerror}") from None
        pdf = out.read_bytes() if out.exists() else b""
        if not pdf.startswith(b"%PDF-"):
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise Unavailable(f"Chromium printed no PDF (exit {done.returncode}): {tail[0][:200]}")
        return pdf
