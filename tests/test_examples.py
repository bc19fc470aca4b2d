"""The scripts under ``examples/`` run, and what they print is what the engine did."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _main(name: str):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")["main"]


def test_liquidation_waterfall_walks_every_layer_and_replays(tmp_path):
    out = _main("liquidation_waterfall.py")(["--journal", str(tmp_path / "j.sqlite")])
    assert out["margin_calls"] == 1
    assert out["effects"].get("LiquidationStep", 0) >= 1  # a partial step at 58,900
    assert out["effects"].get("Deleverage", 0) >= 1  # the fund was too small at 56,500
    assert sum(out["totals"].values()) == 0 and -out["totals"]["external"] == (500 + 1500 + 40_000 + 25_000) * 10**6
    assert out["live_hash"] == out["replayed_hash"]
    assert (tmp_path / "j.sqlite").exists()


@pytest.mark.parametrize("path", ["-5", "58900,abc", "nan", "0"])
def test_liquidation_waterfall_refuses_a_bad_price_before_doing_anything(tmp_path, path, capsys):
    with pytest.raises(SystemExit) as err:
        _main("liquidation_waterfall.py")(["--journal", str(tmp_path / "j.sqlite"), "--path", path])
    assert err.value.code == 2 and "is not a positive price" in capsys.readouterr().err
    assert not (tmp_path / "j.sqlite").exists()


def test_remargin_a_book_tracker_agrees_with_a_full_remargin():
    out = _main("remargin_a_book.py")(["--accounts", "20000", "--instruments", "20", "--ticks", "10"])
    # the price only falls and an account holds the instrument at most once, so no account recovers:
    # the breaches the tracker reported tick by tick are exactly those a full re-margin finds at the end
    assert out["newly"] == out["grew"] > 0


def test_the_notebook_reads_the_venue_as_frames():
    import pyarrow as pa

    out = _main("notebook.py")([])
    e, before, after, effects = out["engine"], out["before"], out["after"], out["effects"]
    # one call gives every account's equity, maintenance margin, margin ratio and liquidation price
    assert {"equity", "maintenance_margin", "margin_ratio", "liquidation_price"} <= set(before.columns)
    assert after.equity_units.tolist() == [e.equity(e.sub_index(s)) for s in after.subaccount]
    # the crash's effects, one row each, money in USDC with the exact integers beside it
    assert set(effects.kind) >= {"MarginCall", "LiquidationStep"}
    step = effects[effects.kind == "LiquidationStep"].iloc[0]
    assert step.notional_units == round(step.notional * 10**6) and isinstance(step.notional_units, (int, np.integer))
    assert out["arrow"].schema.field("equity_units").type == pa.int64()
    assert out["positions"].set_index("subaccount").loc["carol/main", "entry_price"] == 60000
