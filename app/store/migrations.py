"""Numbered schema migrations of the vault. Append only: a released migration is never edited.

`PRAGMA user_version` records the last one applied. Each runs in its own transaction together with the
version bump, so a crash leaves the vault at one version or the next.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    purpose: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "Accounts, folders, messages with their raw bytes, the full-text index, and the audit chain.",
        """
        CREATE TABLE accounts (
            id             INTEGER PRIMARY KEY,
            name           TEXT    NOT NULL UNIQUE,
            imap_host      TEXT    NOT NULL,
            imap_port      INTEGER NOT NULL,
            imap_security  TEXT    NOT NULL CHECK (imap_security IN ('tls', 'starttls')),
            smtp_host      TEXT    NOT NULL,
            smtp_port      INTEGER NOT NULL,
            smtp_security  TEXT    NOT NULL CHECK (smtp_security IN ('tls', 'starttls')),
            username       TEXT    NOT NULL,
            password       TEXT    NOT NULL,
            ca_pem         TEXT    NOT NULL DEFAULT '',
            created_at     TEXT    NOT NULL
        ) STRICT;

        -- One row per mailbox on the server. `server_name` is the name exactly as the server spells it (after
        -- modified UTF-7 decoding) and is what we send back; `display_name` has control characters escaped and
        -- is what we show. Neither is ever used as a file path.
        CREATE TABLE folders (
            id             INTEGER PRIMARY KEY,
            account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            server_name    TEXT    NOT NULL,
            display_name   TEXT    NOT NULL,
            delimiter      TEXT    NOT NULL DEFAULT '',
            uidvalidity    INTEGER NOT NULL DEFAULT 0,
            -- UIDNEXT and HIGHESTMODSEQ as of the last *completed* sync of this folder; 0 until then.
            uidnext        INTEGER NOT NULL DEFAULT 0,
            highestmodseq  INTEGER NOT NULL DEFAULT 0,
            UNIQUE (account_id, server_name)
        ) STRICT;

        CREATE TABLE messages (
            id              INTEGER PRIMARY KEY,
            folder_id       INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
            uid             INTEGER NOT NULL,
            modseq          INTEGER NOT NULL DEFAULT 0,
            flags           TEXT    NOT NULL DEFAULT '',
            seen            INTEGER NOT NULL DEFAULT 0,
            flagged         INTEGER NOT NULL DEFAULT 0,
            size            INTEGER NOT NULL DEFAULT 0,
            internal_date   TEXT    NOT NULL DEFAULT '',
            date            TEXT    NOT NULL DEFAULT '',
            message_id      TEXT    NOT NULL DEFAULT '',
            subject         TEXT    NOT NULL DEFAULT '',
            sender          TEXT    NOT NULL DEFAULT '',
            recipients      TEXT    NOT NULL DEFAULT '',
            snippet         TEXT    NOT NULL DEFAULT '',
            has_attachments INTEGER NOT NULL DEFAULT 0,
            is_encrypted    INTEGER NOT NULL DEFAULT 0,
            is_signed       INTEGER NOT NULL DEFAULT 0,
            problems        TEXT    NOT NULL DEFAULT '',
            UNIQUE (folder_id, uid)
        ) STRICT;
        CREATE INDEX messages_by_folder_date ON messages (folder_id, date DESC);
        CREATE INDEX messages_by_date ON messages (date DESC);

        -- The message as the server sent it, zlib-compressed. Kept whole so that nothing is lost when parsing
        -- failed, and so a later Salus can re-parse it.
        CREATE TABLE message_raw (
            message_id  INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            raw         BLOB    NOT NULL
        ) STRICT;

        CREATE TABLE attachments (
            id            INTEGER PRIMARY KEY,
            message_id    INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            part          TEXT    NOT NULL,
            filename      TEXT    NOT NULL,
            content_type  TEXT    NOT NULL,
            size          INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX attachments_by_message ON attachments (message_id);

        -- Contentless: the text lives (compressed) in message_raw, the index only holds tokens and positions,
        -- which is enough for word, prefix and phrase queries. rowid = messages.id.
        CREATE VIRTUAL TABLE messages_fts USING fts5 (
            subject, sender, recipients, body, attachments,
            content = '', contentless_delete = 1,
            tokenize = 'unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER messages_fts_forget AFTER DELETE ON messages
            BEGIN DELETE FROM messages_fts WHERE rowid = old.id; END;

        -- The access log (DESIGN.md §8). Entries are chained by HMAC; the head row makes truncation of the
        -- newest entries detectable. Triggers make the table append-only for anything short of dropping them.
        CREATE TABLE audit_log (
            seq     INTEGER PRIMARY KEY,
            at      TEXT    NOT NULL,
            actor   TEXT    NOT NULL,
            event   TEXT    NOT NULL,
            target  TEXT    NOT NULL DEFAULT '',
            detail  TEXT    NOT NULL DEFAULT '{}',
            mac     BLOB    NOT NULL
        ) STRICT;
        CREATE TABLE audit_head (
            id   INTEGER PRIMARY KEY CHECK (id = 1),
            seq  INTEGER NOT NULL,
            mac  BLOB    NOT NULL
        ) STRICT;
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        """,
    ),
)

MIGRATIONS += (
    Migration(
        2,
        "Recipient evidence: the discovery cache, where OpenPGP keys came from, S/MIME certificates, Autocrypt.",
        """
        -- Results of network lookups (MX, MTA-STS, DANE, WKD, the submission server's EHLO), each with when it
        -- was learned and until when it may be reused (DESIGN.md §5). `data` is the lookup's result as JSON.
        CREATE TABLE discovery_cache (
            kind        TEXT NOT NULL,
            subject     TEXT NOT NULL,
            data        TEXT NOT NULL,
            learned_at  TEXT NOT NULL,
            expires_at  TEXT NOT NULL,
            PRIMARY KEY (kind, subject)
        ) STRICT;

        -- GnuPG keeps the keys but not how we came to have them; the decision engine ranks keys by that.
        CREATE TABLE pgp_key_sources (
            fingerprint  TEXT    NOT NULL,
            address      TEXT    NOT NULL,
            source       TEXT    NOT NULL,
            verified     INTEGER NOT NULL DEFAULT 0,
            learned_at   TEXT    NOT NULL,
            PRIMARY KEY (fingerprint, address)
        ) STRICT;

        CREATE TABLE smime_certs (
            fingerprint  TEXT PRIMARY KEY,
            der          BLOB NOT NULL,
            source       TEXT NOT NULL,
            learned_at   TEXT NOT NULL
        ) STRICT;
        CREATE TABLE smime_cert_addresses (
            fingerprint  TEXT NOT NULL REFERENCES smime_certs(fingerprint) ON DELETE CASCADE,
            address      TEXT NOT NULL,
            PRIMARY KEY (fingerprint, address)
        ) STRICT;
        CREATE INDEX smime_by_address ON smime_cert_addresses (address);

        -- Autocrypt Level 1 peer state (§2.3), one row per sender address.
        CREATE TABLE autocrypt_peers (
            address              TEXT    PRIMARY KEY,
            last_seen            TEXT    NOT NULL,
            autocrypt_timestamp  TEXT    NOT NULL,
            keydata              BLOB    NOT NULL,
            prefer_mutual        INTEGER NOT NULL DEFAULT 0
        ) STRICT;
        """,
    ),
)

MIGRATIONS += (
    Migration(
        3,
        "The durable outbox: every outgoing message is stored, encrypted as it will travel, before any network step.",
        """
        -- One row per message to submit (one per method group of a send). `state` moves queued -> submitting ->
        -- submitted, or to failed (permanent); `submitting` is entered just before DATA, so a row found in it
        -- after a crash is the only ambiguous case (see app/services/outbox.py).
        CREATE TABLE outbox (
            id               INTEGER PRIMARY KEY,
            message_id       TEXT    NOT NULL UNIQUE,
            send_id          TEXT    NOT NULL,
            account_id       INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            method           TEXT    NOT NULL,
            mail_from        TEXT    NOT NULL,
            recipients       TEXT    NOT NULL,
            raw              BLOB    NOT NULL,
            sent_copy        BLOB    NOT NULL DEFAULT x'',
            requiretls       INTEGER NOT NULL DEFAULT 0,
            state            TEXT    NOT NULL DEFAULT 'queued'
                             CHECK (state IN ('queued', 'submitting', 'submitted', 'failed')),
            sent_copy_state  TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (sent_copy_state IN ('pending', 'stored', 'none')),
            attempts         INTEGER NOT NULL DEFAULT 0,
            next_attempt_at  TEXT    NOT NULL,
            last_error       TEXT    NOT NULL DEFAULT '',
            created_at       TEXT    NOT NULL,
            submitted_at     TEXT    NOT NULL DEFAULT ''
        ) STRICT;
        CREATE INDEX outbox_by_state ON outbox (state, next_attempt_at);

        -- The address mail is sent from; empty means the user name is the address (the common case).
        ALTER TABLE accounts ADD COLUMN address TEXT NOT NULL DEFAULT '';
        """,
    ),
)

MIGRATIONS += (
    Migration(
        4,
        "The user's own S/MIME identities (certificate, chain and private key), kept only inside the vault.",
        """
        CREATE TABLE own_identities (
            fingerprint  TEXT PRIMARY KEY,
            address      TEXT NOT NULL,
            certificate  BLOB NOT NULL,
            chain        TEXT NOT NULL DEFAULT '[]',
            private_key  BLOB NOT NULL,
            imported_at  TEXT NOT NULL
        ) STRICT;
        CREATE INDEX own_identities_by_address ON own_identities (address);
        """,
    ),
)

MIGRATIONS += (
    Migration(
        5,
        "Messages escalated to the secure portal: what the sender keeps to follow, revoke and read replies.",
        """
        -- `sender_token` authorises status and revoke; `reply_key` is the private half of the key replies are
        -- encrypted to (PKCS#8). Both are secrets and never leave the vault. `notice_message_id` ties the row to
        -- the outbox message carrying the notice.
        CREATE TABLE portal_messages (
            portal_id          TEXT PRIMARY KEY,
            send_id            TEXT NOT NULL,
            notice_message_id  TEXT NOT NULL UNIQUE,
            recipient          TEXT NOT NULL,
            sender_token       TEXT NOT NULL,
            reply_key          BLOB NOT NULL,
            expires_at         TEXT NOT NULL,
            created_at         TEXT NOT NULL,
            state              TEXT NOT NULL DEFAULT 'uploaded'
        ) STRICT;
        """,
    ),
)

MIGRATIONS += (
    Migration(
        6,
        "Drafts kept encrypted in the vault, where each recipient was last sent to and how, and resend links.",
        """
        -- The composer's autosaved state (DESIGN.md §3: drafts live in the vault, never in a file). `draft_id` is
        -- chosen by the composer so that every save of one window is an upsert of one row. Address lists and the
        -- thread (In-Reply-To, References, reply-to-encrypted) are JSON.
        CREATE TABLE drafts (
            draft_id    TEXT    PRIMARY KEY,
            to_addrs    TEXT    NOT NULL DEFAULT '[]',
            cc_addrs    TEXT    NOT NULL DEFAULT '[]',
            bcc_addrs   TEXT    NOT NULL DEFAULT '[]',
            subject     TEXT    NOT NULL DEFAULT '',
            body        TEXT    NOT NULL DEFAULT '',
            escalate    INTEGER NOT NULL DEFAULT 0,
            thread      TEXT    NOT NULL DEFAULT '{}',
            created_at  TEXT    NOT NULL,
            updated_at  TEXT    NOT NULL
        ) STRICT;
        CREATE TABLE draft_attachments (
            draft_id      TEXT    NOT NULL REFERENCES drafts(draft_id) ON DELETE CASCADE,
            position      INTEGER NOT NULL,
            filename      TEXT    NOT NULL,
            content_type  TEXT    NOT NULL,
            data          BLOB    NOT NULL,
            PRIMARY KEY (draft_id, position)
        ) STRICT;

        -- One row per recipient mailbox (normalised: domain lower case): the method of the last message the
        -- submission server accepted for it. Feeds the policy's previous_method (WEAKER_THAN_PREVIOUS) and the
        -- set of known contacts (first-time recipients, look-alike domains).
        CREATE TABLE recipient_history (
            address       TEXT    PRIMARY KEY,
            last_method   TEXT    NOT NULL,
            last_sent_at  TEXT    NOT NULL,
            messages      INTEGER NOT NULL DEFAULT 0
        ) STRICT;

        -- A failed message resent by a stronger method names the send that replaced it, so it is resent once.
        ALTER TABLE outbox ADD COLUMN resent_as TEXT NOT NULL DEFAULT '';
        """,
    ),
)

MIGRATIONS += (
    Migration(
        7,
        "Shared workstations: the TOTP second factor and the person's own settings, both inside the vault.",
        """
        -- At most one authenticator per profile; the secret never leaves the vault (not in the header, which is
        -- readable). `last_step` is the TOTP step of the last accepted code: a code is accepted once (RFC 6238
        -- section 5.2).
        CREATE TABLE second_factor (
            id           INTEGER PRIMARY KEY CHECK (id = 1),
            secret       BLOB    NOT NULL,
            enrolled_at  TEXT    NOT NULL,
            last_step    INTEGER NOT NULL DEFAULT 0
        ) STRICT;

        -- The person's own settings (DESIGN.md section 10): one JSON value per key of app.core.settings.SCHEMA.
        -- Policy still wins; `effective(policy, user)` decides, so a stored value a policy overrides is kept,
        -- not deleted, and applies again if the policy drops the key.
        CREATE TABLE user_settings (
            key         TEXT PRIMARY KEY,
            value       TEXT NOT NULL,
            changed_at  TEXT NOT NULL
        ) STRICT;
        """,
    ),
)

MIGRATIONS += (
    Migration(
        8,
        "Portal follow-up: vault-only folders, replies fetched once, the sealed content kept for re-issue.",
        """
        -- Folders that exist only in the vault, never on an IMAP server (the portal replies of an account):
        -- sync neither lists them to the server nor drops them for being absent there.
        CREATE TABLE local_folders (
            folder_id  INTEGER PRIMARY KEY REFERENCES folders(id) ON DELETE CASCADE,
            purpose    TEXT    NOT NULL CHECK (purpose IN ('portal_replies'))
        ) STRICT;

        -- One row per reply fetched from the portal, so each is fetched and stored once. `message` goes NULL
        -- when the user deletes the stored reply; the row stays, so a deleted reply is not fetched again.
        CREATE TABLE portal_replies (
            portal_id   TEXT    NOT NULL REFERENCES portal_messages(portal_id) ON DELETE CASCADE,
            n           INTEGER NOT NULL,
            message     INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            fetched_at  TEXT    NOT NULL,
            PRIMARY KEY (portal_id, n)
        ) STRICT;

        -- The MIME message that was sealed (zlib; it is the plaintext, so it lives only here, in the vault),
        -- so a revoked or expired message can be re-issued; its Message-ID, which the Sent copy carries, so
        -- the message list can show the portal state on it; the message that replaced this one; and when the
        -- portal state in `state` was last confirmed by the portal.
        ALTER TABLE portal_messages ADD COLUMN content BLOB NOT NULL DEFAULT x'';
        ALTER TABLE portal_messages ADD COLUMN content_message_id TEXT NOT NULL DEFAULT '';
        ALTER TABLE portal_messages ADD COLUMN superseded_by TEXT NOT NULL DEFAULT '';
        ALTER TABLE portal_messages ADD COLUMN checked_at TEXT NOT NULL DEFAULT '';
        CREATE INDEX portal_by_content_id ON portal_messages (content_message_id);
        """,
    ),
)

MIGRATIONS += (
    Migration(
        9,
        "Indexes for sorting a folder by sender or subject, and the senders whose remote images may load.",
        """
        -- The keys repeat browse.py's sort expressions exactly (including COLLATE NOCASE), so a sorted page and
        -- the next one are an index seek plus `limit` steps instead of a sort of the whole folder; the row id is
        -- the implicit last key, which is browse.py's tie-break.
        CREATE INDEX messages_by_folder_sender ON messages (folder_id, sender COLLATE NOCASE);
        CREATE INDEX messages_by_folder_subject ON messages (folder_id, subject COLLATE NOCASE);

        -- Senders whose messages may load remote images without asking each time (the reader's "Always for
        -- this sender"). `address` is the lower-cased addr-spec; deleting the row revokes the choice.
        CREATE TABLE remote_content_senders (
            address     TEXT PRIMARY KEY,
            allowed_at  TEXT NOT NULL
        ) STRICT;
        """,
    ),
)

MIGRATIONS += (
    Migration(
        10,
        "Rich text drafts: the HTML of a draft written with formatting.",
        """
        -- The draft's HTML as the composer cleaned it to its allow-list (app/ui/compose_html.py); NULL for a plain
        -- text draft. `body` keeps the plain text either way, so a reader of the row never needs the HTML.
        ALTER TABLE drafts ADD COLUMN body_html TEXT;
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
