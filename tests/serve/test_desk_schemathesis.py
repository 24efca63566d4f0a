"""schemathesis on the desk's routes (POST /v1/posts, GET /v1/monitor/*) against a live `sentikit serve --monitor`:
no 5xx, and every answer as the OpenAPI document says."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from conftest import live_server
from sentikit.config import ServerLimits
from sentikit.server.openapi import openapi_document

# The document's time pattern cannot say which days exist (2026-02-30 matches it): a 422 for a valid-looking
# time is an acceptable answer to a request the document allows.
CONFIG = SchemathesisConfig.from_dict({"checks": {
    "negative_data_rejection": {"expected-statuses": [400, 404, 405, 406, 413, 414, 415, 422]},
    "positive_data_acceptance": {"expected-statuses": ["2XX", 401, 404, 422]},
}})
schema = schemathesis.openapi.from_dict(openapi_document(limits=ServerLimits(), api_key=False), config=CONFIG).include(
    path_regex="^/v1/(posts|monitor/)")
EXAMPLES = 15


@pytest.fixture(scope="module")
def desk_url(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("desk") / "monitor.db"
    with live_server(trained_model_dir, "--monitor", "--store", str(store), "--alert-below", "0.4", "--window", "20") as url:
        yield url


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_desk_keeps_to_its_openapi_document(case: Any, desk_url: str) -> None:
    case.call_and_validate(base_url=desk_url)
