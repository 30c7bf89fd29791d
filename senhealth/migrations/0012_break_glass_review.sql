-- Break-the-glass (emergency access): the grants, their review by the facility's administrators, and the
-- web session's emergency token. See docs/access.md ("Break-the-glass") and senhealth/security/break_glass.py.
-- The audit log (audit_event) stays append-only: nothing here changes its rows; the reviews live beside it.

-- One row per break-the-glass token minted by the platform (its jti), so that the audit rows made with
-- it can be grouped into one emergency "session": same subject, same reason, recorded between issued_at
-- and expires_at. Ended early: ended_at (the token is then also in oauth_revoked_token).
CREATE TABLE break_glass_grant (
    jti         text PRIMARY KEY,
    subject     text        NOT NULL,   -- the account id (the token's sub)
    username    text        NOT NULL DEFAULT '',
    role        text        NOT NULL,
    facility    text        NOT NULL,   -- Organization/<id>: the user's facility, whose administrators review
    reason      text        NOT NULL,
    patient     text,                   -- the record the user was trying to open, when known
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    CHECK (expires_at > issued_at AND expires_at <= issued_at + interval '30 minutes')
);
CREATE INDEX break_glass_grant_facility ON break_glass_grant (facility, issued_at);
CREATE INDEX break_glass_grant_subject ON break_glass_grant (subject, issued_at);

-- The review of one emergency session of one user: session_key is the grant's jti, or for break-the-glass
-- audit rows of a token not minted here 'day:<YYYY-MM-DD>:<md5 of the reason>'.
CREATE TABLE break_glass_review (
    session_key   text        NOT NULL,
    subject       text        NOT NULL,
    facility      text        NOT NULL,
    reviewed_by   text        NOT NULL,  -- the administrator's account id
    reviewer_name text        NOT NULL DEFAULT '',
    reviewed_at   timestamptz NOT NULL DEFAULT now(),
    note          text        NOT NULL DEFAULT '',
    PRIMARY KEY (session_key, subject)
);
CREATE INDEX break_glass_review_facility ON break_glass_review (facility);

-- The review page and the administrators' unreviewed count read only the break-the-glass rows of the
-- audit log, by facility: a partial index keeps that cheap however large the log grows (it holds only
-- the rare emergency rows, and changes no row of the append-only log).
CREATE INDEX audit_event_break_glass ON audit_event (principal_facility, recorded)
    WHERE break_glass IS NOT NULL;

-- The web session's emergency token (kept beside its normal token, encrypted the same way), and whether
-- the account has several roles (the "change role" link is shown only then).
ALTER TABLE web_session
    ADD COLUMN break_glass_sealed bytea,
    ADD COLUMN break_glass_jti    text,
    ADD COLUMN break_glass_exp    timestamptz,
    ADD COLUMN break_glass_reason text,
    ADD COLUMN multi_role         boolean NOT NULL DEFAULT true;
