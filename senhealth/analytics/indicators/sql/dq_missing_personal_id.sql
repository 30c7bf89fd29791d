-- dq-missing-personal-id 1.0.0: per facility of the province, the patients seen in the period (an
-- encounter starting in it; not planned, cancelled or entered in error) whose record has no personal ID
-- (CCCD, https://senhealth.vn/fhir/sid/cccd) / all patients seen there.
WITH fac AS (
    SELECT id, facility_code, name FROM {ind_organization}
    WHERE province = %(province)s AND facility_code IS NOT NULL
),
seen AS (
    SELECT DISTINCT e.provider, e.patient
    FROM {ind_encounter} e JOIN fac ON fac.id = e.provider
    WHERE e.patient IS NOT NULL AND coalesce(e.status, '') NOT IN ('planned', 'cancelled', 'entered-in-error')
      AND {e_start_day} >= %(start)s AND {e_start_day} < %(end)s
)
SELECT fac.facility_code AS key, fac.name AS label,
       count(seen.patient) FILTER (WHERE p.cccd IS NULL OR p.cccd = '') AS numerator,
       count(seen.patient) AS denominator
FROM fac
LEFT JOIN seen ON seen.provider = fac.id
LEFT JOIN {ind_patient} p ON p.id = seen.patient
GROUP BY fac.facility_code, fac.name
HAVING count(seen.patient) > 0
ORDER BY fac.facility_code
