-- dq-pending-duplicates 1.0.0: per commune of the province (the home address of the pair's first record),
-- the candidate duplicate pairs of the patient index still waiting for a human decision (mpi_review
-- status open, docs/mpi.md) now, whatever the period / the patients living in the commune.
WITH people AS (
    SELECT coalesce(commune, '') AS commune, count(*) AS n
    FROM {ind_patient} WHERE province = %(province)s AND NOT coalesce(linked, false)
    GROUP BY 1
),
pending AS (
    SELECT coalesce(p.commune, '') AS commune, count(*) AS n
    FROM mpi_review r JOIN {ind_patient} p ON p.id = r.patient_a
    WHERE r.status = 'open' AND p.province = %(province)s
    GROUP BY 1
)
SELECT people.commune AS key, people.commune AS label,
       coalesce(pending.n, 0) AS numerator, people.n AS denominator
FROM people LEFT JOIN pending ON pending.commune = people.commune
WHERE coalesce(pending.n, 0) > 0
ORDER BY people.commune
