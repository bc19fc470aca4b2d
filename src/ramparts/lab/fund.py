"""The insurance fund a replay starts with, sized from published figures (``--fund``).

A lab fund of a fixed 250,000 USDC is 0.09 % of the open interest of a 2,000-trader Black Thursday
replay; the venues' own funds were hundreds of times that. This module holds what was published
about real funds, and sizes the lab's fund as a share of the run's **open interest** (one side:
the notional of every long position at the open, which equals every short's; the maker's included,
as a venue counts it).

The table
=========

:data:`OBSERVATIONS` lists insurance-fund figures published around crashes
(``ramparts/reference/published-crash-figures.md``, "Insurance funds around crashes" and "Open
interest around crashes", plus two open-interest rankings found since and marked so). Each row
holds the venue, the date, the amount in its currency and its conversion to USD, the open interest
it is compared with where one was published, the sources, and every assumption the comparison
needs; :attr:`FundObservation.ratio` is fund / open interest and :meth:`FundObservation.arithmetic`
writes the sum out. A BTC amount is converted at the BTC/USD daily close of its date from the
shipped ``daily/btcusd_bitstamp-coinbase_daily_2011-2025.csv.gz`` (Bitstamp / Coinbase), unless
the source gives its own USD figure; 1 USDT is taken as 1 USD.

Derived ratios (fund / open interest):

===============================  ==========================================  =========
row                              arithmetic                                  ratio
===============================  ==========================================  =========
``bitmex-xbt-2020-03-11``        35,500 BTC × 7,938.05 / 840 M XBTUSD OI     33.5 %
``bitmex-xbt-2020-03-23``        ≈ 203 M USD (source) / 433 M XBTUSD OI      46.9 %
``bitmex-xbt-2020-05-10``        35,374 BTC × 8,729.86 / 587 M BTC OI        52.6 %
``binance-btcusdt-2020-05-10``   21,005,925 USDT / 314 M BTC OI              6.69 %
``huobi-btc-2020-05-09``         1,536 BTC × 9,537.21 / 114 M BTC OI         12.9 %
``binance-usdm-2025-10-10``      1.23 B USD / 16 B BTC OI (BTC only)         7.69 %
===============================  ==========================================  =========

The BitMEX ratios compare a fund that backs every XBt-margined contract with the XBTUSD (or BTC)
open interest alone, and the 2025 Binance ratio a fund shared by the BTC, ETH and BNB contracts
with the BTC open interest alone: both overstate the fund's share. Not tabulated: the
Binance Futures fund of 11.5 M USDT in January 2020 that issue 3 quotes from Binance's blog (neither
the reference nor a search found the post), Deribit's 391 BTC before Black Thursday and 501.96 BTC
in May 2020 (no Deribit open interest of those dates was found; the rows are kept, without a ratio).

Sizing (:func:`size_fund`)
==========================

A :class:`FundRule` (``--fund``) is one of

* ``auto`` (the commands' default): the ratio of the venue profile's own observation nearest to the
  event's date (``binance``: May 2020 for the 2020–2022 crashes, October 2025 for 2025); a profile
  whose design has no fund (:data:`NO_FUND`: ``hyperliquid``, whose HLP vault is the backstop) gets 0 (basis
  ``design``); a profile without a published pair (``ramparts``, ``dydx``, ``drift``, ``derive``) takes
  :data:`FALLBACK`, **an assumption**: the smallest ratio in the table (Binance BTCUSDT, May 2020,
  6.69 %), the most conservative published figure, since a smaller fund shows more of the layers
  beyond it;
* ``<P>%oi``: P % of the run's open interest (``--fund 5%oi``);
* a USDC amount (``--fund 250000``).

The lab's fund is ratio × open interest, rounded down to a whole USDC; :class:`FundSizing` says
which rule, ratio, observation and source gave it (the summary's ``fund`` block).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from ramparts.errors import InvalidInput

#: Where the table's figures were read (each row cites its own URLs from it).
REFERENCE = "ramparts/reference/published-crash-figures.md"
#: The BTC/USD daily closes used to convert BTC amounts (shipped in ramparts.data).
BTC_USD_DAILY = "ramparts.data daily/btcusd_bitstamp-coinbase_daily_2011-2025.csv.gz (Bitstamp/Coinbase close)"
#: An open-interest ranking found after the reference was written (Bybit's ranking of 2020-05-19, a Cointelegraph copy).
BYBIT_RANKING_2020_05_19 = "http://w4v.net/post/7kXJ2Q (not in the reference: found by search; Bybit's open-interest ranking)"

_COINTELEGRAPH_2020_03 = "https://cointelegraph.com.cach3.com/news/bitmex-insurance-fund-tags-ath-binance-and-deribit-inject-millions/amp.html"
_DELTA_OI = "https://www.delta.exchange/blog/introducing-digital-derivatives/"
_HALVING_DUMP = "http://w4v.net/post/gWybO7"


@dataclass(frozen=True)
class FundObservation:
    """One published insurance-fund figure, and the open interest it is compared with (if any)."""

    key: str
    venue: str  #: the venue profile name where ramparts has one (``binance``), else the venue's name
    scope: str  #: what the fund backs
    date: str  #: ISO date of the fund figure
    amount: float  #: in ``currency``
    currency: str
    usd_per_unit: float
    usd_basis: str  #: how ``amount`` became USD
    source: str
    open_interest_usd: float | None = None
    oi_scope: str = ""
    oi_date: str | None = None
    oi_source: str | None = None
    assumptions: tuple[str, ...] = ()

    @property
    def fund_usd(self) -> float:
        return self.amount * self.usd_per_unit

    @property
    def ratio(self) -> float | None:
        """Fund / open interest (both USD), or ``None`` without a published open interest."""
        return self.fund_usd / self.open_interest_usd if self.open_interest_usd else None

    def arithmetic(self) -> str:
        """The derivation written out: ``35,500 BTC × 7,938.05 USD = 281,800,775 USD; / 840,000,000 USD OI = 33.55 %``."""
        if self.currency == "USD":
            fund = f"{self.fund_usd:,.0f} USD"
        elif "source" in self.usd_basis:
            fund = f"{self.amount:,.0f} {self.currency} ≈ {self.fund_usd:,.0f} USD (the source's figure)"
        else:
            amount = f"{self.amount:,.2f}".rstrip("0").rstrip(".")
            fund = f"{amount} {self.currency} × {self.usd_per_unit:,.2f} USD = {self.fund_usd:,.0f} USD"
        if self.ratio is None:
            return f"{fund}; no open interest published for the date"
        return f"{fund}; / {self.open_interest_usd:,.0f} USD open interest = {self.ratio:.2%}"

    def to_dict(self) -> dict:
        return {"key": self.key, "venue": self.venue, "scope": self.scope, "date": self.date, "amount": self.amount,
                "currency": self.currency, "usd_per_unit": self.usd_per_unit, "usd_basis": self.usd_basis, "fund_usd": self.fund_usd,
                "source": self.source, "open_interest_usd": self.open_interest_usd, "oi_scope": self.oi_scope, "oi_date": self.oi_date,
                "oi_source": self.oi_source, "ratio": self.ratio, "arithmetic": self.arithmetic(), "assumptions": list(self.assumptions)}


_CLOSE = "BTC/USD close of the date, " + BTC_USD_DAILY

#: The published insurance-fund figures (see the module docstring for the derived ratios).
OBSERVATIONS: tuple[FundObservation, ...] = (
    FundObservation(
        "bitmex-xbt-2020-03-11", "bitmex", "BitMEX XBt insurance fund (all XBt-margined contracts)", "2020-03-11",
        35_500, "BTC", 7_938.05, _CLOSE, _COINTELEGRAPH_2020_03,
        open_interest_usd=840e6, oi_scope="BitMEX XBTUSD, before the 12 March fall ($840M → $433M in 12–24 h)", oi_date="2020-03-12",
        oi_source=_DELTA_OI,
        assumptions=("the fund backs every XBt contract, the open interest is XBTUSD alone: the ratio overstates the fund's share",
                     "another source puts XBTUSD open interest at $1.2B before the crash "
                     "(https://www.cryptoiqtrading.com/crypto-derivatives-markets-speculation-smashed-by-this-months-crypto-crash/): 23.5 %",
                     "fund figure of 03-11, open interest of 03-12 (before the fall)")),
    FundObservation(
        "bitmex-xbt-2020-03-23", "bitmex", "BitMEX XBt insurance fund (all XBt-margined contracts)", "2020-03-23",
        34_678, "BTC", 203e6 / 34_678, "the source's own USD figure (≈ $203M)",
        "https://blog.bitmex.com/bitmex-insurance-fund-your-questions-answered/ (as summarised by "
        "https://cryptonews.com/news/bitmex-says-its-btc-35k-isurance-fund-fulfilled-its-role-dur-6092.htm)",
        open_interest_usd=433e6, oi_scope="BitMEX XBTUSD after the fall", oi_date="2020-03-13", oi_source=_DELTA_OI,
        assumptions=("fund of 03-23 against the open interest of 03-13, ten days apart, both after the crash",
                     "the fund backs every XBt contract, the open interest is XBTUSD alone")),
    FundObservation(
        "bitmex-xbt-2020-05-10", "bitmex", "BitMEX XBt insurance fund (all XBt-margined contracts)", "2020-05-10",
        35_374, "BTC", 8_729.86, _CLOSE, f"{_HALVING_DUMP} (Cointelegraph copy)",
        open_interest_usd=587e6, oi_scope="BitMEX BTC futures (Bybit's ranking)", oi_date="2020-05-19", oi_source=BYBIT_RANKING_2020_05_19,
        assumptions=("fund of 05-10 against the open interest of 05-19", "the open-interest source is not in the reference")),
    FundObservation(
        "binance-btcusdt-2020-05-10", "binance", "Binance Futures BTCUSDT insurance fund", "2020-05-10",
        21_005_925, "USDT", 1.0, "1 USDT = 1 USD (assumed)",
        f"{_HALVING_DUMP} ; https://invezz.com/news/2020/05/11/binance-spends-13-million-from-the-insurance-fund",
        open_interest_usd=314e6, oi_scope="Binance BTC futures (Bybit's ranking)", oi_date="2020-05-19", oi_source=BYBIT_RANKING_2020_05_19,
        assumptions=("fund of 05-10, before that day's fall, against the open interest of 05-19: in between the fund fell to "
                     "7,731,989 USDT and Binance pledged 30M USDT",
                     "the open-interest source is not in the reference; another report puts Binance's BTC open interest at "
                     "$252–270M in early May 2020 (7.8–8.3 %)")),
    FundObservation(
        "huobi-btc-2020-05-09", "huobi", "Huobi BTC insurance fund", "2020-05-09",
        1_536, "BTC", 9_537.21, _CLOSE, _HALVING_DUMP,
        open_interest_usd=114e6, oi_scope="Huobi BTC futures (Bybit's ranking)", oi_date="2020-05-19", oi_source=BYBIT_RANKING_2020_05_19,
        assumptions=("fund of 05-09 against the open interest of 05-19", "the open-interest source is not in the reference")),
    FundObservation(
        "binance-usdm-2025-10-10", "binance", "Binance USDⓈ-M insurance fund shared by BTC, ETH and BNB contracts", "2025-10-10",
        1.23e9, "USD", 1.0, "the source's USD figure", "https://www.binance.bh/en/square/post/30856400292745",
        open_interest_usd=16e9, oi_scope="Binance BTC futures (Glassnode), before the fall ($16B → $12B)", oi_date="2025-10-10",
        oi_source="https://pakgazette.com/?p=123261",
        assumptions=("the fund backs BTC, ETH and BNB contracts, the open interest is BTC alone: an upper bound of the ratio",)),
    FundObservation(
        "deribit-btc-2020-03-11", "deribit", "Deribit BTC insurance fund", "2020-03-11",
        391, "BTC", 7_938.05, _CLOSE, _COINTELEGRAPH_2020_03,
        assumptions=("391 → 183 BTC over 12–13 March; Deribit injected 500 BTC", "no Deribit open interest of the date was found")),
    FundObservation(
        "deribit-btc-2020-05-09", "deribit", "Deribit BTC insurance fund", "2020-05-09",
        501.96, "BTC", 9_537.21, _CLOSE, _HALVING_DUMP,
        assumptions=("no Deribit open interest of the date was found",)),
)

#: Venues whose design has no insurance fund: ``auto`` sizes their fund at 0, with the reason (basis ``design``).
NO_FUND: dict[str, str] = {
    "hyperliquid": "Hyperliquid has no insurance fund: its waterfall is user margin → book liquidation → the HLP "
                   "backstop vault (the lab's backstop vault) → ADL (ramparts/reference/open-source-venues.md §4)",
}

#: The venue-profile-less default of ``auto`` (an assumption): the smallest derived ratio in the table.
FALLBACK: FundObservation = min((o for o in OBSERVATIONS if o.ratio is not None), key=lambda o: o.ratio)  # type: ignore[arg-type,return-value]

_SHARE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*%\s*oi\s*$", re.IGNORECASE)
_SYNTAX = "auto, a USDC amount (250000) or a share of the open interest (5%oi)"


@dataclass(frozen=True)
class FundRule:
    """How the lab's fund is sized: ``auto``, a USDC ``amount`` or a ``share`` (fraction) of the open interest."""

    kind: str = "auto"
    value: Decimal | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("auto", "amount", "share"):
            raise InvalidInput("fund", f"unknown rule {self.kind!r} (auto, amount or share)")
        if self.kind == "auto":
            if self.value is not None:
                raise InvalidInput("fund", "auto takes no value")
            return
        v = self.value
        if not isinstance(v, Decimal) or not v.is_finite():
            raise InvalidInput("fund", f"expected {_SYNTAX}, got {v!r}")
        if self.kind == "amount" and not (0 <= v < Decimal("1e12")):
            raise InvalidInput("fund", f"a USDC amount must lie in [0, 1e12), got {v}")
        if self.kind == "share" and not (0 <= v <= 10):
            raise InvalidInput("fund", f"a share of the open interest must lie in [0 %, 1000 %], got {v * 100}%")

    @classmethod
    def parse(cls, text: str | float | int | Decimal | FundRule) -> FundRule:
        """``"auto"``, ``"250000"`` (USDC) or ``"5%oi"`` (5 % of the open interest)."""
        if isinstance(text, FundRule):
            return text
        if isinstance(text, (int, float, Decimal)) and not isinstance(text, bool):
            try:
                return cls("amount", Decimal(repr(text)) if isinstance(text, float) else Decimal(text))
            except InvalidOperation:
                raise InvalidInput("fund", f"expected {_SYNTAX}, got {text!r}") from None
        if not isinstance(text, str):
            raise InvalidInput("fund", f"expected {_SYNTAX}, got {text!r}")
        t = text.strip()
        if t.lower() == "auto":
            return cls()
        m = _SHARE.match(t)
        if m:
            return cls("share", Decimal(m.group(1)) / 100)
        try:
            v = Decimal(t.replace("_", "").replace(",", ""))
        except InvalidOperation:
            raise InvalidInput("fund", f"expected {_SYNTAX}, got {text!r}") from None
        return cls("amount", v)

    def __str__(self) -> str:
        if self.kind == "auto":
            return "auto"
        if self.kind == "share":
            return f"{(self.value * 100).normalize():f}%oi"  # type: ignore[operator]
        return f"{self.value.normalize():f}"  # type: ignore[union-attr]


@dataclass(frozen=True)
class FundSizing:
    """The fund a run starts with and why."""

    rule: str
    amount_usdc: Decimal
    open_interest_usdc: float
    ratio_to_open_interest: float | None
    basis: str  #: ``published`` (the venue's own figure), ``design`` (:data:`NO_FUND`), ``assumption`` (:data:`FALLBACK`) or ``explicit``
    observation: str | None
    source: str
    explanation: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "amount_usdc": float(self.amount_usdc), "open_interest_usdc": self.open_interest_usdc,
                "ratio_to_open_interest": self.ratio_to_open_interest, "basis": self.basis, "observation": self.observation,
                "source": self.source, "explanation": self.explanation}


def _as_date(when: str | date | datetime | int) -> date:
    if isinstance(when, datetime):
        return when.astimezone(UTC).date() if when.tzinfo else when.date()
    if isinstance(when, date):
        return when
    if isinstance(when, int) and not isinstance(when, bool):
        return datetime.fromtimestamp(when / 1e9, UTC).date()  # nanoseconds, as the lab's times
    if isinstance(when, str):
        try:
            return date.fromisoformat(when[:10])
        except ValueError:
            pass
    raise InvalidInput("date", f"expected an ISO date, a datetime or nanoseconds since the epoch, got {when!r}")


def published(venue: str, when: str | date | datetime | int) -> FundObservation | None:
    """The venue's observation with a ratio nearest to ``when`` (ties: the earlier), or ``None``."""
    d = _as_date(when)
    rows = [o for o in OBSERVATIONS if o.venue == venue.strip().lower() and o.ratio is not None]
    if not rows:
        return None
    return min(rows, key=lambda o: (abs((date.fromisoformat(o.date) - d).days), o.date))


def size_fund(rule: FundRule | str | float | Decimal, *, venue: str, when: str | date | datetime | int,
              open_interest_usdc: float | Decimal) -> FundSizing:
    """The fund for a run of venue profile ``venue`` whose event starts ``when``, with ``open_interest_usdc``
    of open interest (one side) at the open: ratio × open interest, rounded down to a whole USDC."""
    rule = FundRule.parse(rule)
    oi = float(open_interest_usdc)
    if not (math.isfinite(oi) and oi >= 0):
        raise InvalidInput("open_interest_usdc", f"must be finite and non-negative, got {open_interest_usdc!r}")
    oi_dec = open_interest_usdc if isinstance(open_interest_usdc, Decimal) else Decimal(repr(oi))
    day = _as_date(when).isoformat()
    if rule.kind == "amount":
        amount = rule.value.quantize(Decimal(1), rounding="ROUND_FLOOR")  # type: ignore[union-attr]
        ratio = float(amount) / oi if oi else None
        share = "" if ratio is None else f" ({ratio:.3%} of the open interest {oi:,.0f} USDC)"
        return FundSizing(str(rule), amount, oi, ratio, "explicit", None, f"--fund {rule}", f"{amount:,} USDC as given{share}")
    if rule.kind == "share":
        ratio_d = rule.value
        amount = (ratio_d * oi_dec).quantize(Decimal(1), rounding="ROUND_FLOOR")  # type: ignore[operator]
        return FundSizing(str(rule), amount, oi, float(ratio_d), "explicit", None, f"--fund {rule}",  # type: ignore[arg-type]
                          f"{float(ratio_d):.3%} × open interest {oi:,.0f} USDC = {amount:,} USDC, as given")
    design = NO_FUND.get(venue.strip().lower())
    if design is not None:
        return FundSizing("auto", Decimal(0), oi, 0.0, "design", None, "ramparts/reference/open-source-venues.md §4",
                          f"0 USDC: {design}")
    obs = published(venue, day)
    basis = "published"
    if obs is None:
        obs, basis = FALLBACK, "assumption"
    ratio_d = Decimal(repr(obs.ratio))
    amount = (ratio_d * oi_dec).quantize(Decimal(1), rounding="ROUND_FLOOR")
    why = (f"{venue}'s published fund nearest {day}" if basis == "published"
           else f"no published fund/open-interest pair for {venue}: assumed the smallest published ratio")
    text = (f"{obs.ratio:.3%} × open interest {oi:,.0f} USDC = {amount:,} USDC; {why}: {obs.key} "
            f"({obs.arithmetic()})")
    source = obs.source + ("" if obs.oi_source is None else f" ; open interest: {obs.oi_source}")
    return FundSizing("auto", amount, oi, obs.ratio, basis, obs.key, source, text)


__all__ = ["FALLBACK", "NO_FUND", "OBSERVATIONS", "REFERENCE", "FundObservation", "FundRule", "FundSizing", "published", "size_fund"]
