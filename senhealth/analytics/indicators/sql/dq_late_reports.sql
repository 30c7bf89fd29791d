-- dq-late-reports 1.0.0: per notifiable disease, the province's case reports whose case date falls in the
-- period (active cases, docs/surveillance.md) that were notified after their legal deadline (24 h, 48 h or
-- weekly: Circular 54/2015), or are still not notified once it has passed / all those case reports.
SELECT disease AS key, disease AS label,
       count(*) FILTER (WHERE coalesce(reported_at, %(now)s) > deadline_at) AS numerator,
       count(*) AS denominator,
       count(*) FILTER (WHERE reported_at IS NULL AND %(now)s > deadline_at) AS not_reported
FROM surveillance_case
WHERE status = 'active' AND province = %(province)s AND case_date >= %(start)s AND case_date < %(end)s
GROUP BY disease
ORDER BY disease
