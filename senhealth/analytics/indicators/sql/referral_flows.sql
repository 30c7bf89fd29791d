-- referral-flows 1.0.0: referrals (ServiceRequests of category referral, SNOMED CT 3457005, authored in
-- the period; not draft, revoked or entered in error) from a facility (the requester Organization, else
-- the referring encounter's service provider) to a facility (the first performer Organization), where
-- either end is in the province.
WITH r AS (
    SELECT r.id, coalesce(r.requester_org, e.provider) AS from_org, r.performer_org AS to_org, r.telehealth
    FROM {ind_referral} r LEFT JOIN {ind_encounter} e ON e.id = r.encounter
    WHERE coalesce(r.status, '') NOT IN ('draft', 'revoked', 'entered-in-error')
      AND {r_day} >= %(start)s AND {r_day} < %(end)s
)
SELECT coalesce(f.facility_code, '') || '>' || coalesce(t.facility_code, '') AS key,
       coalesce(f.name, '?') || ' → ' || coalesce(t.name, '?') AS label,
       count(*) AS numerator, NULL::bigint AS denominator,
       f.facility_code AS from_facility, t.facility_code AS to_facility,
       count(*) FILTER (WHERE r.telehealth) AS telehealth
FROM r
LEFT JOIN {ind_organization} f ON f.id = r.from_org
LEFT JOIN {ind_organization} t ON t.id = r.to_org
WHERE f.province = %(province)s OR t.province = %(province)s
GROUP BY 1, 2, f.facility_code, t.facility_code
ORDER BY 3 DESC, 1
