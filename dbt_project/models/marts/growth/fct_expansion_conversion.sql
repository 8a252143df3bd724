-- One row per calendar quarter × size segment, from the first quarter with MRR to the
-- night's (which is partial until its last day has passed):
--   expansion conversion = starting customers with an `expansion` movement in the quarter
--                          ÷ starting customers (MRR > 0 in the month before the quarter)
--   expansion share      = expansion MRR ÷ (new + expansion MRR) booked in the quarter
-- Both are NULL when their denominator is 0 (no starting customers; nothing booked).
-- Segment is the customer's current one; every segment has a row every quarter.
with mrr as (
    select * from {{ ref('fct_mrr') }}
),

customers as (
    select
        customer_id,
        size_segment
    from {{ ref('dim_customers') }}
),

quarters as (
    select quarter_spine.quarter_start::date as quarter_start
    from generate_series(
        (select date_trunc('quarter', min(mrr.revenue_month)) from mrr),
        date_trunc('quarter', {{ as_of_date() }}),
        interval '3 months'
    ) as quarter_spine (quarter_start)
),

segments as (
    select distinct size_segment from customers
),

segment_months as (
    select
        mrr.customer_id,
        mrr.revenue_month,
        date_trunc('quarter', mrr.revenue_month)::date as quarter_start,
        mrr.mrr_usd,
        mrr.mrr_change_usd,
        mrr.movement,
        customers.size_segment
    from mrr
    inner join customers on mrr.customer_id = customers.customer_id
),

starting_customers as (
    -- Active in the last month of a quarter: a starting customer of the next one.
    select
        customer_id,
        size_segment,
        (revenue_month + interval '1 month')::date as quarter_start
    from segment_months
    where mrr_usd > 0 and extract(month from revenue_month) in (3, 6, 9, 12)
),

expanded_customers as (
    select distinct
        customer_id,
        quarter_start
    from segment_months
    where movement = 'expansion'
),

conversions as (
    select
        starting_customers.size_segment,
        starting_customers.quarter_start,
        count(*) as starting_customers,
        count(expanded_customers.customer_id) as expanded_customers
    from starting_customers
    left join expanded_customers
        on
            starting_customers.customer_id = expanded_customers.customer_id
            and starting_customers.quarter_start = expanded_customers.quarter_start
    group by starting_customers.size_segment, starting_customers.quarter_start
),

bookings as (
    select
        size_segment,
        quarter_start,
        sum(mrr_usd) filter (where movement = 'new') as new_mrr,
        sum(mrr_change_usd) filter (where movement = 'expansion') as expansion_mrr
    from segment_months
    group by size_segment, quarter_start
),

quarter_segments as (
    select
        quarters.quarter_start,
        segments.size_segment,
        coalesce(conversions.starting_customers, 0) as starting_customers,
        coalesce(conversions.expanded_customers, 0) as expanded_customers,
        coalesce(bookings.new_mrr, 0) as new_mrr,
        coalesce(bookings.expansion_mrr, 0) as expansion_mrr
    from quarters
    cross join segments
    left join conversions
        on
            quarters.quarter_start = conversions.quarter_start
            and segments.size_segment = conversions.size_segment
    left join bookings
        on
            quarters.quarter_start = bookings.quarter_start
            and segments.size_segment = bookings.size_segment
)

select
    (to_char(quarter_start, 'YYYY-"Q"Q') || ':' || size_segment)::text as quarter_segment_id,
    quarter_start::date as quarter_start_date,
    to_char(quarter_start, 'YYYY-"Q"Q')::text as quarter,
    size_segment::text as size_segment,
    ((quarter_start + interval '3 months')::date - 1 <= {{ as_of_date() }})::boolean as is_complete,
    starting_customers::bigint as starting_customers,
    expanded_customers::bigint as expanded_customers,
    round(expanded_customers::numeric / nullif(starting_customers, 0), 4)::numeric(6, 4)
        as expansion_conversion_ratio,
    new_mrr::numeric(14, 2) as new_mrr_usd,
    expansion_mrr::numeric(14, 2) as expansion_mrr_usd,
    round(expansion_mrr / nullif(new_mrr + expansion_mrr, 0), 4)::numeric(6, 4)
        as expansion_share_of_bookings_ratio
from quarter_segments
