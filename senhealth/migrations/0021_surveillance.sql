-- Notifiable-disease case reports, event-based signals and the surveillance time series (issue 8;
-- docs/surveillance.md; writers: senhealth/surveillance/cases/, senhealth/surveillance/series/).
-- The case reports themselves are FHIR QuestionnaireResponses (one per case) and the signals FHIR
-- Communications; these tables are derived from them (rebuilt by senhealth.surveillance.series.rebuild)
-- and exist for fast line lists and series across all patients.

-- One row per case report (QuestionnaireResponse id). ``patients``: every linked Patient record whose
-- evidence the case holds (the de-duplication key with ``disease``); ``patient_id``: the record it is
-- filed under. ``status``: active, merged (a duplicate of another case after records were linked) or
-- withdrawn (its evidence was deleted or recoded). ``case_date``: onset, else the first evidence's date
-- (Viet Nam time): the date the series count it on.
CREATE TABLE surveillance_case (
    case_id        text PRIMARY KEY,
    disease        text        NOT NULL,
    list_id        text        NOT NULL,
    disease_group  text        NOT NULL CHECK (disease_group IN ('A', 'B', 'C')),
    icd10          text        NOT NULL DEFAULT '',
    patient_id     text        NOT NULL,
    patients       text[]      NOT NULL,
    province       text        NOT NULL DEFAULT '',
    commune        text        NOT NULL DEFAULT '',
    onset_date     date,
    case_date      date        NOT NULL,
    first_evidence date        NOT NULL,
    last_evidence  date        NOT NULL,
    diagnosed_at   timestamptz NOT NULL,
    detected_at    timestamptz NOT NULL,
    deadline       text        NOT NULL CHECK (deadline IN ('24h', '48h', 'weekly')),
    deadline_at    timestamptz NOT NULL,
    reported_at    timestamptz,
    classification text        NOT NULL CHECK (classification IN ('suspected', 'probable', 'confirmed')),
    outcome        text        NOT NULL DEFAULT 'unknown' CHECK (outcome IN ('unknown', 'recovered', 'died')),
    outcome_manual boolean     NOT NULL DEFAULT false,
    status         text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'merged', 'withdrawn')),
    merged_into    text,
    evidence       text[]      NOT NULL DEFAULT '{}',
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX surveillance_case_disease_date ON surveillance_case (disease, case_date);
CREATE INDEX surveillance_case_commune ON surveillance_case (commune, disease, case_date);
CREATE INDEX surveillance_case_patients ON surveillance_case USING gin (patients);

-- Counts of active cases per disease x commune x day and x ISO week (week_start: its Monday). Province
-- totals are sums over its communes; ``commune`` is '' for cases without a known address.
CREATE TABLE surveillance_count_day (
    disease   text    NOT NULL,
    province  text    NOT NULL,
    commune   text    NOT NULL,
    day       date    NOT NULL,
    cases     integer NOT NULL DEFAULT 0,
    confirmed integer NOT NULL DEFAULT 0,
    deaths    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (disease, province, commune, day)
);
CREATE TABLE surveillance_count_week (
    disease    text     NOT NULL,
    province   text     NOT NULL,
    commune    text     NOT NULL,
    week_start date     NOT NULL CHECK (extract(isodow FROM week_start) = 1),
    iso_year   smallint NOT NULL,
    iso_week   smallint NOT NULL,
    cases      integer  NOT NULL DEFAULT 0,
    confirmed  integer  NOT NULL DEFAULT 0,
    deaths     integer  NOT NULL DEFAULT 0,
    PRIMARY KEY (disease, province, commune, week_start)
);
CREATE INDEX surveillance_count_week_province ON surveillance_count_week (disease, province, week_start);

-- Population denominators per commune (and province, when configured as a whole) and year: from a
-- configured table (statistics office) or counted from the patient index's home addresses (source).
CREATE TABLE surveillance_population (
    area       text    NOT NULL,   -- commune (5 digits) or province (2 digits) code
    level      text    NOT NULL CHECK (level IN ('commune', 'province')),
    province   text    NOT NULL,
    year       smallint NOT NULL,
    population integer NOT NULL CHECK (population >= 0),
    name       text    NOT NULL DEFAULT '',
    source     text    NOT NULL DEFAULT 'configured',
    PRIMARY KEY (area, year)
);

-- Event-based signals: free-text reports of clusters or unusual events (FHIR Communication id).
CREATE TABLE surveillance_signal (
    signal_id  text PRIMARY KEY,
    category   text        NOT NULL,
    province   text        NOT NULL DEFAULT '',
    commune    text        NOT NULL DEFAULT '',
    sent_at    timestamptz NOT NULL,
    sender     text        NOT NULL DEFAULT '',
    text       text        NOT NULL,
    disease    text        NOT NULL DEFAULT '',
    deleted    boolean     NOT NULL DEFAULT false
);
CREATE INDEX surveillance_signal_sent ON surveillance_signal (sent_at);
