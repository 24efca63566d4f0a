"""Registry management against the ARM stand-in: get-or-create, name rules, errors, auth to ARM."""

from __future__ import annotations

from typing import Any

import pytest

from sentikit.azure import ArmError, ArmNotFoundError
from sentikit.errors import InvalidInputError
from sentikit.push import ensure_registry

RG = "rg-sentikit"


def test_creates_registry_when_missing_and_waits_for_the_lro(arm: Any, ctx: Any) -> None:
    info = ensure_registry(ctx, resource_group=RG, name="sentiacr01", create=True, sku="Basic", location="westeurope")
    assert (info.name, info.created, info.sku, info.location) == ("sentiacr01", True, "Basic", "westeurope")
    puts = arm.calls("PUT", "/registries/sentiacr01")
    assert len(puts) == 1
    assert puts[0].query["api-version"] == "2025-11-01"
    assert puts[0].body == {"location": "westeurope", "sku": {"name": "Basic"}, "properties": {"adminUserEnabled": False}}
    assert puts[0].status == 201
    # the LRO was followed to the end through Azure-AsyncOperation
    assert arm.calls("GET", "/operations/")
    assert arm.registries[(RG.lower(), "sentiacr01")]["properties"]["provisioningState"] == "Succeeded"


def test_reuses_an_existing_registry(arm: Any, ctx: Any) -> None:
    arm.seed_registry(RG, "sentiacr02", admin_user_enabled=True)
    info = ensure_registry(ctx, resource_group=RG, name="sentiacr02", create=True)
    assert (info.created, info.admin_user_enabled) == (False, True)
    assert arm.calls("PUT") == []


def test_missing_registry_without_create_is_an_error(arm: Any, ctx: Any) -> None:
    with pytest.raises(ArmNotFoundError) as err:
        ensure_registry(ctx, resource_group=RG, name="sentiacr03")
    assert "ResourceNotFound" in str(err.value) and "--create" in str(err.value)
    assert arm.calls("PUT") == []


def test_a_taken_name_is_found_before_the_put(make_standin: Any, context_factory: Any) -> None:
    """Registry names are global: checkNameAvailability first, so no create is attempted for a taken name."""
    standin = make_standin(taken_registry_names={"popularname"})
    with pytest.raises(InvalidInputError) as err:
        ensure_registry(context_factory(standin), resource_group=RG, name="popularname", create=True)
    assert str(err.value) == ("registry name 'popularname' is taken (AlreadyExists): registry names are global across "
                              "Azure (NAME.azurecr.io), so choose another --registry name")
    assert standin.calls("POST", "/checkNameAvailability") and standin.calls("PUT") == []


@pytest.mark.parametrize("name", ["abcd", "a" * 51, "Upper1234", "with-dash", "under_score", "spa ce12", ""])
def test_invalid_names_are_refused_before_any_call(arm: Any, ctx: Any, name: str) -> None:
    with pytest.raises(InvalidInputError, match="5-50 lowercase letters and digits"):
        ensure_registry(ctx, resource_group=RG, name=name, create=True)
    assert arm.requests == []


def test_missing_resource_group(arm: Any, ctx: Any) -> None:
    with pytest.raises(ArmNotFoundError) as err:
        ensure_registry(ctx, resource_group="nope", name="sentiacr04", create=True)
    assert err.value.code == "ResourceGroupNotFound"
    assert "Resource group 'nope' could not be found" in str(err.value)
