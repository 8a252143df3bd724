-- One row per size segment per product: customers not owning the product and the MRR they
-- would add at list price. No rollup rows: the columns add up over segments.
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
        customers.size_segment,
        white_space.product_id,
        count(*) as customers_without_product,
        sum(white_space.potential_mrr_usd) as potential_mrr
    from white_space
    inner join customers on white_space.customer_id = customers.customer_id
    group by customers.size_segment, white_space.product_id
)

select
    (size_segment || ':' || product_id)::text as segment_product_id,
    size_segment::text as size_segment,
    product_id::text as product_id,
    customers_without_product::bigint as customers_without_product,
    potential_mrr::numeric(14, 2) as potential_mrr_usd
from totals
