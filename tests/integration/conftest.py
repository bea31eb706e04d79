"""Servers shared by the integration tests: one test CA and one Dovecot per session, a fresh user per test.

A test that needs a differently configured server (another certificate, fewer capabilities) starts its own
with `start_dovecot(tmp_path_factory.mktemp(...), test_ca, ...)` and stops it itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dovecot import DovecotServer, MailUser, start_dovecot
from tests.support.pki import TestCA


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("test-ca"))


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[DovecotServer]:
    server = start_dovecot(tmp_path_factory.mktemp("dovecot"), test_ca)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mail_user(dovecot: DovecotServer) -> MailUser:
    """A user of its own on the session's server, so tests never see each other's mail."""
    return dovecot.new_user()
