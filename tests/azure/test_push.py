"""Pushing for real to a local registry: through the ACR flow (ARM stand-in whose registry's
loginServer is the local registry) and through --registry-url."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from sentikit.errors import RegistryAuthError
from sentikit.push import ACR_TOKEN_USERNAME, exchange_aad_token

RG = "rg-sentikit"
pytestmark = pytest.mark.docker


def _manifest_digest(registry: Any, repository: str, tag: str) -> str:
    import base64

    request = urllib.request.Request(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={
            "Authorization": "Basic " + base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode(),
            "Accept": "application/vnd.docker.distribution.manifest.v2+json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def test_push_creates_acr_and_pushes_with_admin_credentials(
    cli: Any, make_standin: Any, azure_env: Any, registry: Any, serving_image: str
) -> None:
    arm = make_standin(docker=True)
    azure_env(arm)
    # A new registry has its admin user disabled; enable it by seeding the 'created' registry later.
    result = cli("push", serving_image, "--registry", "sentiacr01", "-g", RG, "--create", "--sku", "Basic",
                 "--repository", "sentikit/sentiment", "--tag", "v1", "--auth", "admin")
    # Created without the admin user, so --auth admin must refuse with a hint, after creating it.
    assert result.exit_code == 4, result.stderr
    assert "admin user of registry 'sentiacr01' is disabled" in result.stderr
    assert [c.status for c in arm.calls("PUT", "/registries/sentiacr01")] == [201]

    arm.seed_registry(RG, "sentiacr01", admin_user_enabled=True)
    result = cli("push", serving_image, "--registry", "sentiacr01", "-g", RG, "--create",
                 "--repository", "sentikit/sentiment", "--tag", "v1", "--json")
    assert result.exit_code == 0, result.stderr
    pushed = result.json
    assert pushed["reference"] == f"{registry.host}/sentikit/sentiment:v1"
    assert pushed["auth_method"] == "admin-credentials"  # auto: token exchange unavailable → admin user
    assert pushed["registry_created"] is False
    assert pushed["digest"] == _manifest_digest(registry, "sentikit/sentiment", "v1")
    assert len(arm.calls("PUT", "/registries/sentiacr01")) == 1  # reused, not re-created
    assert arm.calls("POST", "/registries/sentiacr01/listCredentials")
    assert registry.password not in result.stdout + result.stderr


def test_push_human_output_says_how_it_authenticated(
    cli: Any, make_standin: Any, azure_env: Any, registry: Any, serving_image: str
) -> None:
    arm = make_standin(docker=True)
    azure_env(arm)
    arm.seed_registry(RG, "sentiacr02", admin_user_enabled=True)
    result = cli("push", serving_image, "--registry", "sentiacr02", "-g", RG, "--repository", "sentikit/human", "--tag", "v2")
    assert result.exit_code == 0, result.stderr
    digest = _manifest_digest(registry, "sentikit/human", "v2")
    assert result.stdout == f"{registry.host}/sentikit/human:v2@{digest}\n"
    assert "authenticated with admin credentials" in result.stderr
    assert f"registry sentiacr02: exists ({registry.host})" in result.stderr
    assert registry.password not in result.stderr


def test_push_to_any_registry_with_password_from_stdin_or_env(
    cli: Any, registry: Any, serving_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli("push", serving_image, "--registry-url", registry.url, "--username", registry.username,
                 "--password-stdin", "--repository", "plain/app", "--tag", "s1", "--json", stdin=registry.password + "\n")
    assert result.exit_code == 0, result.stderr
    assert result.json["reference"] == f"{registry.host}/plain/app:s1"
    assert result.json["auth_method"] == "password"
    assert result.json["digest"] == _manifest_digest(registry, "plain/app", "s1")

    monkeypatch.setenv("REG_PASS", registry.password)
    result = cli("push", serving_image, "--registry-url", registry.host, "-u", registry.username,
                 "--password-env", "REG_PASS", "--repository", "plain/app", "--tag", "s2")
    assert result.exit_code == 0, result.stderr
    assert registry.password not in result.stdout + result.stderr


def test_wrong_password_is_a_registry_auth_error(cli: Any, registry: Any, serving_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REG_PASS", "wrong-password-123")
    result = cli("push", serving_image, "--registry-url", registry.host, "-u", registry.username, "--password-env", "REG_PASS")
    assert result.exit_code == 4
    assert f"registry {registry.host} refused the login (user name and password)" in result.stderr
    assert "wrong-password-123" not in result.stderr


def test_missing_local_image_is_a_user_error(cli: Any, registry: Any, docker_client: Any) -> None:
    result = cli("push", "sentikit-no-such-image:0", "--registry-url", registry.host, "-u", "x", "--password-stdin", stdin="p\n")
    assert result.exit_code == 2
    assert "image sentikit-no-such-image:0 is not in the local Docker engine: build it first" in result.stderr


def test_token_exchange_follows_the_bearer_challenge(arm: Any) -> None:
    """The ACR auth flow of `az acr login`: GET /v2/ challenge → POST <realm host>/oauth2/exchange."""
    aad = arm.issue_token()
    refresh = exchange_aad_token(arm.authority, aad, tenant="tenant-1", verify=str(arm.ca_path))
    assert refresh in arm.refresh_tokens
    exchange = arm.calls("POST", "/oauth2/exchange")[0]
    assert exchange.headers["content-type"] == "application/x-www-form-urlencoded"
    assert exchange.body == {"grant_type": "access_token", "service": arm.authority, "access_token": aad, "tenant": "tenant-1"}
    assert ACR_TOKEN_USERNAME == "00000000-0000-0000-0000-000000000000"

    with pytest.raises(RegistryAuthError, match="refused the Azure AD token"):
        exchange_aad_token(arm.authority, "not-a-token", verify=str(arm.ca_path))


def test_pushing_an_image_for_another_architecture_warns(cli: Any, registry: Any, docker_client: Any) -> None:
    """ACI runs linux/amd64 only: an arm64 image is pushed, but with a warning saying how to rebuild it."""
    import io
    import tarfile
    import uuid

    tag = f"sentikit-test-arm64:{uuid.uuid4().hex[:8]}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in {"Dockerfile": b"FROM scratch\nCOPY hello.txt /hello.txt\n", "hello.txt": b"hi\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    for chunk in docker_client.api.build(fileobj=buffer, custom_context=True, tag=tag, platform="linux/arm64",
                                         rm=True, decode=True):
        assert "error" not in chunk, chunk
    try:
        result = cli("push", tag, "--registry-url", registry.host, "-u", registry.username, "--password-stdin",
                     stdin=registry.password + "\n")
        assert result.exit_code == 0, result.stderr
        assert (f"warning: {tag} is built for linux/arm64, but Azure Container Instances runs linux/amd64 only: "
                "rebuild it with `sentikit build --platform linux/amd64`") in result.stderr
    finally:
        docker_client.images.remove(tag, force=True)


@pytest.mark.slow
def test_azure_ad_token_to_registry_token_to_docker_push_end_to_end(
    cli: Any, make_standin: Any, azure_env: Any, token_registry: Any, tiny_image: str
) -> None:
    """The default login, not the admin fallback: AAD token -> /oauth2/exchange -> /oauth2/token -> push."""
    arm = make_standin(docker=True)
    host = token_registry(arm)
    arm.seed_registry(RG, "tokenacr01", admin_user_enabled=False)
    azure_env(arm)
    result = cli("push", tiny_image, "--registry", "tokenacr01", "-g", RG, "--repository", "sentikit/tiny", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["auth_method"] == "aad-token-exchange" and result.json["registry"] == host
    assert result.json["digest"].startswith("sha256:")
    assert arm.calls("POST", "/oauth2/exchange")[-1].status == 200
    token_calls = arm.calls(None, "/oauth2/token")
    assert token_calls and any("push" in (c.query.get("scope", "") + str(c.body)) for c in token_calls)

    # An identity with AcrPull only: the registry denies the push, and sentikit names the missing role.
    arm.registry_roles = {"AcrPull"}
    denied = cli("push", tiny_image, "--registry", "tokenacr01", "-g", RG, "--repository", "sentikit/denied")
    assert denied.exit_code == 4
    assert "the identity needs the AcrPush role on registry" in denied.stderr, denied.stderr
