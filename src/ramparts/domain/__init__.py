"""The domain model: assets, instruments and accounts, the nouns every layer speaks.

Nothing here holds mutable risk state; that lives in the engine's struct-of-arrays stores.
"""

from ramparts.domain.accounts import MarginMode, SubAccount, SubAccountId
from ramparts.domain.assets import Asset
from ramparts.domain.instruments import Instrument, InstrumentKind

__all__ = ["Asset", "Instrument", "InstrumentKind", "MarginMode", "SubAccount", "SubAccountId"]
