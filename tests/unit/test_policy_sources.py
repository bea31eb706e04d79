"""Reading managed policy from each platform's places: JSON files, managed-preferences plists (binary and XML),
their precedence key by key, and SALUS_POLICY_FILE replacing them all. Every place is a directory of the test's
own, so the host's /etc/salus or /Library is never read."""

from __future__ import annotations

import json
import os
import plistlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.core.errors import PolicyError
from app.services.policy import load_policy
from app.services.policy_sources import (
    PREFERENCES_DOMAIN,
    Places,
    managed_preferences_paths,
    read_json_file,
    read_plist,
)

USER = "clinician"


@pytest.fixture
def places(tmp_path: Path) -> Places:
    return Places(
        managed_preferences=tmp_path / "Managed Preferences",
        macos_file=tmp_path / "Application Support" / "Salus" / "policy.json",
        linux_file=tmp_path / "etc" / "salus" / "policy.json",
        admin_uid=os.getuid(),  # the test's files belong to whoever runs it, standing in for root
    )


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), "utf-8")
    return path


def write_plist(path: Path, document: Any, fmt: plistlib.PlistFormat = plistlib.FMT_BINARY) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(plistlib.dumps(document, fmt=fmt))
    return path


def mac_plists(places: Places) -> tuple[Path, Path]:
    return managed_preferences_paths(places.managed_preferences, PREFERENCES_DOMAIN, USER)


# --- JSON files -------------------------------------------------------------------------------------------------


def test_missing_json_file_is_no_policy(tmp_path: Path) -> None:
    assert read_json_file(tmp_path / "policy.json") is None


def test_json_that_does_not_parse_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{\n  "allow_plain": false,\n  oops\n}', "utf-8")
    with pytest.raises(PolicyError, match=r"policy\.json is not valid JSON \(line 3"):
        read_json_file(path)


def test_json_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="must be a JSON object"):
        read_json_file(write_json(tmp_path / "policy.json", ["allow_plain"]))


def test_key_set_twice_is_refused_with_the_key_named(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"allow_plain": false, "idle_timeout_minutes": 5, "allow_plain": true}', "utf-8")
    with pytest.raises(PolicyError, match=f"policy {path}: allow_plain is set twice"):
        read_json_file(path)


def test_byte_order_mark_from_notepad_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"audit_forward": "eventlog"}')
    layer = read_json_file(path)
    assert layer is not None and layer.document == {"audit_forward": "eventlog"}


def test_unreadable_policy_place_is_an_error_not_an_empty_policy(tmp_path: Path) -> None:
    (tmp_path / "policy.json").mkdir()
    with pytest.raises(PolicyError, match="cannot be read"):
        read_json_file(tmp_path / "policy.json")


# --- managed preferences plists ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [plistlib.FMT_BINARY, plistlib.FMT_XML], ids=["binary", "xml"])
def test_managed_preferences_plist_is_read_in_either_format(tmp_path: Path, fmt: plistlib.PlistFormat) -> None:
    document = {"idle_timeout_minutes": 3, "keyring_allowed": False, "subject_tags": ["[secure]"]}
    layer = read_plist(write_plist(tmp_path / "org.salus.client.plist", document, fmt))
    assert layer is not None
    assert layer.document == document
    assert layer.origin == str(tmp_path / "org.salus.client.plist")


def test_plist_value_of_the_wrong_type_names_the_key(tmp_path: Path) -> None:
    path = write_plist(tmp_path / "org.salus.client.plist", {"allow_plain": False, "portal_url": b"https://x"})
    with pytest.raises(PolicyError, match="portal_url must be a string"):
        read_plist(path)


def test_damaged_plist_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "org.salus.client.plist"
    path.write_bytes(b"bplist00\x00\x01garbage")
    with pytest.raises(PolicyError, match="not a valid property list"):
        read_plist(path)
    path.write_text("<?xml version='1.0'?><plist><dict><key>a</key>", "utf-8")
    with pytest.raises(PolicyError, match="not a valid property list"):
        read_plist(path)


def test_managed_preferences_live_per_computer_and_per_user() -> None:
    base = Path("/Library/Managed Preferences")
    assert managed_preferences_paths(base, "org.salus.client", "ann") == (
        base / "org.salus.client.plist",
        base / "ann" / "org.salus.client.plist",
    )


# --- precedence ---------------------------------------------------------------------------------------------------


def test_macos_computer_profile_beats_the_file_which_beats_the_user_profile_key_by_key(places: Places) -> None:
    computer, per_user = mac_plists(places)
    write_plist(computer, {"idle_timeout_minutes": 2})
    write_json(places.macos_file, {"idle_timeout_minutes": 9, "allow_plain": False, "portal_url": "https://file"})
    write_plist(
        per_user,
        {"idle_timeout_minutes": 20, "portal_url": "https://user", "autocrypt_allowed": True},
        plistlib.FMT_XML,
    )
    policy = load_policy("darwin", {}, USER, places)
    assert policy.values == {
        "idle_timeout_minutes": 2,
        "allow_plain": False,
        "portal_url": "https://file",
        "autocrypt_allowed": True,
    }
    assert policy.origins == {
        "idle_timeout_minutes": str(computer),
        "allow_plain": str(places.macos_file),
        "portal_url": str(places.macos_file),
        "autocrypt_allowed": str(per_user),
    }
    assert policy.sources == (str(computer), str(places.macos_file), str(per_user))


def test_macos_reads_only_this_users_preferences(places: Places) -> None:
    write_plist(places.managed_preferences / "someone-else" / f"{PREFERENCES_DOMAIN}.plist", {"allow_plain": True})
    assert load_policy("darwin", {}, USER, places).values == {}


def test_windows_reads_the_program_data_file(tmp_path: Path, places: Places) -> None:
    path = write_json(tmp_path / "ProgramData" / "Salus" / "policy.json", {"audit_forward": "eventlog"})
    policy = load_policy("win32", {"PROGRAMDATA": str(tmp_path / "ProgramData")}, USER, places)
    assert policy.values == {"audit_forward": "eventlog"}
    assert policy.origins == {"audit_forward": str(path)}


def test_linux_reads_etc_salus(places: Places) -> None:
    write_json(places.linux_file, {"keyring_allowed": False})
    policy = load_policy("linux", {}, USER, places)
    assert policy.values == {"keyring_allowed": False}
    assert policy.primary == str(places.linux_file)


def test_no_policy_anywhere_is_an_empty_policy(places: Places) -> None:
    for platform in ("linux", "darwin", "win32"):
        policy = load_policy(platform, {"PROGRAMDATA": str(places.linux_file.parent)}, USER, places)
        assert (policy.values, policy.sources, policy.primary) == ({}, (), None)


def test_salus_policy_file_stands_in_where_no_managed_policy_is_installed(tmp_path: Path, places: Places) -> None:
    override = write_json(tmp_path / "test-policy.json", {"idle_timeout_minutes": 7})
    for platform in ("linux", "darwin"):
        policy = load_policy(platform, {"SALUS_POLICY_FILE": str(override)}, USER, places)
        assert policy.values == {"idle_timeout_minutes": 7}
        assert policy.sources == (str(override),)


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_salus_policy_file_cannot_replace_a_managed_policy(tmp_path: Path, places: Places, platform: str) -> None:
    # Any user can set an environment variable; if it could replace IT's policy, "allow_plain": false would be a
    # suggestion. Start-up stops and names the policy in force.
    computer, _ = mac_plists(places)
    write_plist(computer, {"allow_plain": False})
    managed = write_json(places.linux_file, {"allow_plain": False})
    override = write_json(tmp_path / "looser.json", {"allow_plain": True})
    in_force = str(managed) if platform == "linux" else str(computer)
    with pytest.raises(PolicyError, match=f"policy at {re.escape(in_force)} is in force"):
        load_policy(platform, {"SALUS_POLICY_FILE": str(override)}, USER, places)


def test_salus_policy_file_that_does_not_exist_is_an_error(tmp_path: Path, places: Places) -> None:
    with pytest.raises(PolicyError, match="named by SALUS_POLICY_FILE does not exist"):
        load_policy("linux", {"SALUS_POLICY_FILE": str(tmp_path / "nope.json")}, USER, places)


def test_an_invalid_place_stops_loading_even_when_a_higher_one_is_valid(places: Places) -> None:
    computer, per_user = mac_plists(places)
    write_plist(computer, {"allow_plain": False})
    write_plist(per_user, {"allow_plain": "sometimes"})
    with pytest.raises(PolicyError, match=f"{per_user}: allow_plain must be true or false"):
        load_policy("darwin", {}, USER, places)


# --- who may change a policy file ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666], ids=["group", "others", "everyone"])
def test_policy_file_that_other_users_may_write_stops_start_up(places: Places, mode: int) -> None:
    write_json(places.linux_file, {"allow_plain": False}).chmod(mode)
    with pytest.raises(PolicyError, match=r"can be changed by other users \(-rw.*\): run chmod go-w on it"):
        load_policy("linux", {}, USER, places)


def test_policy_file_owned_by_someone_other_than_root_stops_start_up(places: Places) -> None:
    write_json(places.linux_file, {"allow_plain": False})
    with pytest.raises(PolicyError, match=f"must belong to root, not to user id {os.getuid()}"):
        load_policy("linux", {}, USER, replace(places, admin_uid=os.getuid() + 1))


def test_a_writable_user_profile_on_macos_is_refused_too(places: Places) -> None:
    _, per_user = mac_plists(places)
    write_plist(per_user, {"autocrypt_allowed": True}).chmod(0o666)
    with pytest.raises(PolicyError, match="can be changed by other users"):
        load_policy("darwin", {}, USER, places)


def test_a_policy_file_only_root_may_write_is_read(places: Places) -> None:
    write_json(places.linux_file, {"allow_plain": False}).chmod(0o644)
    assert load_policy("linux", {}, USER, places).values == {"allow_plain": False}
