"""The official Azure AI Language clients, unmodified, against a real `sentikit serve`.

Python: ``azure-ai-textanalytics`` (TextAnalyticsClient.analyze_sentiment) over every API version
it speaks; JavaScript: ``@azure/ai-language-text`` from clients/azure-language, run by ``node --test``.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from azure.ai.textanalytics import TextAnalyticsClient
from azure.core.credentials import AccessToken, AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from conftest import tls_files

pytestmark = pytest.mark.slow

KEY = "azure-compat-key"
ROOT = Path(__file__).resolve().parents[2]
NODE_SUITE = ROOT / "clients" / "azure-language"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

POSITIVE = "The food was wonderful and the staff were lovely."
NEGATIVE = "Terrible service, rude staff, and the room was filthy."
# Emoji with a skin-tone modifier, CJK, and a ZWJ family: three sentences whose offsets differ by unit.
MIXED_SCRIPTS = "Love it \U0001F44D\U0001F3FD! 今天很好。 Family \U0001F468\u200d\U0001F469\u200d\U0001F467 time."
EXPECTED_SPANS = {  # (offset, length) of each sentence, worked out by hand
    "UnicodeCodePoint": [(0, 12), (12, 6), (18, 18)],
    "Utf16CodeUnit": [(0, 14), (14, 6), (20, 21)],
    "TextElement_v8": [(0, 12), (12, 6), (18, 16)],  # Unicode 8.0: modifier and ZWJ members count apart
}


@pytest.fixture
def endpoint(start_server: Any, model_dir: Path) -> str:
    server = start_server(str(model_dir), "--no-access-log", env={"SENTIKIT_API_KEY": KEY})
    return str(server.url)


def _client(endpoint: str, api_version: str | None = None, key: str = KEY) -> TextAnalyticsClient:
    options = {"api_version": api_version} if api_version else {}
    return TextAnalyticsClient(endpoint, AzureKeyCredential(key), **options)


def _assert_scores(scores: Any) -> None:
    values = (scores.positive, scores.neutral, scores.negative)
    assert all(0.0 <= v <= 1.0 for v in values) and sum(values) == pytest.approx(1.0, abs=1e-9)


def test_python_client_against_the_language_api(endpoint: str) -> None:
    client = _client(endpoint)  # 5.4 defaults to api-version 2023-04-01
    raw: list[Any] = []
    plain = client.analyze_sentiment([POSITIVE, NEGATIVE, f"{POSITIVE} {NEGATIVE}"], raw_response_hook=raw.append)
    assert [d.sentiment for d in plain] == ["positive", "negative", "mixed"]
    assert raw[0].http_request.url.startswith(f"{endpoint}/language/:analyze-text?api-version=2023-04-01")
    for document in plain:
        assert not document.is_error and document.warnings == []
        _assert_scores(document.confidence_scores)
        for sentence in document.sentences:
            _assert_scores(sentence.confidence_scores)
            assert sentence.mined_opinions is None or sentence.mined_opinions == []
    both = plain[2].sentences
    assert [(s.text, s.offset, s.length) for s in both] == [
        (POSITIVE + " ", 0, len(POSITIVE) + 1), (NEGATIVE, len(POSITIVE) + 1, len(NEGATIVE)),
    ]
    # sentikit's own score rides along, ignored by the client's models.
    body = raw[0].raw_response["results"]["documents"]
    assert body[0]["sentikitScore"] > 0.5 > body[1]["sentikitScore"]

    stats: list[Any] = []
    documents = [
        {"id": "review-7", "text": POSITIVE, "language": "en"},
        {"id": "review-3", "text": "", "language": "en"},
        {"id": "review-9", "text": "Très bon repas.", "language": "fr"},
        {"id": "review-1", "text": NEGATIVE, "language": "en-GB"},
    ]
    results = client.analyze_sentiment(
        documents, show_stats=True, show_opinion_mining=True, model_version="latest", raw_response_hook=stats.append
    )
    assert [r.id for r in results] == ["review-7", "review-3", "review-9", "review-1"]
    assert [r.is_error for r in results] == [False, True, True, False]
    assert results[1].error.code == "InvalidDocument" and results[1].error.message == "Document text is empty."
    assert results[2].error.code == "UnsupportedLanguageCode" and "Supported languages: en" in results[2].error.message
    assert results[0].sentiment == "positive" and results[3].sentiment == "negative"
    assert results[0].statistics.character_count == len(POSITIVE) and results[0].statistics.transaction_count == 1
    assert all(s.mined_opinions == [] for s in results[0].sentences)
    batch = stats[0].statistics
    assert (batch.document_count, batch.valid_document_count, batch.erroneous_document_count, batch.transaction_count) == (
        4, 2, 2, 2,
    )
    assert stats[0].model_version.startswith("sentiment:")

    with pytest.raises(HttpResponseError) as too_many:
        client.analyze_sentiment([POSITIVE] * 11)
    assert too_many.value.status_code == 400 and too_many.value.error.code == "InvalidDocumentBatch"
    assert "Batch request contains too many records. Max 10 records are permitted." in str(too_many.value)
    with pytest.raises(HttpResponseError) as bad_version:
        client.analyze_sentiment([POSITIVE], model_version="2022-11-01")
    assert bad_version.value.error.code == "ModelVersionIncorrect"
    older = _client(endpoint, "2022-05-01").analyze_sentiment([NEGATIVE])
    assert older[0].sentiment == "negative"


@pytest.mark.parametrize("api_version", ["v3.1", "v3.0"])
def test_python_client_against_text_analytics(endpoint: str, api_version: str) -> None:
    client = _client(endpoint, api_version)
    raw: list[Any] = []
    extra = {"show_opinion_mining": True} if api_version == "v3.1" else {}
    results = client.analyze_sentiment(
        [{"id": "1", "text": f"{POSITIVE} {NEGATIVE}", "language": "en"}, {"id": "2", "text": "  "}],
        show_stats=True, raw_response_hook=raw.append, **extra,
    )
    assert raw[0].http_request.url.startswith(f"{endpoint}/text/analytics/{api_version}/sentiment")
    assert results[0].sentiment == "mixed" and results[1].is_error and results[1].error.code == "InvalidDocument"
    assert raw[0].statistics.erroneous_document_count == 1
    offsets = [s.offset for s in results[0].sentences]
    if api_version == "v3.0":  # the client drops v3.0 offsets, which were never in its unit
        assert offsets == [None, None] and results[0].sentences[0].mined_opinions is None
    else:
        assert offsets == [0, len(POSITIVE) + 1] and results[0].sentences[0].mined_opinions == []
    with pytest.raises(HttpResponseError) as too_many:
        client.analyze_sentiment([POSITIVE] * 11)
    assert too_many.value.error.code == "InvalidDocumentBatch"


def test_python_client_offsets_in_each_string_index_type(endpoint: str) -> None:
    for api_version in ("2023-04-01", "v3.1"):
        client = _client(endpoint, api_version)
        for index_type, spans in EXPECTED_SPANS.items():
            [result] = client.analyze_sentiment([MIXED_SCRIPTS], string_index_type=index_type)
            assert [s.text for s in result.sentences] == ["Love it \U0001F44D\U0001F3FD! ", "今天很好。 ", MIXED_SCRIPTS[18:]]
            assert [(s.offset, s.length) for s in result.sentences] == spans, (api_version, index_type)


def test_python_client_with_a_wrong_or_missing_key(endpoint: str) -> None:
    for api_version in ("2023-04-01", "v3.1", "v3.0"):
        with pytest.raises(ClientAuthenticationError) as wrong:
            _client(endpoint, api_version, key="not-the-key").analyze_sentiment([POSITIVE])
        assert wrong.value.status_code == 401 and "invalid subscription key" in str(wrong.value)
    request = urllib.request.Request(
        f"{endpoint}/text/analytics/v3.1/sentiment", data=b'{"documents": []}', headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=10)
    assert missing.value.code == 401 and b"missing subscription key" in missing.value.read()


class StaticToken:
    """A token credential (azure-core's TokenCredential protocol) that hands out one bearer token.

    Stands where Entra ID would: sentikit accepts its API key as the bearer token, and the
    client's bearer policy refuses to send a token over anything but HTTPS.
    """

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        assert scopes == ("https://cognitiveservices.azure.com/.default",)
        return AccessToken(self.token, int(time.time()) + 3600)


def _wait_https(url: str, ca: Path, exited: Callable[[], str | None], timeout: float = 60.0) -> None:
    """Poll ``url``/readyz over HTTPS (trusting ``ca``); ``exited()`` gives the logs of a server that stopped."""
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = exited()
        assert logs is None, f"the server stopped:\n{logs}"
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2, context=context) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} was not ready within {timeout}s")


@dataclass
class HttpsServer:
    url: str
    http_url: str  # the same server's address with the wrong scheme
    ca: Path


@pytest.fixture
def https_server(start_server: Any, model_dir: Path, tmp_path: Path) -> HttpsServer:
    """``sentikit serve --tls-cert --tls-key`` with a test CA."""
    ca, cert, key = tls_files(tmp_path / "tls")
    server = start_server(
        str(model_dir), "--tls-cert", str(cert), "--tls-key", str(key), "--no-access-log", wait=False,
        env={"SENTIKIT_API_KEY": KEY},
    )
    url = server.url.replace("http://", "https://")
    _wait_https(url, ca, lambda: None if server.process.poll() is None else server.stop(0)[1])
    return HttpsServer(url, server.url, ca)


def test_https_with_a_token_credential(https_server: HttpsServer) -> None:
    url, ca = https_server.url, str(https_server.ca)
    with pytest.raises(ServiceRequestError, match="non-TLS"):  # the client's own rule, why TLS matters
        TextAnalyticsClient(https_server.http_url, StaticToken(KEY)).analyze_sentiment([POSITIVE])
    client = TextAnalyticsClient(url, StaticToken(KEY), connection_verify=ca)
    results = client.analyze_sentiment([POSITIVE] * 10)
    assert [r.sentiment for r in results] == ["positive"] * 10
    with pytest.raises(ClientAuthenticationError):
        TextAnalyticsClient(url, StaticToken("wrong"), connection_verify=ca).analyze_sentiment([POSITIVE])
    keyed = TextAnalyticsClient(url, AzureKeyCredential(KEY), api_version="v3.1", connection_verify=ca)
    assert keyed.analyze_sentiment([NEGATIVE])[0].sentiment == "negative"


def test_tls_misconfiguration_is_a_one_line_error(start_server: Any, model_dir: Path, tmp_path: Path) -> None:
    server = start_server(str(model_dir), "--tls-cert", str(tmp_path / "missing.pem"), wait=False)
    code, err = server.stop(0)
    assert code == 2 and f"TLS file {tmp_path / 'missing.pem'} does not exist" in err and "Traceback" not in err


def _node() -> str:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        if IN_CI:
            pytest.fail("node and npm are not installed; CI must install them (scripts/setup-test-env.sh)")
        pytest.skip("node/npm are not installed (apt-get install nodejs npm); CI runs this test")
    return node


def _run_node_suite(url: str, http_url: str, ca: Path) -> None:
    node = _node()
    if not (NODE_SUITE / "node_modules" / "@azure" / "ai-language-text").is_dir():
        # The client exactly as package-lock.json pins it, from the npm registry.
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_SUITE, check=True, capture_output=True, timeout=300)
    env = {
        **os.environ,
        "SENTIKIT_TEST_URL": url,
        "SENTIKIT_TEST_HTTP_URL": http_url,
        "SENTIKIT_TEST_API_KEY": KEY,
        "NODE_EXTRA_CA_CERTS": str(ca),
    }
    run = subprocess.run([node, "--test", "test/"], cwd=NODE_SUITE, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# fail 0" in run.stdout and "# pass 8" in run.stdout, run.stdout


def test_javascript_client_against_sentikit(https_server: HttpsServer) -> None:
    """Over HTTPS (the test CA through NODE_EXTRA_CA_CERTS): the client sends keys and tokens only there."""
    _run_node_suite(https_server.url, https_server.http_url, https_server.ca)


@pytest.mark.docker
def test_both_clients_against_the_built_image(app_image: Any, docker_client: Any, tmp_path: Path) -> None:
    """The image, configured only by the environment, serving HTTPS from mounted files."""
    from _docker_fixtures import RUN_ID, TEST_LABEL

    tls = tmp_path / "tls"
    ca, _, _ = tls_files(tls)
    # The container's user (uid 10001) reads the mounted certificate and key.
    tls.chmod(0o755)
    for path in tls.iterdir():
        path.chmod(0o644)
    container = docker_client.containers.run(
        app_image.tag, detach=True, ports={"8000/tcp": ("127.0.0.1", None)}, labels={TEST_LABEL: RUN_ID},
        volumes={str(tls): {"bind": "/tls", "mode": "ro"}},
        environment={"SENTIKIT_API_KEY": KEY, "SENTIKIT_SERVER_TLS_CERT": "/tls/cert.pem",
                     "SENTIKIT_SERVER_TLS_KEY": "/tls/key.pem"},
    )
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
        url, http_url = f"https://127.0.0.1:{port}", f"http://127.0.0.1:{port}"

        def exited() -> str | None:
            container.reload()
            return None if container.status in ("created", "running") else container.logs().decode(errors="replace")

        _wait_https(url, ca, exited)
        for api_version in ("2023-04-01", "v3.1", "v3.0"):
            client = TextAnalyticsClient(url, AzureKeyCredential(KEY), api_version=api_version, connection_verify=str(ca))
            results = client.analyze_sentiment([POSITIVE, "", f"{POSITIVE} {NEGATIVE}"])
            assert [r.is_error for r in results] == [False, True, False]
            assert (results[0].sentiment, results[2].sentiment) == ("positive", "mixed")
            with pytest.raises(HttpResponseError) as too_many:
                client.analyze_sentiment([POSITIVE] * 11)
            assert too_many.value.error.code == "InvalidDocumentBatch"
        _run_node_suite(url, http_url, ca)
        # The image's own health check follows the scheme.
        deadline = time.monotonic() + 60
        while container.attrs["State"].get("Health", {}).get("Status") != "healthy" and time.monotonic() < deadline:
            time.sleep(1)
            container.reload()
        assert container.attrs["State"]["Health"]["Status"] == "healthy", container.attrs["State"]["Health"]
    finally:
        container.remove(force=True)
