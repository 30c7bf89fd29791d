-- Topic-based subscriptions (Subscriptions R5 Backport IG for R4; senhealth.fhir.subscriptions,
-- docs/subscriptions.md). The Subscription resources themselves live in the FHIR store; these tables are
-- the server's bookkeeping: the state the server manages for each subscription, its events (written in
-- the transaction of the write that caused them: an event exists if and only if that write committed),
-- and websocket binding tokens. Small tables, not partitioned by patient: on Citus they would be
-- reference or local tables of the coordinator.

-- Which subscriptions exist, as a number that changes whenever one is written: processes cache the
-- active subscriptions and reload them when (epoch, version) differs. The version comes from a sequence,
-- so a rolled-back change never reuses a number that a committed one will carry.
CREATE SEQUENCE subscription_registry_seq;
CREATE TABLE subscription_registry (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    epoch    uuid NOT NULL DEFAULT gen_random_uuid(),
    version  bigint NOT NULL DEFAULT 0
);
INSERT INTO subscription_registry DEFAULT VALUES;

-- One row per Subscription: what the hook needs to match writes (topic, filters, channel, the owner's
-- access restriction), the status the server manages, and the per-subscription event counter.
CREATE TABLE subscription_state (
    subscription_id     text COLLATE "C" PRIMARY KEY,
    topic               text NOT NULL,
    channel             text NOT NULL CHECK (channel IN ('rest-hook', 'websocket')),
    channel_key         text NOT NULL DEFAULT '',
    status              text NOT NULL CHECK (status IN ('requested', 'active', 'error', 'off')),
    filters             jsonb NOT NULL DEFAULT '[]',
    owner               text,
    restriction         jsonb,
    heartbeat_s         integer,
    end_at              timestamptz,
    events_since_start  bigint NOT NULL DEFAULT 0,   -- the last event number given (the counter)
    delivered_through   bigint NOT NULL DEFAULT 0,   -- rest-hook: every event up to this one was accepted
    handshake_ok        boolean NOT NULL DEFAULT false,
    failures            integer NOT NULL DEFAULT 0,  -- failed attempts in a row
    next_attempt_at     timestamptz,
    last_error          text,
    last_sent_at        timestamptz,
    -- channel.header values as the owner gave them; the stored Subscription shows '***' instead, so that
    -- whoever may read Subscriptions (or export them) never sees a receiver's credentials
    secret_headers      jsonb NOT NULL DEFAULT '[]',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscription_state_pending ON subscription_state (subscription_id)
    WHERE status <> 'off' AND (delivered_through < events_since_start OR NOT handshake_ok);

-- One row per event: the subscription's event number (1, 2, 3... with no gaps, in commit order), the
-- topic, the focus (type, id, version) and the interaction; when it was delivered and how often tried.
CREATE TABLE subscription_event (
    subscription_id  text COLLATE "C" NOT NULL REFERENCES subscription_state ON DELETE CASCADE,
    event_number     bigint NOT NULL,
    topic            text NOT NULL,
    focus_type       text NOT NULL,
    focus_id         text COLLATE "C" NOT NULL,
    focus_version    integer NOT NULL,
    interaction      text NOT NULL CHECK (interaction IN ('create', 'update', 'delete')),
    pkey             text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    delivered_at     timestamptz,
    attempts         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (subscription_id, event_number)
);
CREATE INDEX subscription_event_created ON subscription_event (created_at);

-- Websocket binding tokens ($get-ws-binding-token): only a digest of the token is kept.
CREATE TABLE subscription_ws_token (
    token_hash        text PRIMARY KEY,
    subscription_ids  text[] NOT NULL,
    owner             text,
    expires_at        timestamptz NOT NULL
);
CREATE INDEX subscription_ws_token_expires ON subscription_ws_token (expires_at);
