"""The market-data activities on the shipped prices, and on damaged copies of them."""

from __future__ import annotations

import csv

import pytest

from engine.errors import DataError, TransientError
from fixtures.activities import market
from fixtures.activities.indicators import ema, rsi, sma
from tests.unit.examples.helpers import DATA, assert_json, make_ctx

SYMBOLS = ["AAPL", "MSFT", "NVDA", "SPY", "TLT"]


def csv_rows(symbol: str, directory=DATA) -> list[dict[str, str]]:
    with (directory / "prices" / f"{symbol}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def write_prices(directory, symbol: str, rows: list[dict[str, str]]) -> None:
    with (directory / "prices" / f"{symbol}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["date", "open", "high", "low", "close", "volume"])
        writer.writeheader()
        writer.writerows(rows)


def indicators_for(symbol: str, as_of: str, **ctx_args) -> dict:
    return market.compute_indicators({"symbol": symbol, "as_of": as_of}, make_ctx(**ctx_args))


# --- ingest ------------------------------------------------------------------------------------------


def test_ingest_defaults_to_five_symbols_up_to_the_latest_date(ctx):
    output = market.ingest({}, ctx)
    assert output["symbols"] == SYMBOLS
    assert output["missing"] == []
    assert output["as_of"] == csv_rows("SPY")[-1]["date"] == "2024-12-31"
    assert output["rows"] == sum(len(csv_rows(symbol)) for symbol in SYMBOLS)
    assert ctx.heartbeats == 5
    assert_json(output)


def test_ingest_counts_only_rows_up_to_as_of_and_reports_unknown_symbols(ctx):
    output = market.ingest({"symbols": ["aapl", "ZZZZ"], "as_of": "2023-06-30", "fail": {}}, ctx)
    expected = sum(1 for row in csv_rows("AAPL") if row["date"] <= "2023-06-30")
    assert output["rows"] == expected
    assert output["symbols"] == ["AAPL"]
    assert output["missing"] == ["ZZZZ"]
    assert output["per_symbol"]["AAPL"] == {"rows": expected, "first": "2022-01-03", "last": "2023-06-30"}


@pytest.mark.parametrize(
    "input_", [{"symbols": ["../../etc/passwd"]}, {"symbols": "AAPL"}, {"as_of": "30/06/2023"}]
)
def test_ingest_refuses_malformed_input(ctx, input_):
    with pytest.raises(DataError):
        market.ingest(input_, ctx)


# --- validate ----------------------------------------------------------------------------------------


def test_validate_accepts_the_shipped_prices(ctx):
    output = market.validate({"symbols": SYMBOLS, "as_of": "2024-12-31"}, ctx)
    assert output == {"symbols": SYMBOLS, "rejected": [], "as_of": "2024-12-31"}


def test_validate_rejects_gaps_bad_prices_short_and_stale_histories(data_copy, ctx):
    rows = csv_rows("AAPL", data_copy)
    write_prices(data_copy, "AAPL", rows[:100] + rows[110:])  # two weeks missing
    rows = csv_rows("MSFT", data_copy)
    rows[50]["low"] = "-1.00"
    write_prices(data_copy, "MSFT", rows)
    write_prices(data_copy, "NVDA", csv_rows("NVDA", data_copy)[-20:])
    write_prices(data_copy, "SPY", csv_rows("SPY", data_copy)[:-10])
    output = market.validate({"symbols": SYMBOLS, "as_of": "2024-12-31"}, ctx)
    assert output["symbols"] == ["TLT"]
    reasons = {entry["symbol"]: entry["reason"] for entry in output["rejected"]}
    assert reasons["AAPL"].startswith("gap of 10 business days")
    assert reasons["MSFT"].startswith("non-positive price")
    assert reasons["NVDA"] == "only 20 bars, at least 35 needed"
    assert reasons["SPY"].startswith("stale")


def test_validate_rejects_an_unparseable_file_without_failing_the_others(data_copy, ctx):
    rows = csv_rows("TLT", data_copy)
    rows[3]["close"] = "n/a"
    write_prices(data_copy, "TLT", rows)
    output = market.validate({"symbols": ["SPY", "TLT"], "as_of": "2024-12-31"}, ctx)
    assert output["symbols"] == ["SPY"]
    assert output["rejected"][0]["symbol"] == "TLT"
    assert "line 5" in output["rejected"][0]["reason"]


def test_validate_fails_with_a_data_error_when_nothing_is_usable(ctx):
    with pytest.raises(DataError):
        market.validate({"symbols": ["AAPL"], "as_of": "2022-01-31"}, ctx)  # 20 bars only
    with pytest.raises(DataError):
        market.validate({"symbols": [], "as_of": "2024-12-31"}, ctx)


# --- indicators --------------------------------------------------------------------------------------


def test_indicators_report_the_latest_values_of_the_price_history():
    output = indicators_for("AAPL", "2024-06-28")
    closes = [float(row["close"]) for row in csv_rows("AAPL") if row["date"] <= "2024-06-28"]
    assert output["as_of"] == "2024-06-28"
    assert output["bars"] == len(closes)
    assert output["close"] == closes[-1]
    assert output["ema_9"] == pytest.approx(ema(closes, 9)[-1], abs=1e-6)
    assert output["sma_200"] == pytest.approx(sum(closes[-200:]) / 200, abs=1e-6)
    assert output["rsi_14"] == pytest.approx(rsi(closes, 14)[-1], abs=1e-6)
    assert 0 <= output["rsi_14"] <= 100
    assert output["macd_hist"] == pytest.approx(output["macd"] - output["macd_signal"], abs=1e-5)
    assert_json(output)


def test_previous_values_are_the_latest_values_of_the_day_before():
    today, yesterday = indicators_for("NVDA", "2024-06-28"), indicators_for("NVDA", "2024-06-27")
    for name in ("close", "ema_9", "ema_21", "sma_50", "sma_200", "rsi_14", "macd", "macd_signal"):
        assert today["previous"][name] == yesterday[name]


def test_sma_200_is_null_until_there_are_200_bars():
    output = indicators_for("SPY", "2022-06-30")
    assert output["bars"] < 200
    assert output["sma_200"] is None
    assert output["sma_50"] == pytest.approx(
        sma([float(r["close"]) for r in csv_rows("SPY")[: output["bars"]]], 50)[-1]
    )
    assert_json(output)


def test_a_retried_item_resumes_from_its_checkpoint():
    input_ = {"symbol": "MSFT", "as_of": "2024-12-31", "fail": {"market.indicators": {"kind": "transient"}}}
    first = make_ctx(attempt=1)
    with pytest.raises(TransientError):
        market.compute_indicators(input_, first)
    assert list(first.checkpoints[-1]["stages"]) == ["trend"]
    retry = make_ctx(attempt=2, last_checkpoint=first.checkpoints[-1])
    resumed = market.compute_indicators(input_, retry)
    assert resumed["resumed_stages"] == ["trend"]
    assert list(retry.checkpoints[-1]["stages"]) == ["trend", "momentum", "macd"]
    fresh = indicators_for("MSFT", "2024-12-31")
    assert {**resumed, "resumed_stages": []} == fresh


def test_a_checkpoint_for_other_data_is_not_reused():
    ctx = make_ctx()
    market.compute_indicators({"symbol": "MSFT", "as_of": "2024-06-28"}, ctx)
    stale = ctx.checkpoints[-1]
    output = indicators_for("MSFT", "2024-12-31", last_checkpoint=stale)
    assert output["resumed_stages"] == []
    assert output == indicators_for("MSFT", "2024-12-31")


def test_indicators_refuse_a_symbol_without_data(ctx):
    with pytest.raises(DataError):
        market.compute_indicators({"symbol": "ZZZZ", "as_of": "2024-12-31"}, ctx)


# --- signals and scoring -----------------------------------------------------------------------------


def indicator_result(symbol, *, ema_cross=0, macd_cross=0, rsi_value=50.0, above_200=True):
    """A hand-made indicator output: cross +1 crosses up today, -1 down, 0 keeps fast above slow."""
    ema_prev = {1: (99.0, 100.0), -1: (101.0, 100.0), 0: (101.0, 100.0)}[ema_cross]
    ema_now = {1: (101.0, 100.0), -1: (99.0, 100.0), 0: (101.0, 100.0)}[ema_cross]
    macd_prev = {1: (-1.0, 0.0), -1: (1.0, 0.0), 0: (1.0, 0.0)}[macd_cross]
    macd_now = {1: (1.0, 0.0), -1: (-1.0, 0.0), 0: (1.0, 0.0)}[macd_cross]
    return {
        "symbol": symbol,
        "close": 100.0,
        "ema_9": ema_now[0],
        "ema_21": ema_now[1],
        "macd": macd_now[0],
        "macd_signal": macd_now[1],
        "rsi_14": rsi_value,
        "sma_200": 90.0 if above_200 else 110.0,
        "previous": {
            "ema_9": ema_prev[0],
            "ema_21": ema_prev[1],
            "macd": macd_prev[0],
            "macd_signal": macd_prev[1],
        },
    }


def test_signals_add_up_crossovers_trend_and_rsi(ctx):
    results = [
        indicator_result("UP", ema_cross=1, macd_cross=1),  # 2 + 2 + 1 = 5
        indicator_result("DOWN", ema_cross=-1, macd_cross=-1, above_200=False),  # -2 - 2 - 1 = -5
        indicator_result("MIXED", ema_cross=-1, rsi_value=75.0),  # -2 + 1 - 1 + 1 = -1
        None,  # a failed map item
    ]
    output = market.signals({"results": results}, ctx)
    by_symbol = {entry["symbol"]: entry for entry in output["signals"]}
    assert {s: (e["signal"], e["votes"]) for s, e in by_symbol.items()} == {
        "UP": ("buy", 5),
        "DOWN": ("sell", -5),
        "MIXED": ("hold", -1),
    }
    assert "EMA 9/21 crossed up" in by_symbol["UP"]["reasons"]
    assert "RSI 75.0 overbought" in by_symbol["MIXED"]["reasons"]
    assert output["counts"] == {"buy": 1, "sell": 1, "hold": 1}
    assert_json(output)


def test_signals_without_any_indicators_is_a_data_error(ctx):
    with pytest.raises(DataError):
        market.signals({"results": [None, None]}, ctx)


def test_scoring_ranks_by_votes_then_capped_strength(ctx):
    signals = [
        {"symbol": "C", "signal": "hold", "votes": 1, "strength": 0.5},
        {"symbol": "A", "signal": "buy", "votes": 3, "strength": -0.25},
        {"symbol": "B", "signal": "hold", "votes": 1, "strength": 0.5},
        {"symbol": "D", "signal": "hold", "votes": 0, "strength": 50.0},  # capped at 2, so below E's 2.1
        {"symbol": "E", "signal": "hold", "votes": 2, "strength": 0.1},
    ]
    output = market.scoring({"signals": signals}, ctx)
    assert [(e["rank"], e["symbol"], e["score"]) for e in output["ranking"]] == [
        (1, "A", 2.75),
        (2, "E", 2.1),
        (3, "D", 2.0),
        (4, "B", 1.5),  # ties go by symbol
        (5, "C", 1.5),
    ]
    assert (output["best"], output["worst"]) == ("A", "C")


def test_the_whole_batch_on_the_shipped_data(ctx):
    ingest = market.ingest({}, ctx)
    valid = market.validate({"symbols": ingest["symbols"], "as_of": ingest["as_of"]}, ctx)
    results = [
        market.compute_indicators({"symbol": s, "as_of": valid["as_of"]}, ctx) for s in valid["symbols"]
    ]
    signals = market.signals({"results": results}, ctx)
    scores = market.scoring({"signals": signals["signals"]}, ctx)
    assert sum(signals["counts"].values()) == 5
    assert sorted(entry["symbol"] for entry in scores["ranking"]) == SYMBOLS
    assert [entry["rank"] for entry in scores["ranking"]] == [1, 2, 3, 4, 5]
    score_values = [entry["score"] for entry in scores["ranking"]]
    assert score_values == sorted(score_values, reverse=True)
    for output in (ingest, valid, *results, signals, scores):
        assert_json(output)
