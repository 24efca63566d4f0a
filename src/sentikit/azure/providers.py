"""Resource provider registration, said out loud and bounded.

On a new subscription ARM answers 409 ``MissingSubscriptionRegistration``; the SDK's own policy
then registers the provider and polls every 10 s without end, logging a warning sentikit used to
hide. This policy sits closer to the wire than the SDK's, so it answers first: it warns, registers,
polls at the context's interval up to a bound, and without the permission to register says
``az provider register -n NAMESPACE``.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy
from azure.mgmt.core.policies import ARMAutoResourceProviderRegistrationPolicy

from ..errors import ArmError

PROVIDERS_API_VERSION = "2021-04-01"


def missing_registration(response: Any) -> str | None:
    """The namespace a 409 ``MissingSubscriptionRegistration`` names, else None."""
    if response.http_response.status_code != 409:
        return None
    try:
        error = json.loads(response.http_response.text())["error"]
    except Exception:  # not an ARM error body
        return None
    if error.get("code") != "MissingSubscriptionRegistration":
        return None
    match = re.search(r"namespace '([^']+)'", error.get("message", "")) or re.search(r"'([^']+)'", error.get("message", ""))
    return match.group(1) if match else None


class ProviderRegistrationPolicy(HTTPPolicy):  # type: ignore[type-arg]
    """Register a missing resource provider once, visibly and within ``timeout`` seconds."""

    def __init__(self, *, poll_interval: float, timeout: float) -> None:
        super().__init__()
        self.poll_interval = poll_interval
        self.timeout = timeout

    def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        response = self.next.send(request)
        namespace = missing_registration(response)
        if not namespace:
            return response
        sdk_build = ARMAutoResourceProviderRegistrationPolicy._build_next_request

        def build(initial: PipelineRequest, method: str, url: str) -> PipelineRequest:  # type: ignore[type-arg]
            # This policy runs inside the authentication policy: carry its bearer token along.
            next_request = sdk_build(initial, method, url)
            for header in ("Authorization", "User-Agent"):
                if header in initial.http_request.headers:
                    next_request.http_request.headers[header] = initial.http_request.headers[header]
            return next_request

        prefix = ARMAutoResourceProviderRegistrationPolicy._extract_subscription_url(request.http_request.url)
        fix = f"`az provider register --namespace {namespace}` (needs Contributor or Owner on the subscription)"
        warnings.warn(f"the subscription is not registered for {namespace} yet (normal on a new subscription); "
                      f"registering it now, this can take a few minutes", UserWarning, stacklevel=2)
        query = f"api-version={PROVIDERS_API_VERSION}"
        registered = self.next.send(build(request, "POST", f"{prefix}providers/{namespace}/register?{query}"))
        status = registered.http_response.status_code
        if status in (401, 403):
            raise ArmError(f"the subscription is not registered for {namespace}, and this identity may not register "
                           f"it: run {fix}, then try again", code="MissingSubscriptionRegistration")
        if status >= 400:
            raise ArmError(f"registering {namespace} failed (HTTP {status}): run {fix}",
                           code="MissingSubscriptionRegistration")
        deadline = time.monotonic() + self.timeout
        state = "Registering"
        while time.monotonic() < deadline:
            got = self.next.send(build(request, "GET", f"{prefix}providers/{namespace}?{query}"))
            try:
                state = str(json.loads(got.http_response.text()).get("registrationState", state))
            except ValueError:
                pass
            if state == "Registered":
                request.http_request.headers.pop("x-ms-client-request-id", None)
                return self.next.send(request)
            time.sleep(self.poll_interval)
        raise ArmError(f"{namespace} is still {state} after {self.timeout:g} s; wait a few minutes and run the "
                       f"command again (check with `az provider show --namespace {namespace} --query registrationState`)",
                       code="MissingSubscriptionRegistration")
