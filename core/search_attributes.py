"""The custom search attributes every workflow sets and every client registers.

Kept here, below both `core.temporal` (which registers them on a namespace) and `workflows/` (which set them),
so that infrastructure never imports orchestration code. Imports only `temporalio.common`: safe inside the
workflow sandbox.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

# Registered on the dev server at start (devstack) and in docker-compose (tests/test_compose.py checks it).
VAT_NUMBER = SearchAttributeKey.for_keyword("VatNumber")
DOCUMENT_ID = SearchAttributeKey.for_keyword("DocumentId")
BUSINESS_STATUS = SearchAttributeKey.for_keyword("BusinessStatus")
SEARCH_ATTRIBUTES = (VAT_NUMBER, DOCUMENT_ID, BUSINESS_STATUS)
