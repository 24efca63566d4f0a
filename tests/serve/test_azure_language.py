"""The Azure AI Language protocol pieces: offsets, sentences, the three-class mapping, validation.

The official clients drive the whole thing in test_azure_clients.py; these pin the rules
themselves, with values worked out by hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from sentikit.config import load_settings
from sentikit.server.azure_language import (
    AzureError,
    AzureLanguageOptions,
    document_label,
    parse_language_request,
    parse_text_analytics_request,
    plan,
    sentence_label,
    three_way,
    unauthorized,
)
from sentikit.server.azure_text import count_text_elements, index_converter, sentence_spans

FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # man ZWJ woman ZWJ girl
THUMBS = "\U0001F44D\U0001F3FD"  # thumbs up, medium skin tone
FLAGS = "\U0001F1EB\U0001F1F7\U0001F1E9\U0001F1EA"  # FR DE


@pytest.mark.parametrize(
    ("text", "elements"),
    [
        (FAMILY, 3),  # Unicode 8.0 had no ZWJ sequences: each person (with its ZWJ) is one element
        (THUMBS, 2),  # ... nor emoji modifiers
        (FLAGS, 1),  # ... and never broke between regional indicators
        ("e\u0301", 1),  # a combining accent joins its letter
        ("\u1100\u1161\u11a8", 1),  # a conjoining Hangul syllable
        ("\r\n", 1),
        ("你好", 2),
    ],
)
def test_text_elements_follow_unicode_8(text: str, elements: int) -> None:
    assert count_text_elements(text) == elements


def test_offsets_in_each_string_index_type() -> None:
    text = f"Je suis ravi {THUMBS}! 今天很好。"
    start = text.index("今")
    converters = {kind: index_converter(text, kind) for kind in ("UnicodeCodePoint", "Utf16CodeUnit", "TextElements_v8")}
    assert converters["UnicodeCodePoint"](start) == 17
    assert converters["Utf16CodeUnit"](start) == 19  # two astral code points, two code units each
    assert converters["TextElements_v8"](start) == 17  # thumbs and modifier: two elements in 8.0
    assert converters["TextElements_v8"](len(text)) == 22


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("I like nature. I do not like being inside", ["I like nature. ", "I do not like being inside"]),
        ("  Dr. Smith said \"Hi!\" Then left.\nNext", ["Dr. Smith said \"Hi!\" ", "Then left.\n", "Next"]),
        ("我很高兴。今天天气很好！你呢？", ["我很高兴。", "今天天气很好！", "你呢？"]),
        ("See the U.S. economy. Yes", ["See the U.S. economy. ", "Yes"]),
        ("It cost 3.5 euros. Cheap", ["It cost 3.5 euros. ", "Cheap"]),
        ("no terminator at all", ["no terminator at all"]),
        ("   ", []),
    ],
)
def test_sentences_tile_the_text_like_the_service(text: str, sentences: list[str]) -> None:
    assert [text[a:b] for a, b in sentence_spans(text)] == sentences


def test_three_way_is_neutral_at_the_threshold_and_the_model_outside_the_band() -> None:
    assert three_way(0.5) == (0.0, 1.0, 0.0)
    positive, neutral, negative = three_way(0.9)
    assert (positive, neutral) == (pytest.approx(0.9), 0.0) and negative == pytest.approx(0.1)
    positive, neutral, negative = three_way(0.6)  # halfway into the 0.2 band
    assert neutral == pytest.approx(0.5) and positive == pytest.approx(0.3) and negative == pytest.approx(0.2)
    for p in (0.0, 0.13, 0.5, 0.61, 0.99, 1.0):
        for threshold in (0.3, 0.5, 0.8):
            assert sum(three_way(p, threshold, 0.15)) == pytest.approx(1.0)
    # Re-centred on the threshold: at 0.8 a score of 0.8 is the undecided one.
    assert three_way(0.8, 0.8, 0.1)[1] == 1.0
    assert three_way(0.5, 0.5, 0.0) == (0.5, 0.0, 0.5)


def test_labels_follow_the_service_rule() -> None:
    assert sentence_label((0.3, 0.5, 0.2)) == "neutral"
    assert sentence_label((0.6, 0.0, 0.4)) == "positive"
    assert document_label(["positive", "neutral"]) == "positive"
    assert document_label(["negative", "neutral"]) == "negative"
    assert document_label(["neutral", "neutral"]) == "neutral"
    assert document_label(["positive", "negative", "neutral"]) == "mixed"


def _language_body(*texts: str, **parameters: Any) -> dict[str, Any]:
    documents = [{"id": str(i), "text": t, "language": "en"} for i, t in enumerate(texts)]
    return {"kind": "SentimentAnalysis", "analysisInput": {"documents": documents}, "parameters": parameters}


def _error(exc: pytest.ExceptionInfo[AzureError]) -> tuple[int, dict[str, Any]]:
    return exc.value.status, exc.value.body()


def test_too_many_documents_is_the_services_invalid_document_batch() -> None:
    request = parse_language_request({"api-version": "2023-04-01"}, _language_body(*["a"] * 11))
    with pytest.raises(AzureError) as raised:
        plan(request, AzureLanguageOptions(), "sentiment:1")
    assert _error(raised) == (
        400,
        {
            "error": {
                "code": "InvalidRequest",
                "message": "Invalid document in request.",
                "innererror": {
                    "code": "InvalidDocumentBatch",
                    "message": "Batch request contains too many records. Max 10 records are permitted.",
                },
            }
        },
    )
    configured = AzureLanguageOptions.from_settings(load_settings(environ={"SENTIKIT_SERVER_AZURE_MAX_DOCUMENTS": "11"}))
    assert plan(request, configured, "sentiment:1").texts == ["a"]  # each distinct text is scored once


@pytest.mark.parametrize(
    ("query", "body", "code", "inner"),
    [
        ({}, _language_body("x"), "MissingApiVersionParameter", None),
        ({"api-version": "2021-01-01"}, _language_body("x"), "UnsupportedApiVersionValue", None),
        ({"api-version": "2023-04-01"}, {**_language_body("x"), "kind": "EntityRecognition"}, "InvalidRequest",
         "InvalidParameterValue"),
        ({"api-version": "2023-04-01"}, {"analysisInput": {"documents": []}}, "InvalidRequest", "InvalidParameterValue"),
        ({"api-version": "2023-04-01"}, _language_body(), "InvalidRequest", "MissingInputDocuments"),
        ({"api-version": "2023-04-01"}, [1, 2], "InvalidRequest", "InvalidRequestBodyFormat"),
        ({"api-version": "2023-04-01"}, _language_body("x", stringIndexType="Bytes"), "InvalidRequest",
         "InvalidParameterValue"),
        ({"api-version": "2023-04-01", "showStats": "maybe"}, _language_body("x"), "InvalidRequest",
         "InvalidParameterValue"),
    ],
)
def test_request_errors_have_the_services_codes(
    query: dict[str, str], body: Any, code: str, inner: str | None
) -> None:
    with pytest.raises(AzureError) as raised:
        parse_language_request(query, body)
    status, error = _error(raised)
    assert status == 400 and error["error"]["code"] == code
    assert error["error"].get("innererror", {}).get("code") == inner


def test_duplicate_ids_and_unknown_model_versions_are_refused() -> None:
    duplicated = {"documents": [{"id": "1", "text": "a"}, {"id": "1", "text": "b"}]}
    with pytest.raises(AzureError) as raised:
        parse_text_analytics_request("v3.1", {}, duplicated)
    assert raised.value.inner_code == "InvalidDocument"
    request = parse_text_analytics_request("v3.1", {"model-version": "2022-11-01"}, {"documents": [{"id": "1", "text": "a"}]})
    with pytest.raises(AzureError) as raised:
        plan(request, AzureLanguageOptions(), "sentiment:1")
    assert raised.value.inner_code == "ModelVersionIncorrect" and "latest,sentiment:1" in str(raised.value)
    with pytest.raises(AzureError) as raised:
        parse_text_analytics_request("v3.2", {}, duplicated)
    assert (raised.value.status, raised.value.code) == (404, "404")


def test_document_errors_and_results_keep_request_order() -> None:
    body = {
        "documents": [
            {"id": "a", "text": "Great food. Awful service.", "language": "en"},
            {"id": "b", "text": "  ", "language": "en"},
            {"id": "c", "text": "Sehr gut", "language": "de"},
            {"id": "d", "text": "x" * 31, "language": "en-GB"},
            {"id": "e", "text": "Fine", "language": ""},
        ]
    }
    request = parse_text_analytics_request("v3.1", {"showStats": "true", "opinionMining": "true"}, body)
    planned = plan(request, AzureLanguageOptions(max_text_elements=30), "sentiment:1")
    assert planned.texts == ["Great food. Awful service.", "Great food.", "Awful service.", "Fine"]
    answer = planned.respond([0.5, 0.95, 0.02, 0.7])
    assert [d["id"] for d in answer["documents"]] == ["a", "e"]
    assert [(e["id"], e["error"]["innererror"]["code"]) for e in answer["errors"]] == [
        ("b", "InvalidDocument"), ("c", "UnsupportedLanguageCode"), ("d", "InvalidDocument"),
    ]
    assert answer["errors"][0]["error"]["innererror"]["message"] == "Document text is empty."
    assert answer["statistics"] == {
        "documentsCount": 5, "validDocumentsCount": 2, "erroneousDocumentsCount": 3, "transactionsCount": 2,
    }
    mixed = answer["documents"][0]
    assert mixed["sentiment"] == "mixed" and mixed["sentikitScore"] == 0.5 and mixed["warnings"] == []
    assert [(s["text"], s["sentiment"], s["offset"], s["length"]) for s in mixed["sentences"]] == [
        ("Great food. ", "positive", 0, 12), ("Awful service.", "negative", 12, 14),
    ]
    assert mixed["sentences"][0]["targets"] == [] and mixed["sentences"][0]["assessments"] == []
    assert mixed["statistics"] == {"charactersCount": 26, "transactionsCount": 1}
    for scores in [mixed["confidenceScores"], *(s["confidenceScores"] for s in mixed["sentences"])]:
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-9)
        assert all(round(v, 2) == v for v in scores.values())
    assert "kind" not in answer


def test_v30_has_no_opinion_mining_and_utf16_offsets() -> None:
    body = {"documents": [{"id": "1", "text": f"{THUMBS} ok. Fine."}]}
    request = parse_text_analytics_request("v3.0", {"opinionMining": "true", "stringIndexType": "UnicodeCodePoint"}, body)
    assert not request.opinion_mining and request.string_index_type == "Utf16CodeUnit"
    answer = plan(request, AzureLanguageOptions(), "sentiment:1").respond([0.9, 0.9, 0.9])
    assert [s["offset"] for s in answer["documents"][0]["sentences"]] == [0, 9]
    assert "targets" not in answer["documents"][0]["sentences"][0]


def test_language_answer_shape_and_the_401_body() -> None:
    request = parse_language_request({"api-version": "2022-05-01"}, _language_body("Nice.", stringIndexType="TextElements_v8"))
    answer = plan(request, AzureLanguageOptions(), "sentiment:1").respond([0.99])
    assert answer["kind"] == "SentimentAnalysisResults" and answer["results"]["modelVersion"] == "sentiment:1"
    assert "statistics" not in answer["results"]
    error = unauthorized(missing=False)
    assert error.status == 401 and error.body()["error"]["code"] == "401"
    assert "invalid subscription key" in error.body()["error"]["message"]


def test_routes_in_process_key_cors_and_metrics(make_client: Any) -> None:
    app = make_client(api_key="k3y", cors_origins=["https://app.example"])
    body = _language_body("Lovely stay.")
    url = "/language/:analyze-text?api-version=2023-04-01"
    assert app.post(url, json=body).json()["error"]["message"].startswith("Access denied due to missing subscription key")
    answer = app.post(url, json=body, headers={"Ocp-Apim-Subscription-Key": "k3y"})
    assert answer.status_code == 200 and answer.json()["results"]["documents"][0]["sentiment"] == "positive"
    bad = app.post(url, content=b"{not json", headers={"Ocp-Apim-Subscription-Key": "k3y", "Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.headers["x-ms-error-code"] == "InvalidRequestBodyFormat"
    preflight = app.options(url, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                                          "Access-Control-Request-Headers": "ocp-apim-subscription-key,content-type"})
    assert preflight.status_code == 200
    metrics = app.get("/metrics", headers={"x-api-key": "k3y"}).text
    assert 'sentikit_requests_total{route="/language/:analyze-text",method="POST",status="200"} 1' in metrics
    assert 'sentikit_errors_total{code="InvalidRequestBodyFormat"} 1' in metrics
