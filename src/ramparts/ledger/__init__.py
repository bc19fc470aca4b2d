"""The exact double-entry ledger: integer base units per asset, balanced postings only."""

from ramparts.ledger.ledger import Ledger, LedgerKey, category_of

__all__ = ["Ledger", "LedgerKey", "category_of"]
