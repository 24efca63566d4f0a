"""Azure AI Language sentiment, answered by a sentikit model: the protocol without the web framework.

Two API shapes, as the official clients (``azure-ai-textanalytics``, ``@azure/ai-language-text``)
send them and parse the answers:

* ``POST /language/:analyze-text?api-version=2023-04-01`` (or ``2022-05-01``): body
  ``{"kind": "SentimentAnalysis", "analysisInput": {"documents": [...]}, "parameters": {...}}``,
  answer ``{"kind": "SentimentAnalysisResults", "results": {...}}``;
* ``POST /text/analytics/v3.1/sentiment`` (or ``v3.0``): body ``{"documents": [...]}``, options in
  the query string, answer ``{"documents", "errors", "modelVersion", "statistics"?}``.

From one probability to three classes: the model gives P(positive) = p. It is first re-centred
on the server's threshold t (q = p/2t below it, 1/2 + (p-t)/2(1-t) above), so that q = 1/2 is
the decision boundary. Within ``neutral_band`` b of it the mass moves linearly to neutral:
neutral = max(0, 1 - |q - 1/2| / b), and the rest is shared as q : 1-q between positive and
negative. At the threshold a sentence is fully neutral; outside the band its confidences are
exactly (q, 0, 1-q). A sentence's label is its most confident class. The document's
confidences are the mean of its sentences'; its label follows the service's rule: positive and
negative sentences make it ``mixed``, otherwise positive or negative if any sentence is, else
neutral. sentikit's own score of the whole text and of each sentence rides along as
``sentikitScore`` (clients ignore fields they do not know).

:func:`parse_language_request` / :func:`parse_text_analytics_request` validate a request into a
:class:`SentimentRequest` (raising :class:`AzureError` with the service's error body);
:func:`plan` lists the texts to score; :meth:`Plan.respond` builds the answer from the scores.
:mod:`.azure_routes` serves them with Starlette.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

from ..config import Settings
from ..errors import ConfigError
from .azure_text import STRING_INDEX_TYPES, StringIndexType, count_text_elements, index_converter, sentence_spans

LANGUAGE_API_VERSIONS = ("2022-05-01", "2023-04-01")
TEXT_ANALYTICS_VERSIONS = ("v3.0", "v3.1")
SENTIMENT_KIND = "SentimentAnalysis"
# Tasks the real /:analyze-text accepts; sentikit answers only sentiment.
OTHER_KINDS = ("EntityLinking", "EntityRecognition", "KeyPhraseExtraction", "LanguageDetection", "PiiEntityRecognition")
DATA_LIMITS_URL = "https://aka.ms/text-analytics-data-limits"
LANGUAGE_SUPPORT_URL = "https://aka.ms/text-analytics/language-support?tabs=sentiment-analysis"
TRANSACTION_TEXT_ELEMENTS = 1_000  # the service bills (and counts) a document per 1,000 text elements

ApiShape = Literal["language", "text-analytics"]


@dataclass(frozen=True)
class AzureLanguageOptions:
    """The service limits and the three-class mapping of the compatibility routes."""

    max_documents: int = 10
    max_text_elements: int = 5_120
    neutral_band: float = 0.2
    languages: tuple[str, ...] = ("en",)
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.neutral_band <= 0.5:
            raise ConfigError(f"server.azure_neutral_band must be from 0 to 0.5, got {self.neutral_band}")
        if self.max_documents < 1 or self.max_text_elements < 1:
            raise ConfigError("server.azure_max_documents and server.azure_max_text_elements must be at least 1")
        if not self.languages:
            raise ConfigError("server.azure_languages needs at least one language code, e.g. 'en'")

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureLanguageOptions:
        languages = tuple(code.strip() for code in settings.server_azure_languages.split(",") if code.strip())
        return cls(
            max_documents=settings.server_azure_max_documents,
            max_text_elements=settings.server_azure_max_text_elements,
            neutral_band=settings.server_azure_neutral_band,
            languages=languages,
            threshold=settings.threshold,
        )


class AzureError(Exception):
    """An error answered in the service's shape: ``{"error": {"code", "message", "innererror"?}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        inner_code: str | None = None,
        inner_message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(inner_message or message)
        self.status, self.code, self.message = status, code, message
        self.inner_code, self.inner_message = inner_code, inner_message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner_code:
            error["innererror"] = {"code": self.inner_code, "message": self.inner_message or self.message}
        return {"error": error}


def invalid_request(inner_code: str, inner_message: str, status: int = 400) -> AzureError:
    """A request-level ``InvalidRequest`` error with an inner code (how the service reports bad input)."""
    outer = "Invalid document in request." if inner_code in ("InvalidDocument", "InvalidDocumentBatch") else "Invalid Request."
    return AzureError(status, "InvalidRequest", outer, inner_code, inner_message)


def body_format_error(detail: str) -> AzureError:
    return invalid_request(
        "InvalidRequestBodyFormat",
        "Request body format is wrong. Make sure the json request is serialized correctly and there are no "
        f"null members. ({detail})",
    )


def unauthorized(missing: bool) -> AzureError:
    """The 401 the service's gateway answers for a missing or wrong ``Ocp-Apim-Subscription-Key``."""
    message = (
        "Access denied due to missing subscription key. Make sure to include subscription key when making "
        "requests to an API."
        if missing
        else "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
        "key for an active subscription and use a correct regional API endpoint for your resource."
    )
    challenge = 'AzureApiManagementKey realm="sentikit",name="Ocp-Apim-Subscription-Key",type="header"'
    return AzureError(401, "401", message, headers={"WWW-Authenticate": challenge})


def resource_not_found() -> AzureError:
    """The gateway's 404 for a path (here: an API version) it does not serve."""
    return AzureError(404, "404", "Resource not found")


# --- requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputDocument:
    id: str
    text: str
    language: str


@dataclass(frozen=True)
class SentimentRequest:
    """A validated sentiment request of either API shape."""

    shape: ApiShape
    api_version: str
    documents: tuple[InputDocument, ...]
    show_stats: bool = False
    opinion_mining: bool = False
    string_index_type: StringIndexType = "TextElements_v8"
    model_version: str = "latest"


def parse_language_request(query: Mapping[str, str], body: Any) -> SentimentRequest:
    """Validate ``POST /language/:analyze-text`` (query string and JSON body)."""
    version = query.get("api-version")
    if not version:
        raise AzureError(
            400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."
        )
    if version not in LANGUAGE_API_VERSIONS:
        raise AzureError(
            400,
            "UnsupportedApiVersionValue",
            f"Unsupported api-version '{version[:50]}'. The supported api-versions are '{', '.join(LANGUAGE_API_VERSIONS)}'.",
        )
    body = _object(body, "the request body")
    kind = body.get("kind")
    if kind != SENTIMENT_KIND:
        if not isinstance(kind, str) or not kind:
            raise invalid_request("InvalidParameterValue", "The 'kind' field is required: use 'SentimentAnalysis'.")
        known = kind in OTHER_KINDS
        raise invalid_request(
            "InvalidParameterValue",
            f"Task kind '{kind[:50]}' is {'not served by this sentikit endpoint' if known else 'not a valid kind'}; "
            "it answers 'SentimentAnalysis' only.",
        )
    analysis_input = _object(body.get("analysisInput"), "'analysisInput'")
    parameters = _object(body.get("parameters") or {}, "'parameters'")
    return SentimentRequest(
        shape="language",
        api_version=version,
        documents=_documents(analysis_input.get("documents")),
        show_stats=_query_flag(query, "showStats"),
        opinion_mining=_body_flag(parameters, "opinionMining"),
        string_index_type=_index_type(parameters.get("stringIndexType")),
        model_version=_model_version(parameters.get("modelVersion")),
    )


def parse_text_analytics_request(version: str, query: Mapping[str, str], body: Any) -> SentimentRequest:
    """Validate ``POST /text/analytics/{version}/sentiment``; an unknown version is the gateway's 404."""
    if version not in TEXT_ANALYTICS_VERSIONS:
        raise resource_not_found()
    body = _object(body, "the request body")
    # v3.0 had neither opinion mining nor a choice of offsets (they were UTF-16 code units).
    v30 = version == "v3.0"
    return SentimentRequest(
        shape="text-analytics",
        api_version=version,
        documents=_documents(body.get("documents")),
        show_stats=_query_flag(query, "showStats"),
        opinion_mining=False if v30 else _query_flag(query, "opinionMining"),
        string_index_type="Utf16CodeUnit" if v30 else _index_type(query.get("stringIndexType")),
        model_version=_model_version(query.get("model-version")),
    )


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise body_format_error(f"{what} must be a JSON object")
    return value


def _documents(value: Any) -> tuple[InputDocument, ...]:
    if value is None or value == []:
        raise invalid_request("MissingInputDocuments", "Missing input records.")
    if not isinstance(value, list):
        raise body_format_error("'documents' must be an array")
    documents: list[InputDocument] = []
    seen: set[str] = set()
    for position, item in enumerate(value):
        if not isinstance(item, dict):
            raise body_format_error(f"documents[{position}] must be an object")
        doc_id, text, language = item.get("id"), item.get("text"), item.get("language")
        if not isinstance(doc_id, str) or not doc_id:
            raise body_format_error(f"documents[{position}].id must be a non-empty string")
        if text is not None and not isinstance(text, str):
            raise body_format_error(f"documents[{position}].text must be a string")
        if language is not None and not isinstance(language, str):
            raise body_format_error(f"documents[{position}].language must be a string")
        if doc_id in seen:
            raise invalid_request(
                "InvalidDocument", "Request contains duplicated Ids. Make sure each document has a unique Id."
            )
        seen.add(doc_id)
        documents.append(InputDocument(doc_id, text or "", language or ""))
    return tuple(documents)


def _query_flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise invalid_request("InvalidParameterValue", f"Invalid value for '{name}': '{raw[:50]}'. Use true or false.")


def _body_flag(parameters: Mapping[str, Any], name: str) -> bool:
    raw = parameters.get(name)
    if raw is None:
        return False
    if isinstance(raw, bool):
        return raw
    # The service's JSON binding also takes the strings its own samples send ("True").
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise invalid_request("InvalidParameterValue", f"Invalid value for '{name}': use true or false.")


def _index_type(raw: Any) -> StringIndexType:
    if raw is None or raw == "":
        return "TextElements_v8"  # the service's default, in both API shapes
    if isinstance(raw, str):
        # v3.x spells it TextElement_v8, the Language API TextElements_v8; both mean the same.
        wanted = "textelements_v8" if raw.lower() == "textelement_v8" else raw.lower()
        for name in STRING_INDEX_TYPES:
            if name.lower() == wanted:
                return name
    raise invalid_request(
        "InvalidParameterValue",
        f"Invalid value for 'stringIndexType': '{str(raw)[:50]}'. Supported values: {', '.join(STRING_INDEX_TYPES)}.",
    )


def _model_version(raw: Any) -> str:
    if raw is None or raw == "":
        return "latest"
    if not isinstance(raw, str):
        raise body_format_error("'modelVersion' must be a string")
    return raw


# --- answering -----------------------------------------------------------------------------


@dataclass
class _Document:
    source: InputDocument
    spans: list[tuple[int, int]]
    text_elements: int
    whole: int  # index in the plan's texts of the whole (stripped) document
    sentences: list[int]  # ... and of each sentence


@dataclass
class Plan:
    """What to score for one request, and how to turn the scores into the service's answer."""

    request: SentimentRequest
    options: AzureLanguageOptions
    model_version: str
    texts: list[str] = field(default_factory=list)
    _results: list[_Document | dict[str, Any]] = field(default_factory=list)

    def respond(self, scores: Sequence[float]) -> dict[str, Any]:
        """The answer body, given the model's score of each of :attr:`texts` (in order)."""
        if len(scores) != len(self.texts):
            raise ValueError(f"expected {len(self.texts)} scores, got {len(scores)}")
        documents: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        transactions = 0
        for result in self._results:
            if isinstance(result, dict):
                errors.append(result)
                continue
            document = self._document(result, scores)
            transactions += document.get("statistics", {}).get("transactionsCount", 0)
            documents.append(document)
        results: dict[str, Any] = {"documents": documents, "errors": errors, "modelVersion": self.model_version}
        if self.request.show_stats:
            results["statistics"] = {
                "documentsCount": len(self.request.documents),
                "validDocumentsCount": len(documents),
                "erroneousDocumentsCount": len(errors),
                "transactionsCount": transactions,
            }
        if self.request.shape == "language":
            return {"kind": "SentimentAnalysisResults", "results": results}
        return results

    def _document(self, planned: _Document, scores: Sequence[float]) -> dict[str, Any]:
        text = planned.source.text
        to_unit = index_converter(text, self.request.string_index_type)
        sentences: list[dict[str, Any]] = []
        all_confidences: list[tuple[float, float, float]] = []
        for (start, end), index in zip(planned.spans, planned.sentences):
            score = float(scores[index])
            confidences = three_way(score, self.options.threshold, self.options.neutral_band)
            all_confidences.append(confidences)
            offset = to_unit(start)
            sentence: dict[str, Any] = {
                "text": text[start:end],
                "sentiment": sentence_label(confidences),
                "confidenceScores": _rounded(confidences),
                "offset": offset,
                "length": to_unit(end) - offset,
                "sentikitScore": score,
            }
            if self.request.opinion_mining:
                sentence["targets"], sentence["assessments"] = [], []
            sentences.append(sentence)
        mean = tuple(sum(c[i] for c in all_confidences) / len(all_confidences) for i in range(3))
        document: dict[str, Any] = {
            "id": planned.source.id,
            "sentiment": document_label([s["sentiment"] for s in sentences]),
            "confidenceScores": _rounded((mean[0], mean[1], mean[2])),
            "sentences": sentences,
            "warnings": [],
            "sentikitScore": float(scores[planned.whole]),
        }
        if self.request.show_stats:
            document["statistics"] = {
                "charactersCount": planned.text_elements,
                "transactionsCount": max(1, math.ceil(planned.text_elements / TRANSACTION_TEXT_ELEMENTS)),
            }
        return document


def plan(request: SentimentRequest, options: AzureLanguageOptions, model_version: str) -> Plan:
    """Check each document (document-level errors) and list the texts to score.

    Raises :class:`AzureError` for the request-level errors the service reports after parsing:
    too many documents, an unknown model version.
    """
    if len(request.documents) > options.max_documents:
        raise invalid_request(
            "InvalidDocumentBatch",
            f"Batch request contains too many records. Max {options.max_documents} records are permitted.",
        )
    accepted_versions = ("latest", model_version)
    if request.model_version not in accepted_versions:
        raise invalid_request(
            "ModelVersionIncorrect",
            f"Invalid model version. Possible values are: {','.join(accepted_versions)}. For additional details "
            "see https://aka.ms/text-analytics-model-versioning",
        )
    result = Plan(request, options, model_version)
    positions: dict[str, int] = {}  # each distinct text is scored once (a one-sentence document is its sentence)

    def position(text: str) -> int:
        if text not in positions:
            positions[text] = len(result.texts)
            result.texts.append(text)
        return positions[text]

    for document in request.documents:
        error = _document_error(document, options)
        if isinstance(error, dict):
            result._results.append(error)
            continue
        spans = sentence_spans(document.text)
        whole = position(document.text.strip())
        sentences = [position(document.text[start:end].strip()) for start, end in spans]
        result._results.append(_Document(document, spans, error, whole, sentences))
    return result


def _document_error(document: InputDocument, options: AzureLanguageOptions) -> dict[str, Any] | int:
    """The document's entry in ``errors``, or else its size in text elements."""

    def error(code: str, message: str, inner_code: str, inner_message: str) -> dict[str, Any]:
        body = AzureError(400, code, message, inner_code, inner_message).body()["error"]
        return {"id": document.id, "error": body}

    if not _language_supported(document.language, options.languages):
        return error(
            "InvalidArgument",
            "Invalid Language Code.",
            "UnsupportedLanguageCode",
            f"Invalid language code. Supported languages: {','.join(options.languages)}. For additional details see "
            f"{LANGUAGE_SUPPORT_URL}",
        )
    if not document.text.strip():
        return error("InvalidArgument", "Invalid document in request.", "InvalidDocument", "Document text is empty.")
    elements = count_text_elements(document.text)
    if elements > options.max_text_elements:
        return error(
            "InvalidArgument",
            "Invalid document in request.",
            "InvalidDocument",
            "A document within the request was too large to be processed. Limit document size to: "
            f"{options.max_text_elements} text elements. For additional details on the data limitations see "
            f"{DATA_LIMITS_URL}",
        )
    return elements


def _language_supported(language: str, supported: Sequence[str]) -> bool:
    """An empty language means the service default (English); ``en-GB`` counts as ``en``."""
    if not language:
        return "en" in supported
    wanted = {code.lower() for code in supported}
    language = language.lower()
    return language in wanted or language.split("-", 1)[0] in wanted


# --- one probability, three classes ----------------------------------------------------------


def three_way(p: float, threshold: float = 0.5, band: float = 0.2) -> tuple[float, float, float]:
    """(positive, neutral, negative) confidences, summing to 1, for P(positive) = ``p``.

    See the module docstring: re-centre on ``threshold``, then move the mass within ``band``
    of the boundary to neutral, linearly, all of it at the boundary.
    """
    p = min(1.0, max(0.0, p))
    if p < threshold:
        q = p / (2 * threshold)
    else:
        q = 0.5 + (p - threshold) / (2 * (1 - threshold)) if threshold < 1 else 0.5
    neutral = max(0.0, 1.0 - abs(q - 0.5) / band) if band > 0 else 0.0
    return q * (1 - neutral), neutral, (1 - q) * (1 - neutral)


def sentence_label(confidences: tuple[float, float, float]) -> str:
    """The most confident class (neutral wins ties, as an undecided sentence should)."""
    positive, neutral, negative = confidences
    if neutral >= positive and neutral >= negative:
        return "neutral"
    return "positive" if positive > negative else "negative"


def document_label(sentence_labels: Sequence[str]) -> str:
    """The service's rule: positive and negative sentences make a mixed document."""
    labels = set(sentence_labels)
    if "positive" in labels and "negative" in labels:
        return "mixed"
    if "positive" in labels:
        return "positive"
    if "negative" in labels:
        return "negative"
    return "neutral"


def _rounded(confidences: tuple[float, float, float]) -> dict[str, float]:
    """Two decimals, as the service reports them, still summing to exactly 1 (largest remainder)."""
    hundredths = [c * 100 for c in confidences]
    floors = [math.floor(h) for h in hundredths]
    order = sorted(range(3), key=lambda i: hundredths[i] - floors[i], reverse=True)
    for i in order[: 100 - sum(floors)]:
        floors[i] += 1
    positive, neutral, negative = (f / 100 for f in floors)
    return {"positive": positive, "neutral": neutral, "negative": negative}
