"""The weekly regulatory refresh activities on the shipped week files."""

from __future__ import annotations

import csv

import pytest

from engine.errors import DataError
from fixtures.activities import regulatory
from tests.unit.examples.helpers import DATA, assert_json, make_ctx

WEEKS = ["2025-W01", "2025-W02", "2025-W03"]


def raw_rows(week: str) -> list[dict[str, str]]:
    with (DATA / "regulatory" / f"{week}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def normalize(week: str, mode: str, key: str = "k") -> dict:
    return regulatory.normalize({"week": week, "mode": mode}, make_ctx(idempotency_key=key))


@pytest.mark.parametrize("week", WEEKS)
def test_ingest_counts_rows_errors_and_blanks(week, ctx):
    output = regulatory.ingest({"week": week}, ctx)
    rows = raw_rows(week)
    assert output["row_count"] == len(rows)
    assert 0 < output["error_count"] < len(rows) // 50  # a few broken rows, below the gate's 2%
    assert output["error_count"] == len(output["errors"])
    assert 0 < output["null_rate"] < 0.05
    assert_json(output)


def test_ingest_says_why_rows_are_broken(ctx):
    reasons = [error["reason"] for error in regulatory.ingest({"week": "2025-W02"}, ctx)["errors"]]
    assert reasons == [
        "unknown currency 'XXX'",
        "unknown currency 'XXX'",
        "notional -546271.61 is negative",
        "notional is blank",
    ]


@pytest.mark.parametrize("week", ["2025-W09", "2025-02", "../../etc/passwd", "2025-W54", ""])
def test_a_missing_or_malformed_week_is_a_data_error(week, ctx):
    with pytest.raises(DataError):
        regulatory.ingest({"week": week}, ctx)


def test_normalize_cleans_values_and_converts_to_usd():
    output = normalize("2025-W02", "full")
    raw = {row["record_id"]: row for row in raw_rows("2025-W02")}
    assert output["record_count"] == len(raw) - output["dropped"]
    for record in output["records"]:
        assert record["currency"] in regulatory.USD_RATES
        assert record["notional_usd"] == pytest.approx(
            record["notional"] * regulatory.USD_RATES[record["currency"]], abs=0.01
        )
        assert record["report_date"] == "2025-01-10"  # the Friday of ISO week 2 of 2025
        source = raw[record["record_id"]]
        if source["counterparty"].strip():
            assert record["counterparty"] == " ".join(source["counterparty"].split()).title()
        else:
            assert record["counterparty"] is None
    assert_json(output)


def test_normalize_is_idempotent_for_the_same_week():
    first, second = normalize("2025-W03", "full", key="run-1"), normalize("2025-W03", "full", key="run-2")
    assert first["batch_id"] == second["batch_id"]
    assert first["records"] == second["records"]
    assert (first["idempotency_key"], second["idempotency_key"]) == ("run-1", "run-2")
    assert normalize("2025-W03", "full", key="run-1") == first


def test_different_weeks_and_modes_make_different_batches():
    ids = {normalize(week, mode)["batch_id"] for week in WEEKS[1:] for mode in regulatory.MODES}
    assert len(ids) == 4


def test_incremental_keeps_exactly_the_new_and_changed_records():
    full_now, full_before = normalize("2025-W02", "full"), normalize("2025-W01", "full")
    delta = normalize("2025-W02", "incremental")
    assert delta["baseline_week"] == "2025-W01"
    before = {r["record_id"]: {**r, "report_date": None} for r in full_before["records"]}
    expected = [r for r in full_now["records"] if before.get(r["record_id"]) != {**r, "report_date": None}]
    assert delta["records"] == expected
    assert 0 < delta["record_count"] < full_now["record_count"]
    new_ids = {r["record_id"] for r in full_now["records"]} - set(before)
    assert new_ids <= {r["record_id"] for r in delta["records"]}


def test_incremental_without_a_previous_week_is_the_full_set():
    assert normalize("2025-W01", "incremental")["records"] == normalize("2025-W01", "full")["records"]
    assert normalize("2025-W01", "incremental")["baseline_week"] is None


def test_normalize_refuses_an_unknown_mode(ctx):
    with pytest.raises(DataError):
        regulatory.normalize({"week": "2025-W01", "mode": "partial"}, ctx)


def test_null_rate_by_hand():
    records = [
        {"counterparty": "A", "country": None},
        {"counterparty": "", "country": "GB"},
        {"counterparty": "C", "country": "FR"},
        {"counterparty": "D", "country": "US"},
    ]
    assert regulatory.null_rate(records) == 2 / 8
    assert regulatory.null_rate([]) == 0.0


def test_previous_week_crosses_the_year_boundary():
    assert regulatory.previous_week("2025-W01") == "2024-W52"
    assert regulatory.previous_week("2021-W01") == "2020-W53"


def test_aggregate_totals_add_up(ctx):
    batch = normalize("2025-W03", "full")
    output = regulatory.aggregate(
        {"week": "2025-W03", "records": batch["records"], "batch_id": batch["batch_id"]}, ctx
    )
    assert output["records"] == batch["record_count"]
    assert output["notional_usd"] == pytest.approx(sum(r["notional_usd"] for r in batch["records"]), abs=0.01)
    for grouping in ("by_asset_class", "by_country"):
        assert sum(g["records"] for g in output[grouping].values()) == output["records"]
        assert sum(g["notional_usd"] for g in output[grouping].values()) == pytest.approx(
            output["notional_usd"], abs=1
        )
    blanks = sum(1 for r in batch["records"] if r["country"] is None)
    assert output["by_country"].get("unknown", {"records": 0})["records"] == blanks > 0
    assert_json(output)


def test_aggregate_refuses_records_that_were_not_normalised(ctx):
    with pytest.raises(DataError):
        regulatory.aggregate({"records": [{"notional": "5"}]}, ctx)
