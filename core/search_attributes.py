"""The custom search attributes every workflow sets and every client registers.

Kept here, below both `core.temporal` (which registers them on a namespace) and `workflows/` (which set them),
so that infrastructure never imports orchestration code. Imports only `temporalio.common`: safe inside the
workflow sandbox.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

# Registered on the dev server at start (devstack) and in docker-compose (tests/test_compose.py checks it).
# Opaque keys only (core/search_keys.py): Temporal stores search attributes in clear, so never a VAT number
# (a sole trader's is its codice fiscale) or an SDI file name (it starts with the transmitter's).
CUSTOMER_KEY = SearchAttributeKey.for_keyword("CustomerKey")
DOCUMENT_ID = SearchAttributeKey.for_keyword("DocumentId")
BUSINESS_STATUS = SearchAttributeKey.for_keyword("BusinessStatus")
SEARCH_ATTRIBUTES = (CUSTOMER_KEY, DOCUMENT_ID, BUSINESS_STATUS)
