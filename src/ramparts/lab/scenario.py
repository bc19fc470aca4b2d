"""Scenario files: every assumed parameter of a lab run, named, with its source or marked as an assumption.

A scenario file (TOML) holds the crowd a replay runs (:mod:`ramparts.lab.crowd`), the open interest it is matched
to per event, the liquidity model and the members' behaviour. Each parameter is written either as a table
``{ value = ..., source = "..." }`` or ``{ value = ..., assumption = "..." }``; a bare value is accepted in a user's
file and reported as an assumption of that file. :data:`DEFAULT_SCENARIO` ships with the package
(``ramparts/lab/scenarios/default.toml``) and is what ``replay`` and ``compare`` run unless ``--population FILE``
names another.

Sections: ``[population]`` (``n_accounts``, ``seed``, ``warmup_hours``, ``maker_collateral_multiple``),
``[open_interest]`` (event name → USD), ``[market_open_interest]`` (asset → open interest relative to the first
market, for replays of several markets), ``[liquidity]`` (:class:`~ramparts.lab.liquidity.LiquidityModel` fields),
``[behaviour]`` (:class:`~ramparts.lab.crowd.CrowdSpec` reaction fields, hours for ``dip_window_hours``) and one
``[types.NAME]`` table per account type (:class:`~ramparts.lab.crowd.AccountType` fields).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ramparts.errors import DataError, InvalidInput
from ramparts.lab.crowd import AccountType, CrowdSpec
from ramparts.lab.liquidity import LiquidityModel

#: The scenario that ships with ramparts.
DEFAULT_SCENARIO = Path(__file__).resolve().parent / "scenarios" / "default.toml"

_POPULATION = {"n_accounts": int, "seed": int, "warmup_hours": float, "maker_collateral_multiple": float,
               "max_account_share": float}
_BEHAVIOUR = {"warn_ratio": float, "target_ratio": float, "topup_delay_s": float, "delay_sigma": float, "dip_step": float,
              "dip_share": float, "dip_window_hours": float, "dip_leverage_median": float}
_LIQUIDITY = {"depth": float, "k": float, "half_life_s": float, "depth_multiplier": float, "max_displacement": float,
              "law": str, "gamma": float}
_TYPE = {"kind": str, "share": float, "long_fraction": float, "leverage_median": float, "leverage_sigma": float,
         "leverage_cap": float, "collateral_median": float, "collateral_sigma": float, "isolated": bool, "markets": int,
         "topup_probability": float, "topup_reserve": float, "derisk_probability": float, "derisk_fraction": float}


@dataclass(frozen=True)
class Param:
    """One parameter: its dotted name, value, and where it comes from (``kind`` is ``source`` or ``assumption``)."""

    name: str
    value: Any
    kind: str
    note: str


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario file."""

    path: str
    crowd: CrowdSpec
    liquidity: LiquidityModel
    open_interest: dict[str, float]
    params: tuple[Param, ...] = field(default=())

    def for_event(self, event: str) -> tuple[CrowdSpec, Param | None]:
        """The crowd matched to ``event``'s open interest (the figure's :class:`Param`, or ``None`` if unmatched)."""
        oi = self.open_interest.get(event)
        if oi is None:
            return replace(self.crowd, open_interest_usd=None), None
        p = next(x for x in self.params if x.name == f"open_interest.{event}")
        return replace(self.crowd, open_interest_usd=float(oi)), p

    def with_overrides(self, *, n_accounts: int | None = None, seed: int | None = None) -> Scenario:
        """The same scenario with the command line's ``--accounts`` / ``--seed`` (recorded as such)."""
        crowd, params = self.crowd, list(self.params)
        for name, value in (("n_accounts", n_accounts), ("seed", seed)):
            if value is None:
                continue
            crowd = replace(crowd, **{name: value})
            params = [p for p in params if p.name != f"population.{name}"]
            params.append(Param(f"population.{name}", value, "assumption", "given on the command line"))
        return replace(self, crowd=crowd, params=tuple(params))

    def table(self) -> list[dict]:
        """Every parameter as a row (name, value, source or assumption), for reports and summaries."""
        return [{"name": p.name, "value": p.value, p.kind: p.note} for p in self.params]


def _unwrap(section: str, key: str, raw: Any, want: type, origin: str, params: list[Param]) -> Any:
    name = f"{section}.{key}"
    if isinstance(raw, dict):
        extra = set(raw) - {"value", "source", "assumption"}
        if "value" not in raw or extra or ("source" in raw) == ("assumption" in raw):
            raise InvalidInput(name, "write { value = ..., source = \"...\" } or { value = ..., assumption = \"...\" }")
        value = raw["value"]
        kind = "source" if "source" in raw else "assumption"
        note = str(raw[kind])
    else:
        value, kind, note = raw, "assumption", f"a bare value in {origin}: no source given"
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        raise InvalidInput(name, f"expected {want.__name__}, got {value!r}")
    params.append(Param(name, value, kind, note))
    return value


def _section(doc: dict, section: str, fields: dict[str, type], origin: str, params: list[Param], *,
             required: bool = False) -> dict:
    raw = doc.get(section, {})
    if not isinstance(raw, dict):
        raise InvalidInput(section, "must be a table")
    unknown = set(raw) - set(fields)
    if unknown:
        raise InvalidInput(f"{section}.{sorted(unknown)[0]}", f"unknown parameter; known: {', '.join(fields)}")
    if required:
        missing = set(fields) - set(raw)
        if missing:
            raise InvalidInput(f"{section}.{sorted(missing)[0]}", "missing")
    return {k: _unwrap(section, k, v, fields[k], origin, params) for k, v in raw.items()}


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read a scenario file (default: the shipped one).

    Raises
    ------
    DataError
        The file cannot be read or is not TOML (the message names the file and the line).
    InvalidInput
        A parameter is unknown, mistyped, out of range or missing (its dotted name is the ``field``).
    """
    p = Path(path) if path is not None else DEFAULT_SCENARIO
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read the scenario file {p}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{p}: not a valid TOML scenario file: {exc}") from None
    known = {"population", "open_interest", "market_open_interest", "liquidity", "behaviour", "types"}
    unknown = set(doc) - known
    if unknown:
        raise InvalidInput(sorted(unknown)[0], f"unknown section in {p.name}; known: {', '.join(sorted(known))}")
    origin = p.name
    params: list[Param] = []
    pop = _section(doc, "population", _POPULATION, origin, params)
    beh = _section(doc, "behaviour", _BEHAVIOUR, origin, params)
    liq_doc = dict(doc.get("liquidity", {})) if isinstance(doc.get("liquidity", {}), dict) else doc.get("liquidity")
    by_asset_raw = liq_doc.pop("depth_by_asset", None) if isinstance(liq_doc, dict) else None
    liq = _section({"liquidity": liq_doc}, "liquidity", _LIQUIDITY, origin, params)
    if by_asset_raw is not None:
        if not isinstance(by_asset_raw, dict):
            raise InvalidInput("liquidity.depth_by_asset", "must be a table of ASSET = depth (USD)")
        liq["depth_by_asset"] = {str(k).upper(): _unwrap("liquidity.depth_by_asset", k, v, float, origin, params)
                                 for k, v in by_asset_raw.items()}
    oi_raw = doc.get("open_interest", {})
    if not isinstance(oi_raw, dict):
        raise InvalidInput("open_interest", "must be a table of event = USD")
    oi = {k: _unwrap("open_interest", k, v, float, origin, params) for k, v in oi_raw.items()}
    mw_raw = doc.get("market_open_interest", {})
    if not isinstance(mw_raw, dict):
        raise InvalidInput("market_open_interest", "must be a table of ASSET = open interest relative to the first market")
    weights = {str(k).upper(): _unwrap("market_open_interest", k, v, float, origin, params) for k, v in mw_raw.items()}
    for k, w in weights.items():
        if not 0 < w <= 100:
            raise InvalidInput(f"market_open_interest.{k}", f"must lie in (0, 100], got {w}")
    types_raw = doc.get("types", {})
    if not isinstance(types_raw, dict) or not types_raw:
        raise InvalidInput("types", f"{p.name} defines no account type ([types.NAME] tables)")
    types = []
    for name, body in types_raw.items():
        if not isinstance(body, dict):
            raise InvalidInput(f"types.{name}", "must be a table")
        fields = _section({f"types.{name}": body}, f"types.{name}", _TYPE, origin, params)
        types.append(AccountType(name=name, **fields))
    crowd_kw: dict[str, Any] = {}
    for k in ("n_accounts", "seed", "maker_collateral_multiple", "max_account_share"):
        if k in pop:
            crowd_kw[k] = pop[k]
    if "warmup_hours" in pop:
        crowd_kw["warmup_s"] = pop["warmup_hours"] * 3600.0
    for k, v in beh.items():
        crowd_kw["dip_window_s" if k == "dip_window_hours" else k] = v * 3600.0 if k == "dip_window_hours" else v
    crowd = CrowdSpec(types=tuple(types), market_weights=weights or None, **crowd_kw)
    return Scenario(path=str(p), crowd=crowd, liquidity=LiquidityModel(**liq), open_interest=oi, params=tuple(params))
