-- One row per customer per month in which the customer had recurring revenue.
with product_months as (
    select * from {{ ref('int_mrr_aggregated_to_customer_product_month') }}
)

select
    customer_id,
    month_start,
    sum(mrr_usd) as mrr_usd,
    count(*) as products_count
from product_months
group by customer_id, month_start
