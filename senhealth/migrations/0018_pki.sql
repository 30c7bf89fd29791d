-- Public-key infrastructure (senhealth.emr.pki, docs/pki.md): the register of certificates issued by the
-- platform's certificate authority and of their revocations, what the OCSP responder and the CRLs answer
-- (RFC 6960, RFC 5280 §5). Private keys are never stored here (they live in the key store: encrypted
-- files or a PKCS#11 token). Revocations are kept for ever: a signature is judged at its signing time,
-- possibly years later.

CREATE TABLE pki_certificate (
    serial            text COLLATE "C" PRIMARY KEY,     -- lower-case hexadecimal, no leading zeros
    kind              text        NOT NULL
                      CHECK (kind IN ('root', 'intermediate', 'user', 'organization', 'ocsp', 'tsa')),
    holder            text,                              -- username, Organization id; NULL for the CA's own
    issuer            text        NOT NULL CHECK (issuer IN ('root', 'intermediate')),
    subject           text        NOT NULL,              -- RFC 4514
    not_before        timestamptz NOT NULL,
    not_after         timestamptz NOT NULL,
    der               bytea       NOT NULL,
    issued_at         timestamptz NOT NULL,
    revoked_at        timestamptz,                       -- whole seconds, as CRLs and OCSP carry them
    revocation_reason text,                              -- RFC 5280 CRLReason name (keyCompromise...)
    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX pki_certificate_holder ON pki_certificate (kind, holder, issued_at);
CREATE INDEX pki_certificate_revoked ON pki_certificate (issuer) WHERE revoked_at IS NOT NULL;
