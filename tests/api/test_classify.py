"""POST /v1/classify and /v1/classify/batch, and the request-level errors every endpoint shares."""

from __future__ import annotations

from collections.abc import Callable

from api.services.scoring import top_tier_probability

from .conftest import TestClient, headers

SAFETY = "外卖里吃出了虫子，吃完全家拉肚子，我要投诉到12315！"


def test_classify_returns_labels_names_probabilities_and_explanation(client: TestClient) -> None:
    text = "快递三天没送到，打快递员电话13812345678也不接，请尽快补发。"
    response = client.post("/v1/classify", json={"text": text}, headers=headers("intake"))
    assert response.status_code == 200, response.text
    body = response.json()
    for head in ("category", "subtype", "tier", "department"):
        assert body[head]["code"].isascii() and body[head]["name"] and 0 <= body[head]["probability"] <= 1
    assert body["category"]["code"] == "logistics"
    assert body["department"] == {**body["department"], "code": "logistics", "name": "物流部"}
    assert body["demand"]["code"] == "exchange"  # 请尽快补发
    assert len(body["top_subtypes"]) == 3
    assert "13812345678" not in body["masked_text"] and "[PHONE]" in body["masked_text"]
    assert body["model_version"] == "test-sample"
    # the settings' thresholds (the test model has no thresholds.json): 0.6 / 0.5 / 0.6
    limits = {"category": 0.6, "subtype": 0.5, "tier": 0.6}
    low = [f"low_confidence:{head}" for head, limit in limits.items() if body[head]["probability"] < limit]
    assert body["review_reasons"] == low and body["needs_review"] is bool(low)
    assert set(body["explanation"]) == {"category", "subtype", "tier"}
    assert all(body["explanation"].values()), "every head is explained"
    phone = (text.index("13812345678"), text.index("13812345678") + 11)
    for terms in body["explanation"].values():
        for term in terms:
            assert term["kind"] in ("word", "char", "cue", "subtype", "length")
            # words and characters are found in the text; subtype inputs and length bins are not
            assert bool(term["spans"]) == (term["kind"] in ("word", "char", "cue"))
            for span in term["spans"]:
                shown = body["masked_text"][span["masked_start"] : span["masked_end"]]
                if (span["start"], span["end"]) == phone:
                    assert shown == "[PHONE]"
                elif term["kind"] in ("word", "char"):
                    # this text is simplified, half-width Chinese: the term is what the span covers
                    assert text[span["start"] : span["end"]] == shown == term["term"].replace(" ", "")


def test_classify_applies_escalation_and_the_emotion_index(client: TestClient) -> None:
    body = client.post("/v1/classify", json={"text": SAFETY}, headers=headers("analyst")).json()
    rules = [item["rule"] for item in body["escalations"]]
    assert rules[:2] == ["safety_health", "external_threat"]
    assert body["routed_tier"] == {"code": "P1", "name": "一级（紧急）"}
    assert body["sla"] == {"first_response_hours": 1.0, "resolution_hours": 24.0}
    # the index of the service's policy, from this text and the model's P(P1)
    services = client.app.state.services  # type: ignore[attr-defined]
    model = services.models.get().model
    prediction = model.predict(SAFETY, explain=False)
    expected = services.policy.emotion(prediction.normalised_text, top_tier_probability(model, prediction))
    assert body["emotion_index"] == expected.index > 0


def test_offsets_point_into_the_text_as_sent_control_characters_and_emoji_included(client: TestClient) -> None:
    # A terminal escape and a bell before the words: the model drops them, the offsets count them.
    text = "\x07\x1b[0m快递员态度很差😡，把包裹扔在驿站不送上门，打电话13812345678也不接。"
    body = client.post("/v1/classify", json={"text": text}, headers=headers("intake")).json()
    located = [
        (term["term"], span)
        for terms in body["explanation"].values()
        for term in terms
        if term["kind"] in ("word", "char")
        for span in term["spans"]
    ]
    assert located
    for term, span in located:
        assert text[span["start"] : span["end"]] == term.replace(" ", "")
        assert body["masked_text"][span["masked_start"] : span["masked_end"]] == term.replace(" ", "")
    assert body["masked_text"].startswith("\x07\x1b[0m快递员") and "[PHONE]" in body["masked_text"]
    only_controls = client.post("/v1/classify", json={"text": "\x07\x1b\x00"}, headers=headers("intake"))
    assert only_controls.status_code == 422 and only_controls.json()["detail"][0]["loc"] == ["body", "text"]


def test_text_that_cannot_be_judged_needs_review(client: TestClient) -> None:
    body = client.post("/v1/classify", json={"text": "The parcel never came!!!"}, headers=headers("intake")).json()
    assert body["judgeable"] is False
    assert body["needs_review"] is True
    assert "not_judgeable:no_chinese" in body["review_reasons"]


def test_empty_whitespace_and_missing_text_are_422_naming_the_field(client: TestClient) -> None:
    for payload in ({"text": ""}, {"text": "  \n\t "}, {}, {"text": None}, {"text": 12}):
        response = client.post("/v1/classify", json=payload, headers=headers("intake"))
        assert response.status_code == 422, payload
        assert response.json()["detail"][0]["loc"] == ["body", "text"], payload


def test_text_over_the_limit_is_422_string_too_long(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_text_chars=50)
    ok = client.post("/v1/classify", json={"text": "快递" * 25}, headers=headers("intake"))
    assert ok.status_code == 200
    response = client.post("/v1/classify", json={"text": "快递" * 26}, headers=headers("intake"))
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "text"] and detail["type"] == "string_too_long"
    assert "52" in detail["msg"] and "50" in detail["msg"]


def test_the_default_limit_is_5000_characters(client: TestClient) -> None:
    response = client.post("/v1/classify", json={"text": "差" * 5001}, headers=headers("intake"))
    assert response.status_code == 422 and "5000" in response.json()["detail"][0]["msg"]


def test_unknown_fields_are_refused(client: TestClient) -> None:
    response = client.post("/v1/classify", json={"text": "快递慢", "txt": "x"}, headers=headers("intake"))
    assert response.status_code == 422
    assert response.json()["detail"][0] == {
        "loc": ["body", "txt"],
        "msg": "Extra inputs are not permitted",
        "type": "extra_forbidden",
    }


def test_malformed_json_and_wrong_content_type_are_422(client: TestClient) -> None:
    broken = client.post(
        "/v1/classify", content=b'{"text": "abc', headers=headers("intake", **{"Content-Type": "application/json"})
    )
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["type"] == "json_invalid"
    assert "malformed JSON" in broken.json()["detail"][0]["msg"]
    not_utf8 = client.post(
        "/v1/classify",
        content=b'{"text": "\xff\xfe"}',
        headers=headers("intake", **{"Content-Type": "application/json"}),
    )
    assert not_utf8.status_code == 422 and not_utf8.json()["detail"][0]["type"] == "json_invalid"
    assert "not UTF-8" in not_utf8.json()["detail"][0]["msg"]
    huge_number = client.post(
        "/v1/classify",
        content=b'{"text": "\xe5\xbf\xab\xe9\x80\x92\xe6\x85\xa2", "n": ' + b"1" * 5000 + b"}",
        headers=headers("intake", **{"Content-Type": "application/json"}),
    )
    assert huge_number.status_code == 422 and "more digits" in huge_number.json()["detail"][0]["msg"]
    deep = client.post(
        "/v1/classify",
        content=b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        headers=headers("intake", **{"Content-Type": "application/json"}),
    )
    assert deep.status_code == 422 and "nest too deeply" in deep.json()["detail"][0]["msg"]
    plain = client.post(
        "/v1/classify",
        content='{"text": "快递慢"}'.encode(),
        headers=headers("intake", **{"Content-Type": "text/plain"}),
    )
    assert plain.status_code == 422
    assert plain.json()["detail"] == [
        {
            "loc": ["header", "Content-Type"],
            "msg": "expected Content-Type: application/json, got 'text/plain'",
            "type": "wrong_content_type",
        }
    ]


def test_error_bodies_never_echo_the_input(client: TestClient) -> None:
    response = client.post("/v1/classify", json={"text": 13812345678}, headers=headers("intake"))
    assert response.status_code == 422
    assert "13812345678" not in response.text


def test_a_body_over_the_byte_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=2048)
    response = client.post("/v1/classify", json={"text": "快" * 1000}, headers=headers("intake"))
    assert response.status_code == 413
    assert response.json()["detail"][0]["type"] == "body_too_large"
    streamed = client.post(
        "/v1/classify",
        content=iter([b'{"text": "', "快".encode() * 1000, b'"}']),
        headers=headers("intake", **{"Content-Type": "application/json"}),
    )
    assert streamed.status_code == 413


def test_batch_keeps_order_and_gives_invalid_items_their_own_error(client: TestClient) -> None:
    texts = ["快递三天没送到", "", SAFETY, 42, "   ", "差" * 5001, "客服态度太差了，骂人"]
    response = client.post("/v1/classify/batch", json={"texts": texts}, headers=headers("intake"))
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["index"] for item in items] == list(range(len(texts)))
    errors = {item["index"]: item["error"] for item in items if item["error"]}
    assert sorted(errors) == [1, 3, 4, 5]
    assert errors[3]["type"] == "string_type" and errors[3]["loc"] == ["body", "texts", 3]
    assert errors[5]["type"] == "string_too_long"
    assert items[2]["result"]["routed_tier"]["code"] == "P1"
    assert items[6]["result"]["category"]["code"] == "service"
    single = client.post("/v1/classify", json={"text": SAFETY}, headers=headers("intake")).json()
    assert items[2]["result"]["subtype"] == single["subtype"]
    assert items[2]["result"]["explanation"] == {}


def test_batch_limits(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_batch_items=3)
    too_many = client.post("/v1/classify/batch", json={"texts": ["快递慢"] * 4}, headers=headers("intake"))
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "texts"]
    empty = client.post("/v1/classify/batch", json={"texts": []}, headers=headers("intake"))
    assert empty.status_code == 422
    explained = client.post(
        "/v1/classify/batch?explain=true", json={"texts": ["快递三天没送到"]}, headers=headers("intake")
    )
    assert explained.json()["items"][0]["result"]["explanation"]


def test_the_default_batch_takes_1000_texts(client: TestClient) -> None:
    response = client.post("/v1/classify/batch", json={"texts": ["快递三天没送到"] * 1000}, headers=headers("intake"))
    assert response.status_code == 200 and len(response.json()["items"]) == 1000
    over = client.post("/v1/classify/batch", json={"texts": ["快递"] * 1001}, headers=headers("intake"))
    assert over.status_code == 422
