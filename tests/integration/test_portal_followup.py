"""The sender follows portal messages from the client: `salus portal status` reports delivered, opened,
expired and revoked from the real portal's events and keeps the last state in the vault; `salus portal reissue`
sends a revoked message again under a fresh key split, id and notice, from the content kept in the vault."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.dovecot import DovecotServer
from tests.support.pki import TestCA
from tests.support.portal_server import call
from tests.support.portal_world import World, portal_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(dovecot: DovecotServer, test_ca: TestCA) -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="ptf", dir="/tmp"))
    try:
        with portal_world(base, dovecot, test_ca, "followup") as built:
            yield built
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_status_follows_delivery_and_opening_and_is_kept_in_the_vault(world: World) -> None:
    recipient = "patient.one@example.org"
    portal_id = world.send(recipient, "gastroscopy")
    assert world.status(portal_id)["status"] == "delivered"
    assert b"gastroscopy" in world.open_as_recipient(world.link(recipient), recipient)
    assert world.status(portal_id)["status"] == "opened"

    # With the portal unreachable, the vault still says where the message got to, and why it is not newer.
    policy = json.loads(Path(world.salus.env["SALUS_POLICY_FILE"]).read_text())
    gone = Path(world.salus.env["SALUS_POLICY_FILE"]).with_name("gone.json")
    gone.write_text(json.dumps({**policy, "portal_url": "https://127.0.0.1:9"}))
    offline = world.salus.run("portal", "status", "--json", extra_env={"SALUS_POLICY_FILE": str(gone)})
    (kept,) = [m for m in offline.json()["messages"] if m["portal_id"] == portal_id]
    assert kept["status"] == "opened" and "could not be reached" in kept["error"]
    synced = world.salus.run("sync", "--json", extra_env={"SALUS_POLICY_FILE": str(gone)})
    assert synced.code == 0, "an unreachable portal costs the replies a warning, never the mail sync"
    assert synced.json()["portal"] == {"replies": 0} and "could not be reached" in synced.stderr
    (row,) = [m for m in world.salus.json("portal", "status")["messages"] if m["portal_id"] == portal_id]
    assert row["events"][:2] == ["uploaded", "notice_delivered"] and "opened" in row["events"]


def test_a_revoked_message_is_reissued_under_a_new_id_and_key_with_a_new_notice(world: World) -> None:
    recipient = "patient.two@example.org"
    old = world.send(recipient, "tachycardiaplover")
    old_link = world.link(recipient)
    refused = world.salus.run("portal", "reissue", "--json", "--", old)
    assert refused.code == 1 and "only a revoked or expired message can be re-issued" in refused.stderr

    world.salus.ok("portal", "revoke", "--", old)
    assert world.status(old)["status"] == "revoked"
    reissued = world.salus.run("portal", "reissue", "--json", "--", old)  # an id may start with "-"
    assert reissued.code == 0, reissued.stderr
    done = reissued.json()
    assert done["reissued"] == old and done["portal_id"] != old
    assert done["notice"]["state"] == "submitted"

    new_link = world.link(recipient)
    assert new_link != old_link and done["portal_id"] in new_link
    assert new_link.partition("#")[2] != old_link.partition("#")[2], "a fresh K1"
    content = world.open_as_recipient(new_link, recipient)
    assert b"tachycardiaplover" in content
    assert b"tachycardiaplover" not in world.portal.stored_bytes()
    status, _, _ = call(world.portal, "GET", f"/api/v1/open/{old}")
    assert status == 410, "the old link stays withdrawn"

    assert world.status(old)["superseded_by"] == done["portal_id"]
    assert world.status(done["portal_id"])["status"] == "opened"
    again = world.salus.run("portal", "reissue", "--", old)
    assert again.code == 1 and "already re-issued" in again.stderr
    events = world.salus.json("audit", "export", "--format", "json")["entries"]
    (entry,) = [e for e in events if e["event"] == "portal.reissue"]
    assert entry["target"] == old and entry["detail"]["new"] == done["portal_id"]
    assert recipient not in json.dumps(entry)


def test_an_expired_message_is_reported_expired_and_can_be_reissued(world: World) -> None:
    recipient = "patient.three@example.org"
    portal_id = world.send(recipient, "expiringgannet")
    world.portal.clock.advance(timedelta(days=31))
    try:
        assert world.status(portal_id)["status"] == "expired"
        # The portal's clock is a month ahead of the client's, so the new link must outlive that month.
        longer = Path(world.salus.env["SALUS_POLICY_FILE"]).with_name("longer.json")
        policy = json.loads(Path(world.salus.env["SALUS_POLICY_FILE"]).read_text())
        longer.write_text(json.dumps({**policy, "portal_link_expiry_days": 90}))
        reissued = world.salus.run(
            "portal", "reissue", "--json", "--", portal_id, extra_env={"SALUS_POLICY_FILE": str(longer)}
        )
        assert reissued.code == 0, reissued.stderr
        new = reissued.json()["portal_id"]
        assert b"expiringgannet" in world.open_as_recipient(world.link(recipient), recipient)
        assert world.status(new)["status"] == "opened" and world.status(portal_id)["superseded_by"] == new
    finally:
        world.portal.clock.offset = timedelta()
