-- The web application's bookkeeping (senhealth/web): sign-in sessions and the per-address sign-in rate
-- limit. No clinical data here: pages read patient data through the FHIR API with the session's token.

-- One row per browser session. The cookie holds a random id; only its SHA-256 is stored, so a copy of
-- the table does not give usable cookies. A session is "pending" between the password and the second
-- factor (it then holds the password, AES-GCM-encrypted, for at most a few minutes), "choose" while the
-- user picks a role, "active" once an access token was minted for that role; the token is stored
-- encrypted too (key derived from the secret key).
CREATE TABLE web_session (
    id_hash        text PRIMARY KEY,
    stage          text NOT NULL CHECK (stage IN ('pending', 'enrol', 'choose', 'active')),
    account_id     text NOT NULL,
    username       text NOT NULL,
    display_name   text NOT NULL DEFAULT '',
    patient        text,            -- Patient/<id> of a citizen's account
    role           text,
    facility       text,
    sealed         bytea,           -- stage pending/enrol: the password (and enrolment secret); active: the token
    token_jti      text,
    token_exp      timestamptz,
    lang           text NOT NULL DEFAULT 'vi',
    client_address text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL  -- absolute limit; the idle limit is checked against last_seen_at
);
CREATE INDEX web_session_expires ON web_session (expires_at);
CREATE INDEX web_session_account ON web_session (account_id);

-- Sign-in attempts per client address (sliding window): rows older than the window are deleted at every
-- attempt.
CREATE TABLE web_login_attempt (
    address text NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX web_login_attempt_address ON web_login_attempt (address, at);
CREATE INDEX web_login_attempt_at ON web_login_attempt (at);
