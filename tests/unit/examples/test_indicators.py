"""The indicator functions against references computed another way: closed forms, textbook data, algebra."""

from __future__ import annotations

import random
from statistics import fmean

import pytest

from fixtures.activities.indicators import ema, macd, rsi, sma

# J. Welles Wilder's RSI worked example as published by StockCharts ("RSI" in ChartSchool).
WILDER_CLOSES = [
    44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61, 46.28,
    46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35, 44.03, 44.18,
    44.22, 44.57, 43.42, 42.66, 43.13,
]  # fmt: skip
# Their spreadsheet rounds the average gain and loss to two places, so its RSIs are a few hundredths off
# the exact values; within 0.1 they still tell Wilder's smoothing apart from a simple-average (Cutler) RSI.
STOCKCHARTS_RSI = [
    70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99, 41.46,
    41.87, 45.46, 37.30, 33.08, 37.77,
]  # fmt: skip


def random_walk(n: int, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    values, price = [], 100.0
    for _ in range(n):
        price *= 1 + rng.gauss(0, 0.02)
        values.append(price)
    return values


def ema_closed_form(values: list[float], span: int, i: int) -> float:
    """EMA at i as an explicit weighted sum: the SMA seed decayed, plus each later value's weight."""
    alpha, seed_end = 2 / (span + 1), span - 1
    total = (1 - alpha) ** (i - seed_end) * fmean(values[:span])
    for j in range(seed_end + 1, i + 1):
        total += alpha * (1 - alpha) ** (i - j) * values[j]
    return total


def rsi_reference(values: list[float], period: int) -> list[float | None]:
    """Wilder's smoothing as an EMA with alpha = 1/period over gains and losses, seeded by their mean."""
    out: list[float | None] = [None] * len(values)
    gains = [max(b - a, 0) for a, b in zip(values, values[1:], strict=False)]
    losses = [max(a - b, 0) for a, b in zip(values, values[1:], strict=False)]
    gain, loss = fmean(gains[:period]), fmean(losses[:period])
    for i in range(period, len(values)):
        if i > period:
            gain += (gains[i - 1] - gain) / period
            loss += (losses[i - 1] - loss) / period
        out[i] = 100 * gain / (gain + loss)  # algebraically equal to 100 - 100 / (1 + gain / loss)
    return out


def test_sma_matches_the_mean_of_each_window():
    values = random_walk(60)
    result = sma(values, 7)
    assert result[:6] == [None] * 6
    for i in range(6, 60):
        assert result[i] == pytest.approx(fmean(values[i - 6 : i + 1]), rel=1e-12)


def test_sma_of_a_small_series_by_hand():
    assert sma([1, 2, 3, 4, 5], 3) == [None, None, 2, 3, 4]


def test_ema_by_hand_with_span_three():
    # alpha = 0.5; seed = mean(1, 2, 3) = 2; then 0.5*4 + 0.5*2 = 3; then 0.5*5 + 0.5*3 = 4
    assert ema([1, 2, 3, 4, 5], 3) == [None, None, 2, 3, 4]


@pytest.mark.parametrize("span", [2, 9, 21])
def test_ema_matches_the_closed_form_weighted_sum(span):
    values = random_walk(80, seed=span)
    result = ema(values, span)
    assert result[: span - 1] == [None] * (span - 1)
    for i in range(span - 1, 80):
        assert result[i] == pytest.approx(ema_closed_form(values, span, i), rel=1e-10)


def test_ema_of_a_series_shorter_than_its_span_is_undefined():
    assert ema([1.0, 2.0], 3) == [None, None]


def test_rsi_first_value_from_hand_summed_gains_and_losses():
    # The first 14 changes gain 3.34 in total and lose 1.40, so RS = 3.34 / 1.40.
    first = rsi(WILDER_CLOSES, 14)[14]
    assert first == pytest.approx(100 - 100 / (1 + 3.34 / 1.40), abs=1e-9)
    assert first == pytest.approx(70.46, abs=0.005)


def test_rsi_follows_wilders_worked_example():
    result = rsi(WILDER_CLOSES, 14)
    assert result[:14] == [None] * 14
    assert result[14:] == pytest.approx(STOCKCHARTS_RSI, abs=0.1)


def test_rsi_matches_an_independent_wilder_implementation():
    values = random_walk(300, seed=3)
    result, reference = rsi(values, 14), rsi_reference(values, 14)
    assert result[:14] == reference[:14] == [None] * 14
    assert result[14:] == pytest.approx(reference[14:], rel=1e-9)


def test_rsi_is_100_when_prices_only_rise_and_50_when_they_never_move():
    assert rsi(list(range(1, 21)), 14)[-1] == 100.0
    assert rsi([5.0] * 20, 14)[-1] == 50.0


def test_macd_of_a_straight_line_is_the_difference_of_the_ema_lags():
    # On a line of slope 1 an SMA-seeded EMA lags by exactly (span - 1) / 2, so MACD = 12.5 - 5.5 = 7.
    line, signal, histogram = macd([float(i) for i in range(60)])
    assert line[:25] == [None] * 25
    assert line[25:] == pytest.approx([7.0] * 35)
    assert signal[:33] == [None] * 33
    assert signal[33:] == pytest.approx([7.0] * 27)
    assert histogram[33:] == pytest.approx([0.0] * 27, abs=1e-9)


def test_macd_matches_emas_computed_in_closed_form():
    values = random_walk(120, seed=11)
    line, signal, histogram = macd(values, 12, 26, 9)
    reference_line = [ema_closed_form(values, 12, i) - ema_closed_form(values, 26, i) for i in range(25, 120)]
    assert line[25:] == pytest.approx(reference_line, rel=1e-9)
    reference_signal = [ema_closed_form(reference_line, 9, k) for k in range(8, len(reference_line))]
    assert signal[33:] == pytest.approx(reference_signal, rel=1e-9)
    assert histogram[33:] == pytest.approx(
        [m - s for m, s in zip(reference_line[8:], reference_signal, strict=True)], rel=1e-9, abs=1e-12
    )


def test_macd_of_too_short_a_series_is_all_undefined():
    assert macd([1.0] * 20) == ([None] * 20, [None] * 20, [None] * 20)


@pytest.mark.parametrize(
    "call",
    [lambda: sma([1.0], 0), lambda: ema([1.0], 0), lambda: rsi([1.0], 0), lambda: macd([1.0], 26, 12)],
)
def test_nonsense_parameters_are_refused(call):
    with pytest.raises(ValueError):
        call()
