"""Compliance and oversight: audit trail, consent ledger, opt-out confirmations and intent, retention and
the data subject's rights (export, erasure)."""
