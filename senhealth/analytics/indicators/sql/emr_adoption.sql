-- emr-adoption 1.0.0: per facility of the province, the encounters of the period (by their start, Viet Nam
-- time; not planned, cancelled or entered in error) that have at least one signed clinical document: a
-- Composition about the encounter (not entered in error) with a signature Provenance (tag
-- signature-record|signature, docs/signatures.md) / all those encounters.
WITH fac AS (
    SELECT id, facility_code, name FROM {ind_organization}
    WHERE province = %(province)s AND facility_code IS NOT NULL
),
enc AS (
    SELECT e.id, e.provider
    FROM {ind_encounter} e JOIN fac ON fac.id = e.provider
    WHERE coalesce(e.status, '') NOT IN ('planned', 'cancelled', 'entered-in-error')
      AND {e_start_day} >= %(start)s AND {e_start_day} < %(end)s
),
signed AS (
    SELECT DISTINCT c.encounter
    FROM {ind_composition} c JOIN {ind_signature} s ON s.composition = c.id
    WHERE c.encounter IS NOT NULL AND coalesce(c.status, '') <> 'entered-in-error'
)
SELECT fac.facility_code AS key, fac.name AS label,
       count(enc.id) FILTER (WHERE signed.encounter IS NOT NULL) AS numerator,
       count(enc.id) AS denominator
FROM fac
LEFT JOIN enc ON enc.provider = fac.id
LEFT JOIN signed ON signed.encounter = enc.id
GROUP BY fac.facility_code, fac.name
ORDER BY fac.facility_code
