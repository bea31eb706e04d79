"""Windows registry values (HKLM\\SOFTWARE\\Policies\\Salus) become policy settings by the setting's own type, and
a value of the wrong registry type is refused with the key named. The registry itself exists only on Windows, so
these tests feed the pure conversion the (name, data, type) triples that `winreg.EnumValue` returns."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from app.core.errors import PolicyError
from app.core.managed_policy import RegistryType, RegistryValue, registry_document
from app.core.settings import SCHEMA

ORIGIN = r"policy HKLM\SOFTWARE\Policies\Salus"
DWORD, SZ, MULTI_SZ = RegistryType.REG_DWORD, RegistryType.REG_SZ, RegistryType.REG_MULTI_SZ

# The type numbers from winnt.h, which Python's winreg module exposes as REG_* constants.
WINNT_H = {"REG_NONE": 0, "REG_SZ": 1, "REG_EXPAND_SZ": 2, "REG_BINARY": 3, "REG_DWORD": 4, "REG_MULTI_SZ": 7,
           "REG_QWORD": 11}  # fmt: skip


def convert(*values: tuple[str, Any, int]) -> dict[str, Any]:
    return registry_document([RegistryValue(*v) for v in values], origin=ORIGIN)


def test_registry_types_carry_the_numbers_windows_uses() -> None:
    for name, number in WINNT_H.items():
        assert RegistryType[name] == number


@pytest.mark.skipif(sys.platform != "win32", reason="winreg exists only on Windows")
def test_registry_types_equal_the_winreg_constants() -> None:
    import winreg

    for member in RegistryType:
        assert getattr(winreg, member.name) == member.value


def test_dword_sz_and_multi_sz_become_numbers_switches_text_and_lists() -> None:
    document = convert(
        ("idle_timeout_minutes", 3, DWORD),
        ("keyring_allowed", 0, DWORD),
        ("allow_plain", 1, DWORD),
        ("portal_url", "https://portal.clinic.example", SZ),
        ("audit_forward", "eventlog", SZ),
        ("method_ladder", ["pgp", "smime", "portal"], MULTI_SZ),
        ("trusted_tls_domains", [], MULTI_SZ),
    )
    assert document == {
        "idle_timeout_minutes": 3,
        "keyring_allowed": False,
        "allow_plain": True,
        "portal_url": "https://portal.clinic.example",
        "audit_forward": "eventlog",
        "method_ladder": ["pgp", "smime", "portal"],
        "trusted_tls_domains": [],
    }
    assert document["keyring_allowed"] is False and document["allow_plain"] is True


def test_value_names_match_regardless_of_case_as_in_windows() -> None:
    assert convert(("Idle_Timeout_Minutes", 4, DWORD)) == {"idle_timeout_minutes": 4}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (("idle_timeout_minutes", "5", SZ), "idle_timeout_minutes must be a REG_DWORD value, not REG_SZ"),
        (("allow_plain", "true", SZ), "allow_plain must be a REG_DWORD value, not REG_SZ"),
        (("portal_url", 443, DWORD), "portal_url must be a REG_SZ value, not REG_DWORD"),
        (("portal_url", "%ProgramData%\\x", RegistryType.REG_EXPAND_SZ), "portal_url must be a REG_SZ value"),
        (("subject_tags", "[secure]", SZ), "subject_tags must be a REG_MULTI_SZ value, not REG_SZ"),
        (("idle_timeout_minutes", 5, RegistryType.REG_QWORD), "not REG_QWORD"),
        (("idle_timeout_minutes", b"\x05", RegistryType.REG_BINARY), "not REG_BINARY"),
        (("idle_timeout_minutes", 5, 99), "not registry type 99"),
    ],
)
def test_wrong_registry_type_is_refused_with_the_key_named(value: tuple[str, Any, int], message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("\\", "\\\\")):
        convert(value)


def test_on_off_switch_must_be_zero_or_one() -> None:
    with pytest.raises(PolicyError, match="allow_plain must be 1 \\(on\\) or 0 \\(off\\), not 2"):
        convert(("allow_plain", 2, DWORD))


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (("idle_timeout_minutes", 0, DWORD), "idle_timeout_minutes must be between 1 and 480"),
        (("method_ladder", ["portal", "pgp"], MULTI_SZ), "method_ladder must list pgp and smime before"),
        (("audit_forward", "email", SZ), "audit_forward must be one of"),
    ],
)
def test_registry_values_pass_the_same_checks_as_files(value: tuple[str, Any, int], key: str) -> None:
    with pytest.raises(PolicyError, match=key):
        convert(value)


def test_unknown_registry_value_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"HKLM\\SOFTWARE\\Policies\\Salus: unknown value 'AllowPlainText'"):
        convert(("AllowPlainText", 1, DWORD))


def test_every_setting_has_a_registry_type() -> None:
    defaults = [(s.key, _as_registry(s.default), _registry_type(s.default)) for s in SCHEMA]
    assert convert(*defaults) == {s.key: s.default for s in SCHEMA}


def _as_registry(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _registry_type(value: Any) -> RegistryType:
    if isinstance(value, bool | int):
        return DWORD
    return MULTI_SZ if isinstance(value, list) else SZ
