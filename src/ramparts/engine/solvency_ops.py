"""Engine methods for proof of liabilities: every sub-account's equity per asset (the tree's
leaves), their totals, and the ``LiabilitiesRoot`` event checked against the ledger.
"""

from __future__ import annotations

from ramparts.engine import events as ev
from ramparts.errors import Rejected


class SolvencyOps:
    """Mixed into :class:`~ramparts.engine.engine.Engine` (see the module docstring)."""

    def account_equities(self) -> dict[str, dict[str, int]]:
        """Equity per sub-account and asset (int base units): the leaves of a proof of liabilities.

        One leaf per sub-account (``account/sub``), because sub-accounts are margined and
        liquidated on their own: a deficit in one is not covered by its owner's other
        sub-accounts, so netting them would hide a liability. The settlement asset's entry is cash +
        unrealised PnL; every other asset held is owed in kind, so its entry is the balance itself
        (not its haircut value). Liquidators' earned penalties are claims
        on the venue too and appear as ``@liquidator/<id>`` (``@`` cannot start an account name).
        The insurance funds, fees and variation-margin settlement accounts are the venue's own.
        """
        asset = self.settlement.symbol
        # the settlement leaf is cash + unrealised PnL; other assets are owed in kind (their balances)
        out: dict[str, dict[str, int]] = {self.subs.name(s): {asset: self.equity(s) - int(self.sub_coll[s])} for s in range(len(self.subs))}
        for a, k, v in self.ledger.items():
            if isinstance(k, int) and a != asset and v:
                out[self.subs.name(k)][a] = v
            if isinstance(k, str) and k.startswith("liquidator:") and v:
                leaf = out.setdefault("@liquidator/" + k.split(":", 1)[1], {})
                leaf[a] = leaf.get(a, 0) + v
        return dict(sorted(out.items()))

    def liabilities_totals(self) -> tuple[int, dict[str, dict[str, str]]]:
        """``(account_count, {asset: {"assets", "liabilities"}})`` of :meth:`account_equities`."""
        eq = self.account_equities()
        totals: dict[str, list[int]] = {}
        for balances in eq.values():
            for a, v in balances.items():
                t = totals.setdefault(a, [0, 0])
                t[0 if v >= 0 else 1] += abs(v)
        return len(eq), {a: {"assets": str(t[0]), "liabilities": str(t[1])} for a, t in sorted(totals.items())}

    def _on_LiabilitiesRoot(self, e: ev.LiabilitiesRoot) -> list[dict]:
        if e.sequence != self.seq:
            raise Rejected("stale_snapshot", f"the tree covers the state after event {e.sequence}, but the engine is at {self.seq}")
        count, totals = self.liabilities_totals()
        if e.account_count != count:
            raise Rejected("liabilities_mismatch", f"the tree has {e.account_count} accounts, the engine {count}")
        claimed = {a: {k: str(v) for k, v in sorted(t.items())} for a, t in sorted(e.totals.items())}
        if claimed != totals:
            raise Rejected("liabilities_mismatch", f"the tree's totals {claimed} differ from the ledger's {totals}")
        if any(r["snapshot_id"] == e.snapshot_id for r in self.liabilities_roots):
            raise Rejected("duplicate", f"snapshot {e.snapshot_id!r} already has a journaled root")
        record = {"snapshot_id": e.snapshot_id, "sequence": e.sequence, "root_hash": e.root_hash, "account_count": count, "totals": totals}
        self.liabilities_roots.append(record)
        return [{"kind": "LiabilitiesRootRecorded", **record}]
