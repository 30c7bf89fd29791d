-- telemedicine-volume 1.0.0: per facility of the province, the period's virtual encounters (class VR,
-- by their start) plus its telehealth appointments (Appointments whose service type, appointment type or
-- category says VR / telehealth / teleconsultation / video; booked, checked in, arrived or fulfilled; by
-- their start) at a Location the facility manages.
WITH fac AS (
    SELECT id, facility_code, name FROM {ind_organization}
    WHERE province = %(province)s AND facility_code IS NOT NULL
),
v AS (
    SELECT e.provider AS org, count(*) AS n
    FROM {ind_encounter} e
    WHERE e.class = 'VR' AND coalesce(e.status, '') NOT IN ('planned', 'cancelled', 'entered-in-error')
      AND {e_start_day} >= %(start)s AND {e_start_day} < %(end)s
    GROUP BY 1
),
a AS (
    SELECT l.organization AS org, count(*) AS n
    FROM {ind_appointment} a JOIN {ind_location} l ON l.id = a.location
    WHERE a.status IN ('booked', 'checked-in', 'arrived', 'fulfilled')
      AND (a.start AT TIME ZONE 'Asia/Ho_Chi_Minh')::date >= %(start)s
      AND (a.start AT TIME ZONE 'Asia/Ho_Chi_Minh')::date < %(end)s
    GROUP BY 1
)
SELECT fac.facility_code AS key, fac.name AS label,
       coalesce(v.n, 0) + coalesce(a.n, 0) AS numerator, NULL::bigint AS denominator,
       coalesce(v.n, 0) AS virtual_encounters, coalesce(a.n, 0) AS appointments
FROM fac LEFT JOIN v ON v.org = fac.id LEFT JOIN a ON a.org = fac.id
WHERE coalesce(v.n, 0) + coalesce(a.n, 0) > 0
ORDER BY fac.facility_code
