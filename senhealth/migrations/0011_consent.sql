-- Consent look-ups by patient (docs/consent.md): the access policy asks, for each patient reached
-- through the referral network, whether an active Consent of theirs denies sharing; the consent module
-- lists a patient's Consents. A partial index keeps that to the few Consent rows of one patient instead
-- of all of the patient's resources.
-- https://hl7.org/fhir/R4/consent.html
CREATE INDEX fhir_resource_consent ON fhir_resource (pkey) WHERE res_type = 'Consent';
