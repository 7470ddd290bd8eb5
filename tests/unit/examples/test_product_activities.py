"""The product-enrichment activities on the shipped catalogue feed."""

from __future__ import annotations

import hashlib
import json

import pytest

from engine.errors import DataError, RateLimitError
from fixtures.activities import products
from tests.unit.examples.helpers import DATA, assert_json, make_ctx

FEED = json.loads((DATA / "products.json").read_text())["products"]


def run_chain() -> dict[str, dict]:
    """Every phase of the pipeline on the shipped feed, each fed from the one before."""
    out = {"discovery": products.discover({}, make_ctx())}
    out["image_fetch"] = products.fetch_images({"products": out["discovery"]["products"]}, make_ctx())
    out["enrichment"] = products.enrich({"products": out["image_fetch"]["products"]}, make_ctx())
    out["data_mapping"] = products.map_fields({"products": out["enrichment"]["products"]}, make_ctx())
    documents = out["data_mapping"]["documents"]
    out["scoring"] = products.score({"documents": documents}, make_ctx())
    out["indexing"] = products.build_index(
        {"documents": documents, "scores": out["scoring"]["scores"]}, make_ctx()
    )
    out["notification"] = products.notify(
        {
            "documents": out["indexing"]["documents"],
            "terms": out["indexing"]["terms"],
            "mean_score": out["scoring"]["mean"],
            "low_quality": out["scoring"]["low_quality"],
            "unmapped": out["data_mapping"]["unmapped"],
        },
        make_ctx(),
    )
    return out


@pytest.fixture(scope="module")
def chain() -> dict[str, dict]:
    return run_chain()


def test_discovery_keeps_unique_identified_products_and_says_what_it_dropped(chain):
    output = chain["discovery"]
    skus = [product.get("sku") for product in FEED]
    assert output["count"] == len(set(filter(None, skus))) == 30
    assert [product["sku"] for product in output["products"]] == list(dict.fromkeys(filter(None, skus)))
    assert [entry["reason"] for entry in output["rejected"]] == ["no sku", "duplicate sku AUD-1001"]
    # the first AUD-1001 wins, not the duplicate feed row
    assert output["products"][0]["title"] == "Acoustica Wireless Noise-Cancelling Headphones"


def test_discovery_filters_by_category_prefix(ctx):
    output = products.discover({"category": "electronics"}, ctx)
    assert output["count"] == sum(1 for p in FEED[:30] if p.get("category", "").startswith("Electronics"))
    assert all(p["category"].startswith("Electronics") for p in output["products"])


def test_image_fetch_checksums_each_url_and_heartbeats_per_product(ctx, chain):
    found = chain["discovery"]["products"]
    output = products.fetch_images({"products": found}, ctx)
    assert ctx.heartbeats == len(found)
    assert output["missing"] == [p["sku"] for p in found if not p.get("image_url")]
    assert output["fetched"] == len(found) - len(output["missing"])
    first = output["products"][0]
    assert first["image"]["sha256"] == hashlib.sha256(first["image_url"].encode()).hexdigest()
    assert output == products.fetch_images({"products": found}, make_ctx())  # deterministic


def test_image_for_refuses_non_http_urls():
    assert products.image_for("file:///etc/passwd") is None
    assert products.image_for("https://example.com/a.png")["content_type"] == "image/png"


def test_enrichment_fills_what_it_can_infer(ctx):
    given = [
        {"sku": "A", "title": "Acoustica Travel Speaker", "brand": "Acoustica"},
        {"sku": "B", "title": "Acoustica Studio Headphones", "attributes": {"color": "red"}},
        {"sku": "C", "title": "Mystery Gadget", "currency": "EUR", "description": "Kept as it is."},
    ]
    output = products.enrich({"products": given}, ctx)
    a, b, c = output["products"]
    assert b["brand"] == "Acoustica"  # learnt from A
    assert b["category"] == "Electronics > Audio"
    assert b["description"] == "Acoustica Studio Headphones by Acoustica. Color: red."
    assert b["tags"] == ["audio"] and b["currency"] == "USD"
    assert "category" not in c and "brand" not in c
    assert (c["currency"], c["description"]) == ("EUR", "Kept as it is.")
    assert output["enriched"]["B"] == ["brand", "category", "currency", "description", "tags"]
    assert "C" not in output["enriched"]  # nothing to infer: no known brand or category word
    assert output["enriched"]["A"] == ["category", "currency", "description", "tags"]


def test_enrichment_of_the_feed_leaves_every_product_described(chain):
    enriched = chain["enrichment"]["products"]
    assert all(p["description"] and p["currency"] for p in enriched)
    by_sku = {p["sku"]: p for p in enriched}
    assert by_sku["AUD-1004"]["category"] == "Electronics > Audio"  # from "Earbuds" in the title
    assert by_sku["HOM-6004"]["category"] == "Home > Appliances"


def test_enrichment_rate_limit_fault_carries_retry_after():
    input_ = {"products": [], "fail": {"products.enrich": {"kind": "rate_limit", "retry_after": 7}}}
    with pytest.raises(RateLimitError) as raised:
        products.enrich(input_, make_ctx(attempt=1))
    assert raised.value.retry_after == 7
    assert products.enrich(input_, make_ctx(attempt=2))["products"] == []


def test_products_without_sku_or_title_are_a_data_error(ctx):
    with pytest.raises(DataError):
        products.enrich({"products": [{"sku": "X"}]}, ctx)
    with pytest.raises(DataError):
        products.enrich({"products": "everything"}, ctx)


def test_mapping_converts_prices_and_lists_what_it_cannot_map(chain):
    output = chain["data_mapping"]
    assert output["unmapped"] == [
        {"sku": "OUT-4005", "reason": "no price"},
        {"sku": "TOY-8002", "reason": "price 'n/a' is not a number"},
    ]
    docs = {doc["id"]: doc for doc in output["documents"]}
    assert docs["CAM-2004"]["price_cents"] == 14900  # the feed has it as the string "149.00"
    assert docs["AUD-1003"]["price_cents"] == 5999
    assert docs["KIT-3001"]["category_path"] == ["Home", "Kitchen"]
    assert docs["KIT-3001"]["attributes"] == ["diameter:12in", "material:cast iron"]
    assert docs["CAM-2004"]["image_sha256"] is None


def test_mapping_stops_for_review_when_too_many_products_are_unmappable(ctx):
    given = [
        {"sku": f"S{i}", "title": "Thing", "currency": "USD", "price": None if i < 3 else 1}
        for i in range(10)
    ]
    with pytest.raises(DataError, match="3 of 10"):
        products.map_fields({"products": given}, ctx)
    assert products.map_fields({"products": given, "max_unmapped": 0.3}, make_ctx())["mapped"] == 7


@pytest.mark.parametrize("price", [0, -5, "free", True, float("nan")])
def test_price_cents_refuses_what_is_not_a_positive_amount(price):
    with pytest.raises(ValueError):
        products.price_cents(price)


def test_scoring_rewards_complete_documents(ctx):
    complete = {
        "id": "FULL",
        "title": "t",
        "brand": "b",
        "category_path": ["c"],
        "price_cents": 100,
        "description": "x" * 80,
        "image_sha256": "abc",
        "attributes": ["a:b"],
        "tags": ["t"],
    }
    sparse = {"id": "BARE", "title": "t", "price_cents": 100, "description": "x" * 40}
    output = products.score({"documents": [complete, sparse]}, ctx)
    assert output["scores"] == [
        {"id": "FULL", "score": 100, "grade": "A"},
        {"id": "BARE", "score": 42, "grade": "D"},  # 15 + 20 + 15 * 40/80
    ]
    assert output["mean"] == 71.0
    assert output["low_quality"] == ["BARE"]


def test_the_index_finds_each_document_by_its_words(chain):
    output = chain["indexing"]
    index = output["index"]
    assert index["headphones"] == ["AUD-1001"]
    assert set(index["acoustica"]) == {"AUD-1001", "AUD-1002", "AUD-1004"}
    assert "and" not in index and "the" not in index
    assert output["documents"] == len(chain["data_mapping"]["documents"])
    assert output["terms"] == len(index)
    for term, ids in index.items():
        for doc_id in ids:
            assert term in products.terms_of(
                next(d for d in chain["data_mapping"]["documents"] if d["id"] == doc_id)
            )


def test_notification_summarises_the_run(chain):
    output = chain["notification"]
    assert output["indexed"] == 28
    assert output["unmapped"] == ["OUT-4005", "TOY-8002"]
    assert output["summary"].startswith("Indexed 28 products")


def test_every_output_is_strict_json(chain):
    for output in chain.values():
        assert_json(output)
