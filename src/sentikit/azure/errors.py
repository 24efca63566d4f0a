"""Azure SDK exceptions -> sentikit errors, with ARM's own error code and message."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import ArmError, ArmNotFoundError, AzureAuthError, AzureError
from .credentials import LOGIN_HELP


def _arm_error(exc: Any) -> tuple[str, str]:
    """(code, message) of an ARM error response, from the parsed body when the SDK has one."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or ""
    if not code:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else None
            inner = body.get("error", body) if isinstance(body, dict) else {}
            code = str(inner.get("code") or "")
            message = str(inner.get("message") or "")
        except Exception:  # an HTML error page or no body at all
            pass
    status = getattr(exc, "status_code", None)
    if not code:
        code = f"HTTP {status}" if status else type(exc).__name__
    if not message:
        message = str(getattr(exc, "reason", "") or exc).splitlines()[0]
    return code, message


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn ``azure.core`` exceptions raised inside the block into sentikit errors.

    ``action`` completes "... failed while <action>" so the user knows which call went wrong.
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
        raise ArmNotFoundError(f"{action}: {code}: {message}", code=code) from None
    except ClientAuthenticationError as exc:
        if getattr(exc, "response", None) is not None and getattr(exc, "status_code", None):
            # ARM answered 401/403: the credential works but lacks access (or the token was refused).
            code, message = _arm_error(exc)
            raise ArmError(f"{action}: {code}: {message}", code=code) from None
        detail = _credential_detail(str(exc))
        raise AzureAuthError(LOGIN_HELP + (f" ({detail})" if detail else "")) from None
    except HttpResponseError as exc:
        code, message = _arm_error(exc)
        raise ArmError(f"{action}: {code}: {message}", code=code) from None
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


