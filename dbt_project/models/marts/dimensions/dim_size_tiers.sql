-- One row per size tier and dimension it is measured on (employees for size_segment, ARR
-- for arr_tier): the lowest value of the tier (segment_thresholds seed).
select
    (dimension || ':' || tier)::text as size_tier_id,
    dimension::text as dimension,
    tier::text as tier,
    min_value::numeric as min_value
from {{ ref('segment_thresholds') }}
