"""Azure SDK exceptions -> sentikit errors, with ARM's own error code and message."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import ArmError, ArmNotFoundError, AzureAuthError, AzureError
from .credentials import LOGIN_HELP


# ARM error codes -> what to do. The message ARM sends stays; the hint says the fix.
HINTS = {
    "AuthorizationFailed": "the identity lacks a role for this action at the scope ARM names: ask an owner for "
                           "Contributor on the resource group (AcrPush/AcrPull for registry pushes and pulls)",
    "InvalidAuthenticationTokenTenant": "the token comes from another tenant than the subscription's: set "
                                        "AZURE_TENANT_ID to the subscription's tenant, or `az login --tenant TENANT`",
    "SubscriptionNotFound": "check --subscription (or AZURE_SUBSCRIPTION_ID): `az account list -o table` shows the "
                            "subscriptions this identity can use",
    "MissingSubscriptionRegistration": "register the provider with `az provider register --namespace NAMESPACE`",
    "AlreadyInUse": "registry names are global across Azure: choose another --registry name",
    "RequestDisallowedByPolicy": "an Azure Policy assignment forbids this request: ask for an exemption, or try "
                                 "another --location if the policy restricts regions",
    "InsufficientCapacity": "the region has no capacity for this request right now: try another --location, "
                            "or fewer cores/memory",
    "SkuNotAvailable": "the region does not offer this size: try another --location",
    "LocationNotAvailableForResourceType": "the service is not offered in this region: try another --location",
    "ServiceUnavailable": "the region could not serve the request: try again later or another --location",
    "InaccessibleImage": "check that the image exists and that ACI can pull it (--registry, --registry-identity)",
}
# Codes that are this machine's setup, not a remote refusal (exit 3).
ENVIRONMENT_CODES = frozenset({"InvalidAuthenticationTokenTenant"})


def _arm_error(exc: Any) -> tuple[str, str]:
    """(code, message) of an ARM error response, with ``error.details[]`` (where the real cause often is)."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or ""
    details = [(getattr(d, "code", "") or "", getattr(d, "message", "") or "") for d in (getattr(error, "details", None) or [])]
    if not code:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else None
            inner = body.get("error", body) if isinstance(body, dict) else {}
            code = str(inner.get("code") or "")
            message = str(inner.get("message") or "")
            details = [(str(d.get("code") or ""), str(d.get("message") or "")) for d in inner.get("details") or []
                       if isinstance(d, dict)]
        except Exception:  # an HTML error page or no body at all
            pass
    status = getattr(exc, "status_code", None)
    if not code:
        code = f"HTTP {status}" if status else type(exc).__name__
    if not message:
        message = str(getattr(exc, "reason", "") or exc).splitlines()[0]
    for detail_code, detail_message in details:
        if detail_message and detail_message not in message:
            message += f" [{detail_code}: {detail_message}]" if detail_code else f" [{detail_message}]"
    return code, message


def arm_failure(action: str, code: str, message: str, *, not_found: bool = False) -> ArmError:
    """The sentikit error for an ARM answer: ``action: code: message`` plus the hint for the code."""
    hint = HINTS.get(code) or next((h for c, h in HINTS.items() if c in message), "")
    text = f"{action}: {code}: {message}" + (f"\nhint: {hint}" if hint else "")
    if code in ENVIRONMENT_CODES:
        raise AzureAuthError(text)
    return (ArmNotFoundError if not_found else ArmError)(text, code=code)


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn ``azure.core`` exceptions raised inside the block into sentikit errors.

    ``action`` completes "... failed while <action>" so the user knows which call went wrong.
    Only ``ResourceNotFound``/``ResourceGroupNotFound``-style 404s become :class:`ArmNotFoundError`;
    a 404 ``SubscriptionNotFound`` is a refusal like any other.
    """
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except ResourceNotFoundError as exc:
        code, message = _arm_error(exc)
        raise arm_failure(action, code, message, not_found=code != "SubscriptionNotFound") from None
    except ClientAuthenticationError as exc:
        if getattr(exc, "response", None) is not None and getattr(exc, "status_code", None):
            # ARM answered 401/403: the credential works but lacks access (or the token was refused).
            code, message = _arm_error(exc)
            raise arm_failure(action, code, message) from None
        detail = _credential_detail(str(exc))
        raise AzureAuthError(LOGIN_HELP + (f" ({detail})" if detail else "")) from None
    except HttpResponseError as exc:
        code, message = _arm_error(exc)
        raise arm_failure(action, code, message) from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise AzureError(f"{action}: cannot reach Azure: {str(exc).splitlines()[0]}") from None


def _credential_detail(text: str) -> str:
    """A short reason from a credential failure, unless it is just 'nothing configured'."""
    if "failed to retrieve a token from the included credentials" in text or "Unavailable" in text:
        # Every credential in the chain was unavailable: the one-line LOGIN_HELP says it all,
        # unless one of them actually refused (wrong secret, wrong tenant).
        for line in text.splitlines():
            line = line.strip()
            if line.startswith(("EnvironmentCredential:", "ClientSecretCredential:")) and "AADSTS" in line:
                return line[:200]
        return ""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:200]


