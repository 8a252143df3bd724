-- One row per customer per month from the customer's first active month to its last,
-- gap months included with MRR 0, plus one churn row (MRR 0) the month after the last
-- active month when that month has begun. Movement: first match wins, in this order:
-- new, churn, reactivation, expansion, contraction, inactive (0 → 0), retained.
-- An expansion splits into cross-sell (MRR of products not owned the month before, capped
-- at the net expansion) and upsell (the rest: more of products already owned).
with active_months as (
    select * from {{ ref('int_mrr_aggregated_to_customer_month') }}
),

product_months as (
    select * from {{ ref('int_mrr_aggregated_to_customer_product_month') }}
),

new_products as (
    select
        this_month.customer_id,
        this_month.month_start,
        sum(this_month.mrr_usd) as new_product_mrr
    from product_months as this_month
    left join product_months as last_month
        on
            this_month.customer_id = last_month.customer_id
            and this_month.product_id = last_month.product_id
            and last_month.month_start = (this_month.month_start - interval '1 month')::date
    where last_month.product_id is null
    group by this_month.customer_id, this_month.month_start
),

customer_spans as (
    select
        customer_id,
        min(month_start) as first_active_month,
        least(
            max(month_start) + interval '1 month',
            date_trunc('month', {{ as_of_date() }})
        )::date as last_spine_month
    from active_months
    group by customer_id
),

spine as (
    select
        customer_spans.customer_id,
        month_start::date as month_start
    from customer_spans
    cross join lateral generate_series(
        customer_spans.first_active_month, customer_spans.last_spine_month, interval '1 month'
    ) as month_start
),

monthly as (
    select
        spine.customer_id,
        spine.month_start,
        coalesce(active_months.mrr_usd, 0) as mrr,
        coalesce(active_months.products_count, 0) as products_count,
        coalesce(new_products.new_product_mrr, 0) as new_product_mrr
    from spine
    left join active_months
        on
            spine.customer_id = active_months.customer_id
            and spine.month_start = active_months.month_start
    left join new_products
        on
            spine.customer_id = new_products.customer_id
            and spine.month_start = new_products.month_start
),

with_previous as (
    select
        monthly.*,
        coalesce(lag(monthly.mrr) over by_month, 0) as previous_mrr,
        row_number() over by_month = 1 as is_first_month
    from monthly
    window by_month as (partition by customer_id order by month_start)
),

classified as (
    select
        *,
        case
            when is_first_month then 'new'
            when mrr = 0 and previous_mrr > 0 then 'churn'
            when mrr > 0 and previous_mrr = 0 then 'reactivation'
            when mrr > previous_mrr then 'expansion'
            when mrr < previous_mrr then 'contraction'
            when mrr = 0 then 'inactive'
            else 'retained'
        end as movement
    from with_previous
)

select
    (customer_id || ':' || to_char(month_start, 'YYYY-MM'))::text as customer_month_id,
    customer_id::text as customer_id,
    month_start::date as revenue_month,
    mrr::numeric(14, 2) as mrr_usd,
    previous_mrr::numeric(14, 2) as previous_mrr_usd,
    (mrr - previous_mrr)::numeric(14, 2) as mrr_change_usd,
    movement::text as movement,
    (case
        when movement = 'expansion' then mrr - previous_mrr - least(new_product_mrr, mrr - previous_mrr)
        else 0
    end)::numeric(14, 2) as upsell_mrr_usd,
    (case
        when movement = 'expansion' then least(new_product_mrr, mrr - previous_mrr)
        else 0
    end)::numeric(14, 2) as cross_sell_mrr_usd,
    products_count::bigint as products_count
from classified
