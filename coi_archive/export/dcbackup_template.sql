BEGIN TRANSACTION;
CREATE TABLE "acpeerstates" (
             id INTEGER PRIMARY KEY,
             addr TEXT DEFAULT '' COLLATE NOCASE,
             last_seen INTEGER DEFAULT 0,
             last_seen_autocrypt INTEGER DEFAULT 0,
             public_key,
             prefer_encrypted INTEGER DEFAULT 0,
             gossip_timestamp INTEGER DEFAULT 0,
             gossip_key,
             public_key_fingerprint TEXT DEFAULT '',
             gossip_key_fingerprint TEXT DEFAULT '',
             verified_key,
             verified_key_fingerprint TEXT DEFAULT '', verifier TEXT DEFAULT '', secondary_verified_key, secondary_verified_key_fingerprint TEXT DEFAULT '', secondary_verifier TEXT DEFAULT '', backward_verified_key_id -- What we think the contact has as our verified key
               INTEGER,
             UNIQUE (addr) -- Only one peerstate per address
             );
CREATE TABLE available_post_msgs (
                rfc724_mid TEXT PRIMARY KEY
            ) STRICT;
CREATE TABLE bobstate (
                   id INTEGER PRIMARY KEY AUTOINCREMENT,
                   invite TEXT NOT NULL,
                   next_step INTEGER NOT NULL,
                   chat_id INTEGER NOT NULL
            );
CREATE TABLE broadcast_secrets(
                chat_id INTEGER PRIMARY KEY NOT NULL,
                secret TEXT NOT NULL
            ) STRICT;
CREATE TABLE broadcasted_reactions (
                msg_id INTEGER NOT NULL DEFAULT 0,
                reaction TEXT NOT NULL DEFAULT '',
                count INTEGER NOT NULL DEFAULT 0,
                FOREIGN KEY(msg_id) REFERENCES msgs(id) ON DELETE CASCADE -- delete reactions when message is deleted
            ) STRICT;
CREATE TABLE chats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type INTEGER DEFAULT 0,
    name TEXT DEFAULT '',
    draft_timestamp INTEGER DEFAULT 0,
    draft_txt TEXT DEFAULT '',
    blocked INTEGER DEFAULT 0,
    grpid TEXT DEFAULT '',
    param TEXT DEFAULT '',
    archived INTEGER DEFAULT 0,
    gossiped_timestamp INTEGER DEFAULT 0, -- deprecated 2025-04-08, replaced with gossiped_timestamp table
    locations_send_begin INTEGER DEFAULT 0,
    locations_send_until INTEGER DEFAULT 0,
    locations_last_sent INTEGER DEFAULT 0,
    created_timestamp INTEGER DEFAULT 0,
    muted_until INTEGER DEFAULT 0,
    ephemeral_timer INTEGER
, protected INTEGER DEFAULT 0, name_normalized TEXT);
INSERT INTO "chats" VALUES(1,120,'deaddrop',0,'',0,'','',0,0,0,0,0,0,0,NULL,0,NULL);
INSERT INTO "chats" VALUES(2,120,'rsvd',0,'',0,'','',0,0,0,0,0,0,0,NULL,0,NULL);
INSERT INTO "chats" VALUES(3,120,'trash',0,'',0,'','',0,0,0,0,0,0,0,NULL,0,NULL);
INSERT INTO "chats" VALUES(4,120,'msgs_in_creation',0,'',0,'','',0,0,0,0,0,0,0,NULL,0,NULL);
INSERT INTO "chats" VALUES(5,120,'starred',0,'',0,'','',0,0,0,0,0,0,0,NULL,0,NULL);
INSERT INTO "chats" VALUES(6,120,'archivedlink',0,'',0,'','',0,0,0,0,0,0,0,NULL,0,NULL);
INSERT INTO "chats" VALUES(7,100,'rsvd',0,'',0,'','',0,0,0,0,0,0,0,NULL,0,NULL);
INSERT INTO "chats" VALUES(8,100,'rsvd',0,'',0,'','',0,0,0,0,0,0,0,NULL,0,NULL);
INSERT INTO "chats" VALUES(9,100,'rsvd',0,'',0,'','',0,0,0,0,0,0,0,NULL,0,NULL);
CREATE TABLE "chats_contacts" (chat_id INTEGER, contact_id INTEGER, add_timestamp NOT NULL DEFAULT 0, remove_timestamp NOT NULL DEFAULT 0, UNIQUE(chat_id, contact_id));
CREATE TABLE chats_descriptions (chat_id INTEGER PRIMARY KEY AUTOINCREMENT, description TEXT NOT NULL DEFAULT '') STRICT;
CREATE TABLE "config" (
               id INTEGER PRIMARY KEY,
               keyname TEXT UNIQUE,
               value TEXT NOT NULL
             );
INSERT INTO "config" VALUES(1,'dbversion','169');
INSERT INTO "config" VALUES(2,'keyupdate_baseline','');
CREATE TABLE connection_history (
                host TEXT NOT NULL, -- server hostname
                port INTEGER NOT NULL, -- server port
                alpn TEXT NOT NULL, -- ALPN such as smtp or imap
                addr TEXT NOT NULL, -- IP address
                timestamp INTEGER NOT NULL, -- timestamp of the most recent successful connection
                UNIQUE (host, port, alpn, addr)
            ) STRICT;
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT DEFAULT '',
    addr TEXT DEFAULT '' COLLATE NOCASE,
    origin INTEGER DEFAULT 0,
    blocked INTEGER DEFAULT 0,
    last_seen INTEGER DEFAULT 0,
    param TEXT DEFAULT '',
    authname TEXT DEFAULT '',
    selfavatar_sent INTEGER DEFAULT 0
, status TEXT DEFAULT '', is_bot INTEGER NOT NULL DEFAULT 0, fingerprint TEXT NOT NULL DEFAULT '', verifier INTEGER NOT NULL DEFAULT 0, name_normalized TEXT);
INSERT INTO "contacts" VALUES(1,'self','',262144,0,0,'','',0,'',0,'',0,NULL);
INSERT INTO "contacts" VALUES(2,'info','',262144,0,0,'','',0,'',0,'',0,NULL);
INSERT INTO "contacts" VALUES(3,'rsvd','',262144,0,0,'','',0,'',0,'',0,NULL);
INSERT INTO "contacts" VALUES(4,'rsvd','',262144,0,0,'','',0,'',0,'',0,NULL);
INSERT INTO "contacts" VALUES(5,'device','',262144,0,0,'','',0,'',0,'',0,NULL);
INSERT INTO "contacts" VALUES(6,'rsvd','',262144,0,0,'','',0,'',0,'',0,NULL);
INSERT INTO "contacts" VALUES(7,'rsvd','',262144,0,0,'','',0,'',0,'',0,NULL);
INSERT INTO "contacts" VALUES(8,'rsvd','',262144,0,0,'','',0,'',0,'',0,NULL);
INSERT INTO "contacts" VALUES(9,'rsvd','',262144,0,0,'','',0,'',0,'',0,NULL);
CREATE TABLE devmsglabels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT,
    msg_id INTEGER DEFAULT 0
);
CREATE TABLE dns_cache (
               hostname TEXT NOT NULL,
               address TEXT NOT NULL, -- IPv4 or IPv6 address
               timestamp INTEGER NOT NULL,
               UNIQUE (hostname, address)
             );
CREATE TABLE "download" (
                rfc724_mid TEXT PRIMARY KEY,
                msg_id INTEGER NOT NULL DEFAULT 0
            ) STRICT;
CREATE TABLE gossip_timestamp (
  chat_id INTEGER NOT NULL, 
  fingerprint TEXT NOT NULL, -- Upper-case fingerprint of the key.
  timestamp INTEGER NOT NULL,
  UNIQUE (chat_id, fingerprint)
) STRICT;
CREATE TABLE http_cache (
                url TEXT PRIMARY KEY,
                expires INTEGER NOT NULL, -- When the cache entry is considered expired, timestamp in seconds.
                stale INTEGER NOT NULL, -- When the cache entry is considered stale, timestamp in seconds.
                blobname TEXT NOT NULL,
                mimetype TEXT NOT NULL DEFAULT '', -- MIME type extracted from Content-Type header.
                encoding TEXT NOT NULL DEFAULT '' -- Encoding from Content-Type header.
            ) STRICT;
CREATE TABLE "imap" (
id INTEGER PRIMARY KEY AUTOINCREMENT,
transport_id INTEGER NOT NULL, -- ID of the transport in the `transports` table.
rfc724_mid TEXT NOT NULL, -- Message-ID header
folder TEXT NOT NULL, -- IMAP folder
target TEXT NOT NULL, -- Destination folder. Empty string means that the message shall be deleted.
uid INTEGER NOT NULL, -- UID
uidvalidity INTEGER NOT NULL,
UNIQUE (transport_id, folder, uid, uidvalidity)
) STRICT;
CREATE TABLE "imap_markseen" (
                id INTEGER PRIMARY KEY NOT NULL,
                FOREIGN KEY(id) REFERENCES imap(id) ON DELETE CASCADE
            );
CREATE TABLE imap_send (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                mime TEXT NOT NULL, -- Message content
                msg_id INTEGER NOT NULL, -- ID of the message in the `msgs` table
                attempts INTEGER NOT NULL DEFAULT 0 -- Number of failed attempts to send the message
            );
CREATE TABLE "imap_sync" (
    transport_id INTEGER NOT NULL, -- ID of the transport in the `transports` table.
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL DEFAULT 0,
    uid_next INTEGER NOT NULL DEFAULT 0,
    modseq INTEGER NOT NULL DEFAULT 0,
    UNIQUE (transport_id, folder)
) STRICT;
CREATE TABLE iroh_gossip_peers (msg_id INTEGER not NULL, topic BLOB NOT NULL, public_key BLOB NOT NULL, relay_server TEXT, UNIQUE (topic, public_key), PRIMARY KEY(topic, public_key)) STRICT;
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    added_timestamp INTEGER,
    desired_timestamp INTEGER DEFAULT 0,
    action INTEGER,
    foreign_id INTEGER,
    param TEXT DEFAULT '',
    thread INTEGER DEFAULT 0,
    tries INTEGER DEFAULT 0
);
CREATE TABLE "keypairs" (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               private_key UNIQUE NOT NULL,
               public_key UNIQUE NOT NULL
             , addr TEXT DEFAULT '' COLLATE NOCASE, is_default INTEGER DEFAULT 0, created INTEGER DEFAULT 0);
CREATE TABLE leftgrps (
    id INTEGER PRIMARY KEY,
    grpid TEXT DEFAULT ''
);
CREATE TABLE locations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    latitude REAL DEFAULT 0.0,
    longitude REAL DEFAULT 0.0,
    accuracy REAL DEFAULT 0.0,
    timestamp INTEGER DEFAULT 0,
    chat_id INTEGER DEFAULT 0,
    from_id INTEGER DEFAULT 0,
    independent INTEGER DEFAULT 0
);
CREATE TABLE mdn_autocrypt_timestamp (
                fingerprint TEXT PRIMARY KEY NOT NULL, -- Upper-case fingerprint of the recipient key.
                attached_timestamp INTEGER NOT NULL
            ) STRICT;
CREATE TABLE msgs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rfc724_mid TEXT DEFAULT '',
    server_folder TEXT DEFAULT '',
    server_uid INTEGER DEFAULT 0,
    chat_id INTEGER DEFAULT 0,
    from_id INTEGER DEFAULT 0,
    to_id INTEGER DEFAULT 0,
    timestamp INTEGER DEFAULT 0,
    type INTEGER DEFAULT 0,
    state INTEGER DEFAULT 0,
    msgrmsg INTEGER DEFAULT 1,
    bytes INTEGER DEFAULT 0,
    txt TEXT DEFAULT '',
    txt_raw TEXT DEFAULT '', -- deprecated 2025-03-29
    param TEXT DEFAULT '',
    starred INTEGER DEFAULT 0,
    timestamp_sent INTEGER DEFAULT 0,
    timestamp_rcvd INTEGER DEFAULT 0,
    hidden INTEGER DEFAULT 0,
    -- mime_headers column actually contains BLOBs, i.e. it may
    -- contain non-UTF8 MIME messages.  TEXT was a bad choice, but
    -- thanks to SQLite 3 being dynamically typed, there is no need to
    -- change column type.
    mime_headers TEXT,
    mime_in_reply_to TEXT,
    mime_references TEXT,
    move_state INTEGER DEFAULT 1,
    location_id INTEGER DEFAULT 0,
    error TEXT DEFAULT '',

-- Timer value in seconds. For incoming messages this
-- timer starts when message is read, so we want to have
-- the value stored here until the timer starts.
    ephemeral_timer INTEGER DEFAULT 0,

-- Timestamp indicating when the message should be
-- deleted. It is convenient to store it here because UI
-- needs this value to display how much time is left until
-- the message is deleted.
    ephemeral_timestamp INTEGER DEFAULT 0
, mime_modified INTEGER DEFAULT 0, subject TEXT DEFAULT '', download_state INTEGER DEFAULT 0, hop_info TEXT, mime_compressed INTEGER NOT NULL DEFAULT 0, txt_normalized TEXT, deleted INTEGER NOT NULL DEFAULT 0, pre_rfc724_mid TEXT DEFAULT '', pinned INTEGER NOT NULL DEFAULT 0);
INSERT INTO "msgs" VALUES(1,'','',0,0,0,0,0,0,0,0,0,'marker1','','',0,0,0,0,NULL,NULL,NULL,1,0,'',0,0,0,'',0,NULL,0,NULL,0,'',0);
INSERT INTO "msgs" VALUES(2,'','',0,0,0,0,0,0,0,0,0,'rsvd','','',0,0,0,0,NULL,NULL,NULL,1,0,'',0,0,0,'',0,NULL,0,NULL,0,'',0);
INSERT INTO "msgs" VALUES(3,'','',0,0,0,0,0,0,0,0,0,'rsvd','','',0,0,0,0,NULL,NULL,NULL,1,0,'',0,0,0,'',0,NULL,0,NULL,0,'',0);
INSERT INTO "msgs" VALUES(4,'','',0,0,0,0,0,0,0,0,0,'rsvd','','',0,0,0,0,NULL,NULL,NULL,1,0,'',0,0,0,'',0,NULL,0,NULL,0,'',0);
INSERT INTO "msgs" VALUES(5,'','',0,0,0,0,0,0,0,0,0,'rsvd','','',0,0,0,0,NULL,NULL,NULL,1,0,'',0,0,0,'',0,NULL,0,NULL,0,'',0);
INSERT INTO "msgs" VALUES(6,'','',0,0,0,0,0,0,0,0,0,'rsvd','','',0,0,0,0,NULL,NULL,NULL,1,0,'',0,0,0,'',0,NULL,0,NULL,0,'',0);
INSERT INTO "msgs" VALUES(7,'','',0,0,0,0,0,0,0,0,0,'rsvd','','',0,0,0,0,NULL,NULL,NULL,1,0,'',0,0,0,'',0,NULL,0,NULL,0,'',0);
INSERT INTO "msgs" VALUES(8,'','',0,0,0,0,0,0,0,0,0,'rsvd','','',0,0,0,0,NULL,NULL,NULL,1,0,'',0,0,0,'',0,NULL,0,NULL,0,'',0);
INSERT INTO "msgs" VALUES(9,'','',0,0,0,0,0,0,0,0,0,'daymarker','','',0,0,0,0,NULL,NULL,NULL,1,0,'',0,0,0,'',0,NULL,0,NULL,0,'',0);
CREATE TABLE msgs_mdns (
    msg_id INTEGER,
    contact_id INTEGER,
    timestamp_sent INTEGER DEFAULT 0
);
CREATE TABLE "msgs_status_updates" (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                msg_id INTEGER,
                update_item TEXT DEFAULT '',
                uid TEXT UNIQUE,
                FOREIGN KEY(msg_id) REFERENCES msgs(id) ON DELETE CASCADE
            );
CREATE TABLE multi_device_sync (
id INTEGER PRIMARY KEY AUTOINCREMENT,
item TEXT DEFAULT '');
CREATE TABLE "old_keypairs" (
    id INTEGER PRIMARY KEY,
    addr TEXT DEFAULT '' COLLATE NOCASE,
    is_default INTEGER DEFAULT 0,
    private_key,
    public_key,
    created INTEGER DEFAULT 0
);
CREATE TABLE pending_reactions (
                rfc724_mid TEXT NOT NULL,
                contact_id INTEGER NOT NULL,
                reaction TEXT NOT NULL,
                timestamp INTEGER NOT NULL,
                PRIMARY KEY(rfc724_mid, contact_id),
                FOREIGN KEY(contact_id) REFERENCES contacts(id) ON DELETE CASCADE
            ) STRICT;
CREATE TABLE public_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint TEXT NOT NULL UNIQUE, -- Upper-case fingerprint of the key.
        public_key BLOB NOT NULL -- Binary key, not ASCII-armored
        ) STRICT;
CREATE TABLE reactions (
              msg_id INTEGER NOT NULL, -- id of the message reacted to
              contact_id INTEGER NOT NULL, -- id of the contact reacting to the message
              reaction TEXT DEFAULT '' NOT NULL, -- a sequence of emojis separated by spaces
              PRIMARY KEY(msg_id, contact_id),
              FOREIGN KEY(msg_id) REFERENCES msgs(id) ON DELETE CASCADE -- delete reactions when message is deleted
              FOREIGN KEY(contact_id) REFERENCES contacts(id) ON DELETE CASCADE -- delete reactions when contact is deleted
            );
CREATE TABLE reactions_need_broadcast (
                chat_id INTEGER NOT NULL DEFAULT 0,
                msg_id INTEGER NOT NULL DEFAULT 0,
                UNIQUE (chat_id, msg_id),
                FOREIGN KEY(msg_id) REFERENCES msgs(id) ON DELETE CASCADE -- delete reactions when message is deleted
            ) STRICT;
CREATE TABLE relay_candidates(
                        host TEXT PRIMARY KEY NOT NULL,
                        last_tried INTEGER NOT NULL DEFAULT 0
                    ) STRICT;
CREATE TABLE removed_transports (
                 addr TEXT NOT NULL,
                 remove_timestamp INTEGER NOT NULL,
                 UNIQUE(addr)
             ) STRICT;
CREATE TABLE sending_domains(domain TEXT PRIMARY KEY, dkim_works INTEGER DEFAULT 0);
CREATE TABLE smtp (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             rfc724_mid TEXT NOT NULL,          -- Message-ID
             mime TEXT NOT NULL,                -- SMTP payload
             msg_id INTEGER NOT NULL,           -- ID of the message in `msgs` table
             recipients TEXT NOT NULL,          -- List of recipients separated by space
             retries INTEGER NOT NULL DEFAULT 0 -- Number of failed attempts to send the message
            );
CREATE TABLE smtp2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    display_name TEXT NOT NULL,
    rfc724_mid TEXT NOT NULL,
    mime BLOB NOT NULL,
    should_attach_pubkey INTEGER NOT NULL,
    should_compress INTEGER NOT NULL,
    should_sign INTEGER NOT NULL,
    msg_id INTEGER NOT NULL,
    recipients TEXT NOT NULL,
    sent_to TEXT NOT NULL DEFAULT '',
    bcc_self INTEGER NOT NULL,
    is_encrypted INTEGER NOT NULL,
    shared_secret TEXT NOT NULL DEFAULT '',
    encryption_fingerprints TEXT NOT NULL DEFAULT '',
    retries INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE smtp_failure (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    transport_id INTEGER UNIQUE NOT NULL,
    FOREIGN KEY(transport_id) REFERENCES transports(id) ON DELETE CASCADE
) STRICT;
CREATE TABLE smtp_mdns (
              msg_id INTEGER NOT NULL, -- id of the message in msgs table which requested MDN (DEPRECATED 2024-06-21)
              from_id INTEGER NOT NULL, -- id of the contact that sent the message, MDN destination
              rfc724_mid TEXT NOT NULL, -- Message-ID header
              retries INTEGER NOT NULL DEFAULT 0 -- Number of failed attempts to send MDN
            );
CREATE TABLE smtp_status_updates (
              msg_id INTEGER NOT NULL UNIQUE, -- msg_id of the webxdc instance with pending updates
              first_serial INTEGER NOT NULL, -- id in msgs_status_updates
              last_serial INTEGER NOT NULL, -- id in msgs_status_updates
              descr TEXT NOT NULL -- text to send along with the updates
            );
CREATE TABLE smtp_success (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    transport_id INTEGER UNIQUE NOT NULL,
    FOREIGN KEY(transport_id) REFERENCES transports(id) ON DELETE CASCADE
) STRICT;
CREATE TABLE stats_msgs(
                chattype INTEGER PRIMARY KEY,
                verified INTEGER NOT NULL DEFAULT 0,
                unverified_encrypted INTEGER NOT NULL DEFAULT 0,
                unencrypted INTEGER NOT NULL DEFAULT 0,
                only_to_self INTEGER NOT NULL DEFAULT 0,
                last_counted_msg_id INTEGER NOT NULL DEFAULT 0
            ) STRICT;
CREATE TABLE stats_securejoin_invites(
                already_existed INTEGER NOT NULL,
                already_verified INTEGER NOT NULL,
                type TEXT NOT NULL
            ) STRICT;
CREATE TABLE stats_securejoin_sources(
                source INTEGER PRIMARY KEY,
                count INTEGER NOT NULL DEFAULT 0
            ) STRICT;
CREATE TABLE stats_securejoin_uipaths(
                uipath INTEGER PRIMARY KEY,
                count INTEGER NOT NULL DEFAULT 0
            ) STRICT;
CREATE TABLE stats_sending_disabled_events(timestamp INTEGER NOT NULL) STRICT;
CREATE TABLE stats_sending_enabled_events(timestamp INTEGER NOT NULL) STRICT;
CREATE TABLE tls_spki (
               host TEXT NOT NULL UNIQUE,
               spki_hash TEXT NOT NULL, -- base64 of SPKI SHA-256 hash
               timestamp INTEGER NOT NULL -- timestamp of the last time we have seen this key
             ) STRICT;
CREATE TABLE "tokens" (
                id INTEGER PRIMARY KEY,
                namespc INTEGER NOT NULL,
                foreign_key TEXT DEFAULT '' NOT NULL,
                token TEXT NOT NULL UNIQUE,
                timestamp INTEGER DEFAULT 0 NOT NULL
            ) STRICT;
CREATE TABLE transports (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        addr TEXT NOT NULL,
                        entered_param TEXT NOT NULL,
                        configured_param TEXT NOT NULL, add_timestamp INTEGER NOT NULL DEFAULT 0, is_published INTEGER DEFAULT 1 NOT NULL, last_rcvd_timestamp INTEGER NOT NULL DEFAULT 0,
                        UNIQUE(addr)
                        );
CREATE INDEX contacts_index1 ON contacts (name COLLATE NOCASE);
CREATE INDEX contacts_index2 ON contacts (addr COLLATE NOCASE);
CREATE INDEX chats_index1 ON chats (grpid);
CREATE INDEX chats_index2 ON chats (archived);
CREATE INDEX chats_index3 ON chats (locations_send_until);
CREATE INDEX msgs_index1 ON msgs (rfc724_mid);
CREATE INDEX msgs_index2 ON msgs (chat_id);
CREATE INDEX msgs_index3 ON msgs (timestamp);
CREATE INDEX msgs_index4 ON msgs (state);
CREATE INDEX msgs_index5 ON msgs (starred);
CREATE INDEX msgs_index6 ON msgs (location_id);
CREATE INDEX jobs_index1 ON jobs (desired_timestamp);
CREATE INDEX leftgrps_index1 ON leftgrps (grpid);
CREATE INDEX msgs_mdns_index1 ON msgs_mdns (msg_id);
CREATE INDEX locations_index1 ON locations (from_id);
CREATE INDEX locations_index2 ON locations (timestamp);
CREATE INDEX devmsglabels_index1 ON devmsglabels (label);
CREATE INDEX msgs_index8 ON msgs (ephemeral_timestamp);
CREATE INDEX acpeerstates_index1 ON acpeerstates (addr);
CREATE INDEX acpeerstates_index3 ON acpeerstates (public_key_fingerprint);
CREATE INDEX acpeerstates_index4 ON acpeerstates (gossip_key_fingerprint);
CREATE INDEX acpeerstates_index5 ON acpeerstates (verified_key_fingerprint);
CREATE INDEX chats_contacts_index1 ON chats_contacts (chat_id);
CREATE INDEX chats_contacts_index2 ON chats_contacts (contact_id);
CREATE INDEX config_index1 ON config (keyname);
CREATE INDEX reactions_index1 ON reactions (msg_id);
CREATE INDEX chats_index4 ON chats (name);
CREATE INDEX msgs_status_updates_index1 ON msgs_status_updates (msg_id);
CREATE INDEX msgs_status_updates_index2 ON msgs_status_updates (uid);
CREATE INDEX gossip_timestamp_index ON gossip_timestamp (chat_id, fingerprint);
CREATE INDEX contacts_fingerprint_index ON contacts (fingerprint);
CREATE INDEX public_key_index ON public_keys (fingerprint);
CREATE INDEX imap_folder ON imap(transport_id, folder);
CREATE INDEX imap_rfc724_mid ON imap(transport_id, rfc724_mid);
CREATE INDEX imap_sync_index ON imap_sync(transport_id, folder);
CREATE INDEX imap_only_rfc724_mid ON imap(rfc724_mid);
CREATE INDEX msgs_index9 ON msgs (pre_rfc724_mid);
CREATE INDEX tls_spki_index_timestamp ON tls_spki (timestamp);
CREATE INDEX msgs_index7 ON msgs (state, hidden, chat_id, timestamp);
CREATE INDEX broadcasted_reactions_index1 ON broadcasted_reactions (msg_id);
CREATE INDEX reactions_need_broadcast_index1 ON reactions_need_broadcast (chat_id);
CREATE INDEX msgs_index10 ON msgs (pinned) WHERE pinned=1;
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('contacts',9);
INSERT INTO "sqlite_sequence" VALUES('chats',9);
INSERT INTO "sqlite_sequence" VALUES('msgs',9);
INSERT INTO "sqlite_sequence" VALUES('keypairs',0);
INSERT INTO "sqlite_sequence" VALUES('msgs_status_updates',0);
INSERT INTO "sqlite_sequence" VALUES('public_keys',0);
INSERT INTO "sqlite_sequence" VALUES('imap',0);
COMMIT;
