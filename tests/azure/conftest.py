"""Fixtures for the Azure tests: the ARM stand-in, a test credential, and the real serving image in the test registry.

The shared Docker fixtures (``docker_client``, ``base_image``, ``registry``) come from
``tests/_docker_fixtures.py``; they skip without an engine, and fail under ``CI=true``.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from _docker_fixtures import RUN_ID

_here = Path(__file__).parent
# --import-mode=importlib: load the stand-in module by path (conftest imports do not work).
_spec = importlib.util.spec_from_file_location("sentikit_tests_arm_standin", _here / "arm_standin.py")
arm_standin = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules[_spec.name] = arm_standin  # type: ignore[union-attr]
_spec.loader.exec_module(arm_standin)  # type: ignore[union-attr]
ArmStandIn = arm_standin.ArmStandIn

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
RESOURCE_GROUP = "rg-sentikit"

@dataclass
class StandInCredential:
    """A TokenCredential whose tokens the stand-in accepts (production's ``credential=`` parameter)."""

    standin: Any
    scopes: list[tuple[str, ...]] = field(default_factory=list)

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        audience = scopes[0].removesuffix("/.default") if scopes else "https://management.azure.com"
        return AccessToken(self.standin.issue_token(audience=audience), int(time.time()) + 3600)


@pytest.fixture
def make_standin(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Build and start an ARM stand-in; ``docker=True`` wires the real engine and local registry."""
    started: list[Any] = []

    def make(*, docker: bool = False, **kwargs: Any) -> Any:
        if docker:
            client = request.getfixturevalue("docker_client")
            registry = request.getfixturevalue("registry")
            kwargs.setdefault("docker_client", client)
            kwargs.setdefault("registry_host", registry.host)
            kwargs.setdefault("registry_admin", (registry.username, registry.password))
        kwargs.setdefault("resource_groups", {RESOURCE_GROUP})
        kwargs.setdefault("client_id", str(uuid.uuid4()))
        kwargs.setdefault("client_secret", "sp-secret-" + secrets.token_urlsafe(12))
        standin = ArmStandIn(tmp_path / f"tls{len(started)}", subscription=SUBSCRIPTION, tenant=TENANT, **kwargs)
        started.append(standin.start())
        return standin

    yield make
    for standin in started:
        standin.stop()


@pytest.fixture
def arm(make_standin: Callable[..., Any]) -> Any:
    """An ARM stand-in without Docker (registries, errors, auth)."""
    return make_standin()


@pytest.fixture
def arm_docker(make_standin: Callable[..., Any]) -> Any:
    """An ARM stand-in whose registries are the real local registry and whose groups run on Docker."""
    return make_standin(docker=True)


@pytest.fixture
def credential(arm: Any) -> StandInCredential:
    return StandInCredential(arm)


def context_for(standin: Any, credential: Any | None = None, subscription: str = SUBSCRIPTION) -> Any:
    """An AzureContext pointing at ``standin``, trusting its CA, with a test credential and short polls."""
    from sentikit.azure import azure_context

    return azure_context(
        subscription=subscription,
        poll_interval=0.05,
        provider_timeout=10,
        arm_endpoint=standin.endpoint,
        authority=standin.authority,
        credential=credential or StandInCredential(standin),
        connection_verify=str(standin.ca_path),
    )


@pytest.fixture
def context_factory() -> Callable[..., Any]:
    """``context_factory(standin)``: an AzureContext for another stand-in."""
    return context_for


@pytest.fixture
def ctx(arm: Any, credential: StandInCredential) -> Any:
    return context_for(arm, credential)


@pytest.fixture
def azure_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], dict[str, str]]:
    """Configure the *environment* for CLI runs against a stand-in: a service principal, the
    stand-in as ARM endpoint and authority, and its CA trusted (requests and urllib/ssl)."""

    def apply(standin: Any) -> dict[str, str]:
        values = {
            "AZURE_CLIENT_ID": standin.client_id,
            "AZURE_TENANT_ID": standin.tenant,
            "AZURE_CLIENT_SECRET": standin.client_secret,
            "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
            # Only the environment service principal: the tests must never probe IMDS or run `az`.
            "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
            "SENTIKIT_AZURE_ARM_ENDPOINT": standin.endpoint,
            "SENTIKIT_AZURE_AUTHORITY": standin.authority,
            # LROs without Retry-After: poll fast (the SDK's default of 30 s would stall the suite).
            "SENTIKIT_AZURE_POLL_INTERVAL": "0.1",
            "REQUESTS_CA_BUNDLE": str(standin.ca_path),
            "SSL_CERT_FILE": str(standin.ca_path),
        }
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        return values

    return apply


@pytest.fixture(scope="session")
def serving_image(app_image: Any) -> str:
    """The real sentikit serving image (built once per session from the tiny model): its tag."""
    return str(app_image.tag)


@pytest.fixture(scope="session")
def pushed_app(docker_client: Any, registry: Any, serving_image: str) -> Iterator[str]:
    """The real serving image pushed to the local registry under a unique tag; returns its reference there.

    The registry-qualified tag is removed from the engine again, so the stand-in really pulls it.
    """
    target = f"{registry.host}/sentikit/app"
    tag = f"{RUN_ID}-{uuid.uuid4().hex[:6]}"
    docker_client.images.get(serving_image).tag(target, tag=tag)
    for chunk in docker_client.images.push(target, tag=tag, stream=True, decode=True,
                                           auth_config={"username": registry.username, "password": registry.password}):
        if "error" in chunk:
            raise RuntimeError(chunk["error"])
    docker_client.images.remove(f"{target}:{tag}", force=True)
    yield f"{target}:{tag}"
    try:  # the stand-in's pulls (and pushes) left registry-qualified tags on the image
        tags = docker_client.images.get(serving_image).tags
    except Exception:
        tags = []
    for name in tags:
        if name.startswith(registry.host + "/"):
            try:
                docker_client.images.remove(name, force=True)
            except Exception:
                pass


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[Callable[[Any], str]]:
    """``token_registry(standin)``: a real registry behind ACR's token auth, served over TLS by the stand-in's CA.

    The registry answers ``/v2/`` with ``Bearer realm="https://<stand-in>/oauth2/token"``; the stand-in
    exchanges Azure AD tokens (``/oauth2/exchange``) and issues registry tokens per role
    (``/oauth2/token``), so Azure AD -> refresh token -> ``docker push`` runs end to end.
    Returns the registry's host (``127.0.0.1:PORT``), which becomes the stand-in's login server.
    """
    import contextlib
    import shutil
    import ssl

    from _docker_fixtures import free_port, serve_registry, unavailable

    with contextlib.ExitStack() as running:
        def start(standin: Any) -> str:
            binary = shutil.which("docker-registry")
            if not binary:
                unavailable("docker-registry is needed for the token-auth registry")
            directory = tmp_path / f"token-registry-{uuid.uuid4().hex[:6]}"
            signer = standin.token_signing_files(directory)
            host = f"127.0.0.1:{free_port()}"
            config = directory / "config.yml"
            config.write_text(
                "version: 0.1\n"
                "log: {level: warn, accesslog: {disabled: true}}\n"
                f"storage: {{filesystem: {{rootdirectory: {directory / 'data'}}}}}\n"
                f"http: {{addr: {host}, secret: {secrets.token_hex(16)}, "
                f"tls: {{certificate: {standin._cert}, key: {standin._key}}}}}\n"
                f"auth: {{token: {{realm: '{standin.endpoint}/oauth2/token', service: '{host}', "
                f"issuer: {arm_standin.TOKEN_ISSUER}, rootcertbundle: {signer}}}}}\n",
                encoding="utf-8",
            )
            running.enter_context(serve_registry(binary, directory, config, f"https://{host}/v2/",
                                                 ssl.create_default_context(cafile=str(standin.ca_path))))
            standin.registry_host = host
            return host

        yield start


# free_port: the shared fixture of tests/conftest.py.
