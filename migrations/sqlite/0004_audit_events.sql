-- Security-relevant events: who got a token, who failed to authenticate, what changed. Never a
-- secret, a password, a key or a whole token. Rows older than the retention are deleted.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       INTEGER NOT NULL,         -- when, in milliseconds since the Unix epoch
    event       TEXT NOT NULL,         -- token_issued, client_auth_failed, login_succeeded, ...
    client_id   TEXT,                  -- the client concerned (as presented, for failures)
    customer_id TEXT,                  -- the opaque customer id concerned
    source      TEXT,                  -- the caller's address, or "cli"
    request_id  TEXT,                  -- the request's X-Request-Id
    detail      TEXT                   -- a short note without secrets (a jti, a key prefix)
);
CREATE INDEX audit_events_at ON audit_events (at_ms);
