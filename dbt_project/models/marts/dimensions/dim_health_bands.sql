-- One row per health band: the scores it covers, from its floor (health_bands seed) up to,
-- not including, the next band's floor, and its rank (1 = best) to sort bands in BI.
with bands as (
    select * from {{ ref('health_bands') }}
)

select
    band::text as health_band,
    min_score::numeric as min_score,
    lead(min_score) over (order by min_score asc)::numeric as below_score,
    (row_number() over (order by min_score desc))::integer as band_rank
from bands
