"""The Azure AI Language compatibility routes in sentikit's OpenAPI document: paths, schemas, key scheme.

Field names and shapes follow the service's REST specs (Language 2023-04-01 ``analyzetext.json``,
Text Analytics v3.1), restricted to sentiment, plus sentikit's extra ``sentikitScore``.
"""

from __future__ import annotations

from typing import Any

from .azure_language import LANGUAGE_API_VERSIONS, TEXT_ANALYTICS_VERSIONS, AzureLanguageOptions
from .azure_text import STRING_INDEX_TYPES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("AzureErrorResponse"), "InvalidRequest (innererror: InvalidDocumentBatch, InvalidDocument, "
                 "ModelVersionIncorrect, InvalidParameterValue, ...), or an unsupported api-version"),
    "401": _json(_ref("AzureErrorResponse"), "Missing or wrong Ocp-Apim-Subscription-Key (code \"401\")"),
    "413": _json(_ref("AzureErrorResponse"), "Body over the server's byte limit"),
    "415": _json(_ref("AzureErrorResponse"), "Body is not JSON"),
}


def azure_paths(options: AzureLanguageOptions) -> dict[str, Any]:
    """The OpenAPI ``paths`` of the compatibility routes."""
    show_stats = {"name": "showStats", "in": "query", "schema": {"type": "boolean"},
                  "description": "Add request and document statistics."}
    paths: dict[str, Any] = {
        "/language/:analyze-text": {
            "post": {
                "operationId": "azureAnalyzeText",
                "tags": ["Azure AI Language compatibility"],
                "summary": "Azure AI Language SentimentAnalysis (official SDKs work unchanged)",
                "description": f"At most {options.max_documents} documents of at most {options.max_text_elements} "
                "text elements each. Languages answered: " + ", ".join(options.languages) + ".",
                "parameters": [
                    {"name": "api-version", "in": "query", "required": True,
                     "schema": {"type": "string", "enum": list(LANGUAGE_API_VERSIONS)}},
                    show_stats,
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("AnalyzeTextSentimentInput")}}},
                "responses": {"200": _json(_ref("SentimentTaskResult"), "Results per document, in request order"), **_ERRORS},
            }
        }
    }
    for version in TEXT_ANALYTICS_VERSIONS:
        parameters: list[dict[str, Any]] = [
            {"name": "model-version", "in": "query", "schema": {"type": "string", "default": "latest"}},
            show_stats,
            {"name": "loggingOptOut", "in": "query", "schema": {"type": "boolean"}},
        ]
        if version != "v3.0":
            parameters += [
                {"name": "opinionMining", "in": "query", "schema": {"type": "boolean"},
                 "description": "Accepted; targets and assessments come back empty."},
                {"name": "stringIndexType", "in": "query",
                 "schema": {"type": "string", "enum": ["TextElement_v8", *STRING_INDEX_TYPES[1:]], "default": "TextElement_v8"}},
            ]
        paths[f"/text/analytics/{version}/sentiment"] = {
            "post": {
                "operationId": f"azureTextAnalyticsSentiment{version.replace('.', '').upper()}",
                "tags": ["Azure AI Language compatibility"],
                "summary": f"Text Analytics {version} sentiment (official SDKs work unchanged)",
                "parameters": parameters,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("MultiLanguageBatchInput")}}},
                "responses": {"200": _json(_ref("SentimentResponse"), "Results per document, in request order"), **_ERRORS},
            }
        }
    return paths


def azure_schemas() -> dict[str, Any]:
    """The component schemas the compatibility paths refer to."""
    confidences = {
        "type": "object",
        "required": ["positive", "neutral", "negative"],
        "description": "Sum to 1; two decimals.",
        "properties": {k: {"type": "number", "minimum": 0, "maximum": 1} for k in ("positive", "neutral", "negative")},
    }
    sentence = {
        "type": "object",
        "required": ["text", "sentiment", "confidenceScores", "offset", "length"],
        "properties": {
            "text": {"type": "string", "description": "The sentence with the whitespace after it."},
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
            "confidenceScores": _ref("SentimentConfidenceScores"),
            "offset": {"type": "integer", "description": "In the requested stringIndexType."},
            "length": {"type": "integer"},
            "targets": {"type": "array", "items": {"type": "object"}, "description": "Empty (no opinion mining)."},
            "assessments": {"type": "array", "items": {"type": "object"}, "description": "Empty (no opinion mining)."},
            "sentikitScore": {"type": "number", "description": "sentikit's P(positive) for the sentence."},
        },
    }
    document = {
        "type": "object",
        "required": ["id", "sentiment", "confidenceScores", "sentences", "warnings"],
        "properties": {
            "id": {"type": "string"},
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative", "mixed"]},
            "confidenceScores": _ref("SentimentConfidenceScores"),
            "sentences": {"type": "array", "items": _ref("SentenceSentiment")},
            "warnings": {"type": "array", "items": {"type": "object"}},
            "statistics": {"type": "object", "properties": {"charactersCount": {"type": "integer"},
                                                            "transactionsCount": {"type": "integer"}}},
            "sentikitScore": {"type": "number", "description": "sentikit's P(positive) for the whole text."},
        },
    }
    error = {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "innererror": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}},
    }
    batch = {
        "type": "object",
        "required": ["documents"],
        "properties": {"documents": {"type": "array", "items": {
            "type": "object", "required": ["id", "text"],
            "properties": {"id": {"type": "string"}, "text": {"type": "string"}, "language": {"type": "string", "default": "en"}},
        }}},
    }
    response = {
        "type": "object",
        "required": ["documents", "errors", "modelVersion"],
        "properties": {
            "documents": {"type": "array", "items": _ref("SentimentDocumentResult")},
            "errors": {"type": "array", "items": {"type": "object", "required": ["id", "error"],
                                                  "properties": {"id": {"type": "string"}, "error": _ref("AzureError")}}},
            "modelVersion": {"type": "string", "description": "The served model, NAME:VERSION."},
            "statistics": {"type": "object", "properties": {k: {"type": "integer"} for k in (
                "documentsCount", "validDocumentsCount", "erroneousDocumentsCount", "transactionsCount")}},
        },
    }
    return {
        "SentimentConfidenceScores": confidences,
        "SentenceSentiment": sentence,
        "SentimentDocumentResult": document,
        "AzureError": error,
        "AzureErrorResponse": {"type": "object", "required": ["error"], "properties": {"error": _ref("AzureError")}},
        "MultiLanguageBatchInput": batch,
        "SentimentResponse": response,
        "AnalyzeTextSentimentInput": {
            "type": "object",
            "required": ["kind", "analysisInput"],
            "properties": {
                "kind": {"type": "string", "enum": ["SentimentAnalysis"]},
                "analysisInput": _ref("MultiLanguageBatchInput"),
                "parameters": {"type": "object", "properties": {
                    "modelVersion": {"type": "string", "default": "latest"},
                    "loggingOptOut": {"type": "boolean"},
                    "opinionMining": {"type": "boolean"},
                    "stringIndexType": {"type": "string", "enum": list(STRING_INDEX_TYPES), "default": "TextElements_v8"},
                }},
            },
        },
        "SentimentTaskResult": {
            "type": "object",
            "required": ["kind", "results"],
            "properties": {"kind": {"type": "string", "enum": ["SentimentAnalysisResults"]}, "results": _ref("SentimentResponse")},
        },
    }


# The Azure clients' key header, beside sentikit's bearer and X-API-Key schemes.
KEY_SCHEME = {"azureKey": {"type": "apiKey", "in": "header", "name": "Ocp-Apim-Subscription-Key"}}
