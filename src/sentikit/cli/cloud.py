"""Commands that ship the model: push, deploy, status, logs, delete (--target azure|local)."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterator, Optional

import typer

from . import render as output
from .render import escape
from ..config import Settings
from ..errors import InvalidInputError
from .app import JsonOption, app, settings
from . import desk as desk_options, scaling

if TYPE_CHECKING:  # the deploy targets import httpx and the Azure SDKs: only the commands that use them pay
    from ..deploy import Deployment, Target as DeployTarget

TARGETS = ("azure", "local", *scaling.SCALING_TARGETS)

Subscription = Annotated[
    Optional[str], typer.Option("--subscription", help="Azure subscription id \\[default: config, or AZURE_SUBSCRIPTION_ID].")
]
ResourceGroup = Annotated[Optional[str], typer.Option("--resource-group", "-g", help="Azure resource group \\[default: config].")]
ArmEndpoint = Annotated[
    Optional[str],
    typer.Option("--arm-endpoint", help="Azure Resource Manager endpoint, for other clouds \\[default: https://management.azure.com]."),
]
Authority = Annotated[
    Optional[str], typer.Option("--authority", help="Azure AD authority host \\[default: login.microsoftonline.com].")
]
Name = Annotated[Optional[str], typer.Option("--name", "-n", help="Deployment (container group) name \\[default: sentiment].")]
Target = Annotated[
    Optional[str],
    typer.Option("--target", help="azure (ACI), local, containerapps or kubernetes \\[default: azure when a subscription is configured, else local]."),
]


def _deployment_settings(name: Optional[str], resource_group: Optional[str], subscription: Optional[str],
                         arm_endpoint: Optional[str], authority: Optional[str]) -> Settings:
    """Settings for the commands that address an existing deployment (status, logs, delete)."""
    return settings(container_name=name, azure_resource_group=resource_group, azure_subscription=subscription,
                    azure_arm_endpoint=arm_endpoint, azure_authority=authority)


def _target(target: Optional[str], s: Settings) -> str:
    chosen = (target or ("azure" if s.azure_subscription else "local")).lower()
    if chosen not in TARGETS:
        raise InvalidInputError(f"invalid --target '{target}': choose {', '.join(TARGETS)}")
    return chosen


def _context(s: Settings) -> Any:
    from ..azure import context_from_settings

    return context_from_settings(s)


@contextmanager
def _progress(initial: str, quiet: bool) -> Iterator[Callable[[str, Optional[float]], None]]:
    """A spinner (terminal only) fed by the library's ``(message, fraction)`` callbacks."""
    if quiet:
        yield lambda message, fraction: None
        return
    with output.status(initial) as update:
        yield lambda message, fraction: update(escape(message if fraction is None else f"{message} {fraction:.0%}"))


def _env_secret(name: str, option: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise InvalidInputError(f"{option} {name}: that environment variable is not set or empty")
    return value


def _render_deployment(result: Deployment, *, as_json: bool, headline: str = "") -> None:
    if as_json:
        output.emit_json(result)
        return
    detail = result.detail
    say = output.console.print
    say(escape(headline or f"{result.name} ({result.target}): {result.state}"), soft_wrap=True)
    if result.url:
        say(f"  url:   {escape(result.url)}", soft_wrap=True)
    if result.image:
        say(f"  image: {escape(result.image)}", soft_wrap=True)
    for key in ("resource_group", "location", "provisioning_state", "cpu", "memory_gb", "monitor_store", "kept_volume"):
        if detail.get(key) not in (None, ""):
            say(f"  {key.replace('_', ' ')}: {escape(str(detail[key]))}", soft_wrap=True)
    smoke = detail.get("smoke_test")
    if isinstance(smoke, dict):
        say(f"  smoke test: /readyz ok, score {smoke.get('score')} for \"{escape(str(smoke.get('text')))}\""
            + (f", desk {escape(str(smoke['monitor_state']))}" if "monitor_state" in smoke else ""), soft_wrap=True)
    containers = detail.get("containers") or []
    for container in containers if isinstance(containers, list) else []:
        if not isinstance(container, dict):
            continue
        say(f"  container {escape(str(container.get('name')))}: {escape(str(container.get('state')))}"
            f" (restarts: {container.get('restart_count')})", soft_wrap=True)
        for event in container.get("events", []) or []:
            say(f"    {escape(str(event.get('type')))} {escape(str(event.get('name')))}: {escape(str(event.get('message')))}",
                soft_wrap=True)
    if result.url:
        print(result.url)


@app.command()
def push(
    image: Annotated[Optional[str], typer.Argument(help="Local image NAME[:TAG] \\[default: the configured image name].")] = None,
    registry: Annotated[Optional[str], typer.Option("--registry", "-r", help="Azure Container Registry name (5-50 lowercase letters/digits) \\[default: config].")] = None,
    resource_group: ResourceGroup = None,
    location: Annotated[Optional[str], typer.Option("--location", "-l", help="Region for a new registry \\[default: the resource group's].")] = None,
    create: Annotated[bool, typer.Option("--create", help="Create the registry if it does not exist.")] = False,
    sku: Annotated[str, typer.Option("--sku", help="SKU of a new registry: Basic, Standard or Premium.")] = "Basic",
    repository: Annotated[Optional[str], typer.Option("--repository", help="Repository in the registry \\[default: the image name].")] = None,
    tag: Annotated[Optional[str], typer.Option("--tag", help="Tag in the registry \\[default: the image's tag].")] = None,
    auth: Annotated[str, typer.Option("--auth", help="ACR login: auto (Azure AD token, else admin user), token, or admin.")] = "auto",
    registry_url: Annotated[Optional[str], typer.Option("--registry-url", help="Push to any registry (HOST[:PORT]) instead of ACR.")] = None,
    username: Annotated[Optional[str], typer.Option("--username", "-u", help="User name for --registry-url.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the --registry-url password from stdin.")] = False,
    password_env: Annotated[Optional[str], typer.Option("--password-env", help="Name of the environment variable holding the --registry-url password.")] = None,
    subscription: Subscription = None,
    arm_endpoint: ArmEndpoint = None,
    authority: Authority = None,
    as_json: JsonOption = False,
) -> None:
    """Push an image to Azure Container Registry (created with --create), or to any registry.

    ACR logins use your Azure identity (token exchange) or, when enabled, the registry's admin user.

    Example:
        sentikit push sentikit-sentiment:1 --registry mysentiacr --resource-group rg --create
        echo "$PASS" | sentikit push sentikit-sentiment:1 --registry-url registry.example.com --username ci --password-stdin
    """
    from ..push import auth_description, push_to_acr, push_to_registry, validate_registry_name

    s = settings(azure_registry=registry, azure_resource_group=resource_group, azure_location=location,
                        azure_subscription=subscription, azure_arm_endpoint=arm_endpoint, azure_authority=authority)
    image = image or s.image
    with _progress("pushing", as_json) as progress:
        if registry_url:
            if password_stdin and password_env:
                raise InvalidInputError("use either --password-stdin or --password-env, not both")
            secret = sys.stdin.readline().rstrip("\r\n") if password_stdin else (
                _env_secret(password_env, "--password-env") if password_env else "")
            result = push_to_registry(image, registry_url=registry_url, username=username or "", password=secret,
                                      repository=repository, tag=tag, on_progress=progress)
        else:
            if not s.azure_registry:
                raise InvalidInputError("no registry: pass --registry NAME (Azure) or --registry-url URL (any registry)")
            validate_registry_name(s.azure_registry)  # cheap checks before any Azure call
            result = push_to_acr(image, _context(s), resource_group=s.azure_resource_group, registry=s.azure_registry,
                                 create=create, sku=sku, location=s.azure_location, repository=repository, tag=tag,
                                 auth=auth, on_progress=progress)
    if as_json:
        output.emit_json(result)
        return
    if registry_url is None:
        output.console.print(f"registry {escape(s.azure_registry)}: {'created' if result.registry_created else 'exists'}"
                             f" ({escape(result.registry)})", soft_wrap=True)
    output.console.print(f"authenticated with {auth_description(result.auth_method)}", soft_wrap=True)
    output.console.print(f"pushed {escape(result.reference)}\ndigest {escape(result.digest)}", soft_wrap=True)
    print(f"{result.reference}@{result.digest}")


@app.command()
def deploy(
    name: Name = None,
    resource_group: ResourceGroup = None,
    image: Annotated[Optional[str], typer.Option("--image", help="Image to run, e.g. myacr.azurecr.io/sentikit-sentiment:1.")] = None,
    cpu: Annotated[Optional[float], typer.Option("--cpu", help="CPU cores \\[default: 1.0].")] = None,
    memory: Annotated[Optional[float], typer.Option("--memory", help="Memory in GB \\[default: 1.5].")] = None,
    port: Annotated[Optional[int], typer.Option("--port", "-p", help="Port the server listens on and exposes \\[default: 8000].")] = None,
    dns_label: Annotated[Optional[str], typer.Option("--dns-label", help="Public DNS label: LABEL.REGION.azurecontainer.io.")] = None,
    location: Annotated[Optional[str], typer.Option("--location", "-l", help="Azure region \\[default: the resource group's].")] = None,
    env: Annotated[Optional[list[str]], typer.Option("--env", "-e", help="Environment variable NAME=VALUE (repeatable).")] = None,
    secure_env: Annotated[Optional[list[str]], typer.Option("--secure-env", help="Secret variable NAME=VALUE, or NAME to take the value from this environment (repeatable).")] = None,
    api_key_env: Annotated[Optional[str], typer.Option("--api-key-env", help="Environment variable holding the API key; it reaches the container as secure SENTIKIT_API_KEY.")] = None,
    registry: Annotated[Optional[str], typer.Option("--registry", "-r", help="ACR to pull a private image from (its admin user, or --registry-identity); found anywhere in the subscription.")] = None,
    registry_resource_group: Annotated[Optional[str], typer.Option("--registry-resource-group", help="Resource group of --registry \\[default: searched across the subscription].")] = None,
    registry_username: Annotated[Optional[str], typer.Option("--registry-username", help="User name for a private image on another registry.")] = None,
    registry_password_env: Annotated[Optional[str], typer.Option("--registry-password-env", help="Environment variable holding that registry's password.")] = None,
    restart_policy: Annotated[str, typer.Option("--restart-policy", help="Always, OnFailure or Never.")] = "Always",
    dns_scope: Annotated[str, typer.Option("--dns-scope", help="Who may reuse --dns-label: global (first come), tenant, subscription, resourcegroup or noreuse; all but global add a hash so names never collide.")] = "global",
    recreate: Annotated[bool, typer.Option("--recreate", help="Delete and re-create the group when CPU, memory, restart policy, OS or IP type change (ACI cannot update those in place).")] = False,
    delete_on_failure: Annotated[bool, typer.Option("--delete-on-failure", help="Delete the container group when the smoke test fails, so it stops billing.")] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once Azure accepted the request.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for provisioning.")] = 900.0,
    smoke: Annotated[bool, typer.Option("--smoke-test/--no-smoke-test", help="Check /readyz and score one text after deploying.")] = True,
    min_replicas: scaling.MinReplicas = None,
    max_replicas: scaling.MaxReplicas = None,
    concurrency: scaling.Concurrency = None,
    cpu_target: scaling.CpuTarget = None,
    environment: scaling.Environment = None,
    registry_identity: scaling.RegistryIdentity = None,
    api_key_secret: scaling.ApiKeySecret = None,
    namespace: scaling.Namespace = None,
    render_only: scaling.RenderOnly = None,
    monitor: desk_options.Monitor = False,
    alert_below: desk_options.AlertBelow = None,
    recover_above: desk_options.RecoverAbove = None,
    window: desk_options.Window = None,
    window_seconds: desk_options.WindowSeconds = None,
    min_count: desk_options.MinCount = None,
    monitor_threshold: desk_options.Threshold = None,
    webhook: desk_options.Webhook = None,
    retention_days: desk_options.RetentionDays = None,
    store_url: desk_options.StoreUrl = None,
    store_url_env: desk_options.StoreUrlEnv = None,
    target: Target = None,
    subscription: Subscription = None,
    arm_endpoint: ArmEndpoint = None,
    authority: Authority = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy the image to Azure Container Instances (or the local Docker engine), wait, and smoke-test it.

    Re-running with the same --name updates the deployment in place. --target containerapps runs it on
    Azure Container Apps with replicas and autoscaling; --target kubernetes --render-only DIR writes manifests.
    --monitor runs the communications desk in it (SQLite on a volume locally, --store-url for PostgreSQL).

    Example:
        sentikit deploy --name sentiment --resource-group rg --image mysentiacr.azurecr.io/sentikit-sentiment:1 --registry mysentiacr --dns-label sentiment-demo --api-key-env SENTIKIT_API_KEY
        sentikit deploy --target containerapps --name sentiment -g rg --image mysentiacr.azurecr.io/sentikit-sentiment:1 --registry mysentiacr --min-replicas 1 --max-replicas 10 --api-key-env SENTIKIT_API_KEY
        sentikit deploy --target kubernetes --render-only k8s/ --image mysentiacr.azurecr.io/sentikit-sentiment@sha256:... --api-key-secret sentikit-api-key
        sentikit deploy --target local --monitor --alert-below 0.4 --window 50
    """
    from ..deploy import DeployOptions, get_target, parse_env_pairs

    s = settings(container_name=name, azure_resource_group=resource_group, container_cpu=cpu,
                        container_memory=memory, container_port=port, container_dns_label=dns_label,
                        azure_location=location, azure_subscription=subscription, azure_arm_endpoint=arm_endpoint,
                        azure_authority=authority)
    plain = parse_env_pairs(env or [], "--env")
    secure = {item.partition("=")[0]: (item.partition("=")[2] if "=" in item else _env_secret(item, "--secure-env"))
              for item in (secure_env or [])}
    api_key = _env_secret(api_key_env, "--api-key-env") if api_key_env else ""
    desk = desk_options.desk_settings(monitor, alert_below=alert_below, recover_above=recover_above, window=window,
                                      window_seconds=window_seconds, min_count=min_count, threshold=monitor_threshold,
                                      webhook=webhook, retention_days=retention_days, store_url=store_url,
                                      store_url_env=store_url_env)
    chosen = _target(target, s)
    s = scaling.scaling_settings(s, min_replicas=min_replicas, max_replicas=max_replicas, concurrency=concurrency,
                                 cpu_target=cpu_target, environment=environment, api_key_secret=api_key_secret,
                                 namespace=namespace)
    login = _registry_login(image, registry_username, registry_password_env)
    if chosen in ("local", "kubernetes"):
        where = (get_target("local", host_port=port) if chosen == "local" else
                 get_target("kubernetes", **scaling.kubernetes_where(s, render_only)))
        image = image or s.image
    else:
        if not image:
            raise InvalidInputError("pass --image, e.g. the reference `sentikit push` printed (myacr.azurecr.io/sentikit-sentiment:1)")
    if chosen == "containerapps":
        where = get_target("containerapps", ctx=_context(s), **scaling.containerapps_where(
            s, memory=memory, location=location, registry=registry, registry_login=login,
            registry_identity=registry_identity, cpu_target_given=cpu_target is not None))
    elif chosen == "azure":
        where = get_target("azure", ctx=_context(s), resource_group=s.azure_resource_group, location=s.azure_location,
                           dns_label=s.container_dns_label, dns_scope=dns_scope, restart_policy=restart_policy,
                           registry=registry, registry_resource_group=registry_resource_group, registry_login=login,
                           registry_identity=registry_identity, recreate=recreate, delete_on_failure=delete_on_failure)
    options = DeployOptions(name=s.container_name, image=image, port=s.container_port, cpu=s.container_cpu,
                            memory_gb=s.container_memory, env=plain, secure_env=secure, api_key=api_key,
                            wait=not no_wait, timeout=timeout, smoke_test=smoke, desk=desk)
    with _progress(f"deploying {s.container_name} to {where.describe()}", as_json) as progress:
        result = where.deploy(options, on_progress=progress)
    headline = ""
    if "action" in result.detail:
        follow = (f"sentikit status --name {result.name}" + (f" --target {chosen}" if chosen != "azure" else "")
                  + (f" -g {s.azure_resource_group}" if chosen in ("azure", "containerapps") else ""))
        headline = (f"{result.name}: {result.detail['action']}, {result.state}"
                    + ("" if result.detail.get("waited") else f" (not waiting; follow with `{follow}`)"))
    if not as_json:
        scaling.render_extra(result)
    _render_deployment(result, as_json=as_json, headline=headline)


def _registry_login(image: Optional[str], username: Optional[str], password_env: Optional[str]) -> Any:
    """--registry-username: the library builds the login; the CLI only reads the secret's variable."""
    if not username:
        return None
    from ..push import password_login

    return password_login(image or "", username, _env_secret(password_env or "", "--registry-password-env"))


def _existing_target(chosen: str, s: Settings, *, environment_too: bool = False) -> DeployTarget:
    """The target that status, logs and delete address."""
    from ..deploy import get_target

    if chosen in ("local", "kubernetes"):
        return get_target(chosen)
    if chosen == "containerapps":
        return get_target("containerapps", ctx=_context(s), resource_group=_group(s), environment=s.azure_environment,
                          environment_too=environment_too)
    return get_target("azure", ctx=_context(s), resource_group=_group(s))


@app.command()
def status(
    name: Name = None,
    resource_group: ResourceGroup = None,
    target: Target = None,
    subscription: Subscription = None,
    arm_endpoint: ArmEndpoint = None,
    authority: Authority = None,
    as_json: JsonOption = False,
) -> None:
    """Show a deployment's state, URL, and its containers' events.

    Example:
        sentikit status --name sentiment --resource-group rg
    """
    s = _deployment_settings(name, resource_group, subscription, arm_endpoint, authority)
    result = _existing_target(_target(target, s), s).status(s.container_name)
    if not as_json:
        scaling.render_extra(result)
    _render_deployment(result, as_json=as_json)


@app.command()
def logs(
    name: Name = None,
    resource_group: ResourceGroup = None,
    tail: Annotated[Optional[int], typer.Option("--tail", min=1, help="Only the last N lines.")] = None,
    target: Target = None,
    subscription: Subscription = None,
    arm_endpoint: ArmEndpoint = None,
    authority: Authority = None,
) -> None:
    """Print the logs of a deployment's container.

    Example:
        sentikit logs --name sentiment --resource-group rg --tail 50
    """
    s = _deployment_settings(name, resource_group, subscription, arm_endpoint, authority)
    text = _existing_target(_target(target, s), s).logs(s.container_name, tail=tail)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


@app.command()
def delete(
    name: Name = None,
    resource_group: ResourceGroup = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    environment_too: scaling.EnvironmentToo = False,
    target: Target = None,
    subscription: Subscription = None,
    arm_endpoint: ArmEndpoint = None,
    authority: Authority = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a deployment (asks first unless --yes).

    Example:
        sentikit delete --name sentiment --resource-group rg --yes
    """
    s = _deployment_settings(name, resource_group, subscription, arm_endpoint, authority)
    where = _existing_target(_target(target, s), s, environment_too=environment_too)
    if not yes:
        typer.confirm(f"Delete deployment '{s.container_name}' from {where.describe()}?", abort=True, err=True)
    result = where.delete(s.container_name)
    _render_deployment(result, as_json=as_json)


def _group(s: Settings) -> str:
    if not s.azure_resource_group:
        raise InvalidInputError("a resource group is needed: pass --resource-group or set azure.resource_group in sentikit.toml")
    return s.azure_resource_group
