"""schemathesis (property-based, from the OpenAPI document) against a live `sentikit serve` (issue 18.12).

Every operation gets a bounded number of generated requests; each answer must be no 5xx and
match what the document says (status codes, content types, response schemas).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from hypothesis import HealthCheck, settings

from conftest import live_server
from sentikit.config import ServerLimits
from sentikit.server.openapi import openapi_document

# The document the server below publishes: default limits, no API key. Invalid input may also be
# refused as too large (413: text, batch, body; 414: URL), which the document says.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [400, 404, 405, 406, 413, 414, 415, 422]}}}
)
document = openapi_document(limits=ServerLimits(), api_key=False)
# sentikit's own API; the Azure AI Language compatibility routes follow the service's documents, not this one's rules.
schema = schemathesis.openapi.from_dict(document, config=CONFIG).exclude(path_regex="^/(language|text)/")
EXAMPLES = 30


@pytest.fixture(scope="module")
def live_url(trained_model_dir: Path) -> Iterator[str]:
    with live_server(trained_model_dir) as url:
        yield url


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_live_server_keeps_to_its_openapi_document(case: Any, live_url: str) -> None:
    case.call_and_validate(base_url=live_url)
