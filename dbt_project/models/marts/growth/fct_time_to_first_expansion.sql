-- One row per size segment × signup cohort: how many customers expanded and how long their
-- first expansion took (months from the first active month), from fct_expansion_outcomes.
-- Quartiles are over customers who expanded; customers who have not (yet) are counted in
-- customers, not in the quartiles, so a young cohort's times are short by construction.
with outcomes as (
    select * from {{ ref('fct_expansion_outcomes') }}
)

select
    (size_segment || ':' || signup_cohort)::text as segment_cohort_id,
    size_segment::text as size_segment,
    signup_cohort::text as signup_cohort,
    count(*)::bigint as customers,
    count(*) filter (where has_expanded)::bigint as expanded_customers,
    round(count(*) filter (where has_expanded)::numeric / count(*), 4)::numeric(6, 4)
        as expanded_ratio,
    percentile_cont(0.25) within group (order by months_to_first_expansion)::numeric(8, 2)
        as months_to_first_expansion_p25,
    percentile_cont(0.5) within group (order by months_to_first_expansion)::numeric(8, 2)
        as months_to_first_expansion_median,
    percentile_cont(0.75) within group (order by months_to_first_expansion)::numeric(8, 2)
        as months_to_first_expansion_p75,
    round(avg(days_to_first_expansion), 1)::numeric(8, 1) as days_to_first_expansion_avg
from outcomes
group by size_segment, signup_cohort
