-- One row per size segment per product (plus an 'all' segment): customers not owning the
-- product and the MRR they would add at list price.
with white_space as (
    select * from {{ ref('fct_white_space') }}
),

customers as (
    select
        customer_id,
        size_segment
    from {{ ref('dim_customers') }}
),

totals as (
    select
        coalesce(customers.size_segment, 'all') as segment,
        white_space.product_id,
        count(*) as customers_without_product,
        sum(white_space.potential_mrr) as potential_mrr
    from white_space
    inner join customers on white_space.customer_id = customers.customer_id
    group by grouping sets ((customers.size_segment, white_space.product_id), (white_space.product_id))
)

select
    (segment || ':' || product_id)::text as segment_product_id,
    segment::text as segment,
    product_id::text as product_id,
    customers_without_product::bigint as customers_without_product,
    potential_mrr::numeric(14, 2) as potential_mrr
from totals
