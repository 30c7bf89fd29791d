-- visits-by-level 1.0.0: encounters of the period (by their start; not planned, cancelled or entered in
-- error) at the province's facilities, by level of care (commune station, regional hospital, provincial
-- hospital, other: from the facility's type) and by class (outpatient, emergency, inpatient, virtual).
WITH fac AS (
    SELECT id,
           CASE WHEN type_text LIKE 'Trạm%%' THEN 'commune'
                WHEN type_text LIKE '%%khu vực%%' THEN 'regional'
                WHEN type_text LIKE '%%tỉnh%%' OR type_text LIKE '%%trung ương%%' THEN 'provincial'
                ELSE 'other' END AS level
    FROM {ind_organization}
    WHERE province = %(province)s AND facility_code IS NOT NULL
),
enc AS (
    SELECT fac.level, e.class
    FROM {ind_encounter} e JOIN fac ON fac.id = e.provider
    WHERE coalesce(e.status, '') NOT IN ('planned', 'cancelled', 'entered-in-error')
      AND {e_start_day} >= %(start)s AND {e_start_day} < %(end)s
)
SELECT level AS key, level AS label, count(*) AS numerator, NULL::bigint AS denominator,
       count(*) FILTER (WHERE class NOT IN ('EMER', 'IMP', 'ACUTE', 'NONAC', 'VR') OR class IS NULL) AS outpatient,
       count(*) FILTER (WHERE class = 'EMER') AS emergency,
       count(*) FILTER (WHERE class IN ('IMP', 'ACUTE', 'NONAC')) AS inpatient,
       count(*) FILTER (WHERE class = 'VR') AS virtual
FROM enc
GROUP BY level
ORDER BY array_position(ARRAY['commune', 'regional', 'provincial', 'other'], level)
