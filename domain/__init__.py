"""Pure domain code: identifiers, CSR policy, FatturaPA, signatures, archive index. No I/O frameworks."""
