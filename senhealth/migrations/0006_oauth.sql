-- OAuth 2.0 / SMART App Launch bookkeeping (senhealth.security.oauth): registered clients, one-time
-- authorization codes, refresh tokens, revoked access-token ids, used client-assertion ids and EHR
-- launch contexts. Secrets (codes, refresh tokens) are stored only as SHA-256 hashes. Expired rows are
-- deleted as new ones are written. No clinical data here.

CREATE TABLE oauth_client (
    client_id                  text PRIMARY KEY,
    client_name                text NOT NULL,
    -- none: a public client (PKCE); private_key_jwt: a confidential asymmetric client (RFC 7523)
    token_endpoint_auth_method text NOT NULL CHECK (token_endpoint_auth_method IN ('none', 'private_key_jwt')),
    redirect_uris              text[] NOT NULL DEFAULT '{}',
    grant_types                text[] NOT NULL,
    scope                      text NOT NULL,  -- the most this client may be granted
    jwks                       jsonb,          -- the client's public keys (private_key_jwt)
    jwks_uri                   text,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    disabled_at                timestamptz
);

CREATE TABLE oauth_authorization_code (
    code_hash             text PRIMARY KEY,
    client_id             text NOT NULL REFERENCES oauth_client ON DELETE CASCADE,
    redirect_uri          text NOT NULL,
    scope                 text NOT NULL,
    user_id               text NOT NULL,
    grant_context         jsonb NOT NULL,  -- the user as signed in, the launch context, the nonce
    code_challenge        text NOT NULL,
    code_challenge_method text NOT NULL CHECK (code_challenge_method = 'S256'),
    expires_at            timestamptz NOT NULL,
    used_at               timestamptz,
    issued_jti            text,            -- revoked if the code is replayed (RFC 6749 §4.1.2)
    issued_refresh_hash   text
);
CREATE INDEX oauth_authorization_code_expires ON oauth_authorization_code (expires_at);

CREATE TABLE oauth_refresh_token (
    token_hash    text PRIMARY KEY,
    client_id     text NOT NULL REFERENCES oauth_client ON DELETE CASCADE,
    user_id       text NOT NULL,
    scope         text NOT NULL,
    grant_context jsonb NOT NULL,
    issued_at     timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX oauth_refresh_token_user ON oauth_refresh_token (user_id);
CREATE INDEX oauth_refresh_token_expires ON oauth_refresh_token (expires_at);

CREATE TABLE oauth_revoked_token (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL,  -- the token's own exp: the row is useless after it
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_revoked_token_expires ON oauth_revoked_token (expires_at);

CREATE TABLE oauth_client_assertion (
    client_id  text NOT NULL,
    jti        text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX oauth_client_assertion_expires ON oauth_client_assertion (expires_at);

CREATE TABLE oauth_launch (
    launch_id  text PRIMARY KEY,
    user_id    text NOT NULL,
    context    jsonb NOT NULL,  -- {"patient": "...", "encounter": "..."}
    expires_at timestamptz NOT NULL
);
CREATE INDEX oauth_launch_expires ON oauth_launch (expires_at);
