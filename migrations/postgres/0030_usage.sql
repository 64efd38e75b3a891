-- Tokens issued, per client and minute (issue 13): exact accounting at any rate without one
-- audit row per token. Each instance counts in memory and adds its counts here every few
-- seconds and when it stops.
CREATE TABLE client_usage (
    client_id TEXT NOT NULL,
    minute    BIGINT NOT NULL,           -- the minute, as whole minutes since the Unix epoch (UTC)
    tokens    BIGINT NOT NULL,           -- tokens issued to the client in that minute
    PRIMARY KEY (client_id, minute)
);
-- One row per applied flush of an instance's counters: a flush retried after an error whose
-- outcome was unknown (a connection cut during COMMIT) is applied once, never twice.
CREATE TABLE usage_flushes (
    flush_id TEXT PRIMARY KEY,         -- instance id and sequence number
    at_ms    BIGINT NOT NULL             -- when it was applied; rows older than a day are pruned
);
-- When a credential was last used, for an admin deciding whether an old secret can go.
CREATE TABLE credential_last_used (
    kind         TEXT NOT NULL,        -- client_secret, client_previous_secret, api_key, signing_key
    id           TEXT NOT NULL,        -- the client id, API key prefix or kid
    last_used_ms BIGINT NOT NULL,        -- milliseconds since the Unix epoch
    PRIMARY KEY (kind, id)
);
