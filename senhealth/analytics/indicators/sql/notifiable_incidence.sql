-- notifiable-incidence 1.0.0: notifiable-disease cases of the period in the province per disease (the
-- surveillance series, kept by the case writer from the case reports: docs/surveillance.md; a case counts
-- on its case date in the commune of the patient's home) over the province's population of the period's
-- year (configured, else the sum of its communes'); value = cases per 100,000.
WITH counted AS (
    SELECT disease, sum(cases)::bigint AS cases, sum(confirmed)::bigint AS confirmed, sum(deaths)::bigint AS deaths
    FROM surveillance_count_day
    WHERE province = %(province)s AND day >= %(start)s AND day < %(end)s
    GROUP BY disease
),
pop AS (
    SELECT coalesce(
        (SELECT population FROM surveillance_population
          WHERE area = %(province)s AND level = 'province' AND year = %(year)s),
        (SELECT sum(population) FROM surveillance_population
          WHERE province = %(province)s AND level = 'commune' AND year = %(year)s)
    )::bigint AS population
)
SELECT counted.disease AS key, counted.disease AS label, counted.cases AS numerator,
       pop.population AS denominator, counted.confirmed, counted.deaths
FROM counted CROSS JOIN pop
WHERE counted.cases > 0
ORDER BY counted.disease
