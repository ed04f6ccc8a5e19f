-- Accounts managed from the product (the configuration file's users stay
-- there, read-only), API tokens made from the product, and login sessions
-- that survive a restart and can be revoked. Changes go to audit_log.
CREATE TABLE accounts (
    name                text PRIMARY KEY,
    role                text NOT NULL,
    team                text NOT NULL DEFAULT '',
    password_hash       text NOT NULL,                 -- bcrypt
    disabled            boolean NOT NULL DEFAULT false,
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);
-- Names are unique whatever their case: a login finds "Ops" as "ops".
CREATE UNIQUE INDEX accounts_name_lower ON accounts (lower(name));

CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    name         text NOT NULL,                        -- the principal's name
    role         text NOT NULL,
    team         text NOT NULL DEFAULT '',
    sha256       bytea NOT NULL UNIQUE,                -- of the token; the token itself is shown once
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Only each cookie's SHA-256 is kept: the table cannot be used to log in.
-- id is the session's public name, to list and revoke it by.
CREATE TABLE login_sessions (
    sha256       bytea PRIMARY KEY,
    id           text NOT NULL UNIQUE,
    user_name    text NOT NULL,
    role         text NOT NULL,
    team         text NOT NULL DEFAULT '',
    source       text NOT NULL,                        -- config, local, ldap
    remote_addr  text NOT NULL DEFAULT '',
    user_agent   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX login_sessions_user ON login_sessions (lower(user_name)) WHERE revoked_at IS NULL;
CREATE INDEX login_sessions_expires ON login_sessions (expires_at);

-- The audit page filters by actor and by kind over time.
CREATE INDEX audit_log_actor ON audit_log (actor, time DESC);
CREATE INDEX audit_log_kind ON audit_log (object_type, time DESC);
