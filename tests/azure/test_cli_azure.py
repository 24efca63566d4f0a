"""The Azure commands end to end through ``sentikit.cli.main``, authenticated like CI: an environment
service principal (DefaultAzureCredential → MSAL → the stand-in's Azure AD)."""

from __future__ import annotations

from typing import Any

import pytest

RG = "rg-sentikit"


def test_missing_credentials_is_one_line_exit_3(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "11111111-2222-3333-4444-555555555555")
    # No service principal in the environment, and nothing else in the chain may be tried.
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    result = cli("status", "--name", "sentiment", "--resource-group", RG, "--arm-endpoint", "https://127.0.0.1:9")
    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: no usable Azure credential: run `az login`")
    assert "AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET" in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_subscription_is_exit_3(cli: Any) -> None:
    result = cli("status", "--target", "azure", "--name", "sentiment", "--resource-group", RG)
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        "error: no Azure subscription: pass --subscription, set azure.subscription in sentikit.toml, "
        "or set AZURE_SUBSCRIPTION_ID"
    )


def test_service_principal_from_environment_reaches_arm(cli: Any, arm: Any, azure_env: Any) -> None:
    env = azure_env(arm)
    result = cli("status", "--name", "sentiment", "--resource-group", RG, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json == {"name": "sentiment", "target": "azure", "state": "NotFound", "url": None,
                           "image": None, "detail": {"resource_group": RG}}
    token_calls = arm.calls("POST", "/oauth2/v2.0/token")
    assert len(token_calls) == 1
    assert token_calls[0].body["client_id"] == env["AZURE_CLIENT_ID"]
    assert token_calls[0].body["scope"] == f"{arm.endpoint}/.default"  # the configured ARM endpoint's scope
    get = arm.calls("GET", "/containerGroups/sentiment")[0]
    assert get.headers["authorization"].startswith("Bearer ") and get.query["api-version"] == "2023-05-01"
    assert env["AZURE_CLIENT_SECRET"] not in result.stdout + result.stderr


def test_wrong_client_secret_is_an_auth_error(cli: Any, arm: Any, azure_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    azure_env(arm)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-the-secret")
    result = cli("status", "--name", "sentiment", "--resource-group", RG)
    assert result.exit_code == 3
    assert "AADSTS7000215" in result.stderr and "not-the-secret" not in result.stderr


def test_arm_errors_carry_code_and_message(cli: Any, arm: Any, azure_env: Any) -> None:
    azure_env(arm)
    result = cli("status", "--name", "sentiment", "--resource-group", "no-such-rg")
    assert result.exit_code == 4
    assert result.stderr.strip() == (
        "error: reading container group 'sentiment': ResourceGroupNotFound: Resource group 'no-such-rg' could not be found."
    )


def test_arm_refuses_requests_without_a_token(arm: Any) -> None:
    import json
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(arm.ca_path))
    url = f"{arm.endpoint}/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/{RG}/providers/Microsoft.ContainerInstance/containerGroups/x?api-version=2023-05-01"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, context=context)
    assert err.value.code == 401
    assert json.loads(err.value.read())["error"]["code"] == "AuthenticationFailed"
    token = arm.issue_token()
    request = urllib.request.Request(url.split("?")[0], headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, context=context)
    assert err.value.code == 400
    assert json.loads(err.value.read())["error"]["code"] == "MissingApiVersionParameter"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["push", "img:1", "--registry", "Bad_Name", "-g", RG], "invalid registry name 'Bad_Name'"),
        (["deploy", "--name", "Bad--Name", "-g", RG, "--image", "x/y:1", "--target", "azure"], "invalid deployment name"),
        (["deploy", "--name", "ok", "-g", RG, "--image", "x/y:1", "--dns-label", "9starts-with-digit", "--target", "azure"],
         "invalid DNS label '9starts-with-digit'"),
        (["deploy", "--name", "ok", "-g", RG, "--image", "x/y:1", "--dns-label", "ab", "--target", "azure"], "invalid DNS label 'ab'"),
        (["deploy", "--name", "ok", "-g", RG, "--image", "x/y:1", "--dns-label", "ends-with-", "--target", "azure"], "invalid DNS label"),
        (["deploy", "--name", "ok", "-g", RG, "--image", "x/y:1", "--cpu", "9", "--target", "azure"], "invalid --cpu 9.0"),
        (["deploy", "--name", "ok", "-g", RG, "--image", "x/y:1", "--env", "NOVALUE", "--target", "azure"], "--env expects NAME=VALUE"),
    ],
)
def test_invalid_input_fails_before_any_azure_call(cli: Any, arm: Any, azure_env: Any, args: list[str], message: str) -> None:
    azure_env(arm)
    result = cli(*args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert arm.requests == []


@pytest.mark.slow
def test_missing_credentials_real_process_prints_only_our_line(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "SENTIKIT_"))}
    env["AZURE_TOKEN_CREDENTIALS"] = "EnvironmentCredential"  # never probe managed identity endpoints
    result = subprocess.run(
        [sys.executable, "-m", "sentikit", "status", "--target", "azure", "--name", "sentiment", "-g", RG,
         "--subscription", "11111111-2222-3333-4444-555555555555", "--arm-endpoint", "https://127.0.0.1:9"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: no usable Azure credential")
