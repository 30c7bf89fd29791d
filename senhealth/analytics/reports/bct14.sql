-- Form 14/BCT (monthly morbidity and mortality by ICD-10 chapter), definition 1.0.0: docs/reports-14bct.md.
-- A case is an encounter at a facility of the province (not planned, cancelled or entered in error):
-- outpatient (every class but inpatient) on the day it starts, inpatient (IMP, ACUTE, NONAC; finished) on
-- the day it ends (discharge), both in Viet Nam time. Its diagnosis is the principal one (the
-- Condition of Encounter.diagnosis ranked 1, else the first), else the first ICD-10 reasonCode; its chapter
-- from the code's first three characters. A death is a counted encounter discharged as expired
-- (discharge-disposition "exp"). Ages at the counting day, from Patient.birthDate.
WITH fac AS (
    SELECT id FROM {ind_organization} WHERE province = %(province)s
),
chapters(chapter, low, high) AS (
    SELECT * FROM unnest(%(chapters)s::text[], %(lows)s::text[], %(highs)s::text[])
),
enc AS (
    SELECT e.id, e.patient, e.status, coalesce(e.discharge, '') = 'exp' AS died,
           coalesce(e.class IN ('IMP', 'ACUTE', 'NONAC'), false) AS inpatient,
           CASE WHEN e.class IN ('IMP', 'ACUTE', 'NONAC') THEN {e_end_day} ELSE {e_start_day} END AS day,
           upper(coalesce(c.icd, e.reason_icd)) AS icd
    FROM {ind_encounter} e
    JOIN fac ON fac.id = e.provider
    LEFT JOIN {ind_condition} c ON c.id = e.principal_condition
    WHERE coalesce(e.status, '') NOT IN ('planned', 'cancelled', 'entered-in-error')
),
counted AS (
    SELECT enc.inpatient, enc.died, enc.icd, coalesce(p.gender = 'female', false) AS female,
           CASE WHEN length(p.birth_date) >= 10
                THEN date_part('year', age(enc.day::timestamp, p.birth_date::date::timestamp)) END AS age
    FROM enc LEFT JOIN {ind_patient} p ON p.id = enc.patient
    WHERE enc.day >= %(start)s AND enc.day < %(end)s AND (NOT enc.inpatient OR enc.status = 'finished')
)
SELECT ch.chapter,
       count(*) AS cases,
       count(*) FILTER (WHERE x.female) AS cases_female,
       count(*) FILTER (WHERE NOT x.inpatient) AS outpatient_cases,
       count(*) FILTER (WHERE NOT x.inpatient AND x.female) AS outpatient_female,
       count(*) FILTER (WHERE x.inpatient) AS inpatient_cases,
       count(*) FILTER (WHERE x.inpatient AND x.female) AS inpatient_female,
       count(*) FILTER (WHERE x.died) AS deaths,
       count(*) FILTER (WHERE x.died AND x.female) AS deaths_female,
       count(*) FILTER (WHERE x.died AND x.inpatient) AS inpatient_deaths,
       count(*) FILTER (WHERE x.died AND x.inpatient AND x.female) AS inpatient_deaths_female,
       count(*) FILTER (WHERE x.age < 15) AS children_u15_cases,
       count(*) FILTER (WHERE x.age < 5) AS children_u5_cases,
       count(*) FILTER (WHERE x.died AND x.age < 15) AS children_u15_deaths,
       count(*) FILTER (WHERE x.died AND x.age < 5) AS children_u5_deaths
FROM counted x
LEFT JOIN chapters ch ON left(x.icd, 3) BETWEEN ch.low AND ch.high
GROUP BY ch.chapter
