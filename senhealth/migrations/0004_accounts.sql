-- User accounts (issue 4, item 1): see senhealth/security/accounts.py. Passwords are argon2id PHC strings;
-- TOTP secrets are AES-256-GCM ciphertexts under a key derived from the settings' secret key.
CREATE TABLE account (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username            text NOT NULL CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$'),
    display_name        text NOT NULL DEFAULT '',
    roles               text[] NOT NULL CHECK (
        cardinality(roles) >= 1 AND roles <@ ARRAY[
            'commune_health_worker', 'doctor', 'nurse', 'facility_admin', 'provincial_officer',
            'cdc_officer', 'data_analyst', 'patient', 'system'
        ]::text[]
    ),
    password_hash       text NOT NULL,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    totp_secret         bytea,            -- nonce || AES-GCM ciphertext; NULL: not enrolled
    totp_last_step      bigint,           -- last accepted 30-second step: a code is never accepted twice
    totp_required       boolean NOT NULL DEFAULT false,
    facility            text CHECK (facility ~ '^Organization/[A-Za-z0-9.-]{1,64}$'),
    practitioner        text CHECK (practitioner ~ '^Practitioner/[A-Za-z0-9.-]{1,64}$'),
    patient             text CHECK (patient ~ '^Patient/[A-Za-z0-9.-]{1,64}$'),
    disabled            boolean NOT NULL DEFAULT false,
    last_login_at       timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX account_username_key ON account (lower(username));
CREATE INDEX account_facility_idx ON account (facility) WHERE facility IS NOT NULL;

-- Failed sign-ins per lower-cased username, whether or not such an account exists (so a lock-out tells
-- nothing about which usernames exist); a row is removed at the next successful sign-in.
CREATE TABLE login_throttle (
    username_key  text PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0,
    last_failure  timestamptz,
    locked_until  timestamptz
);
