-- One row per customer active on the night being built: the weighted health score, its
-- band and every component behind it.
with scored as (
    select * from {{ ref('int_customer_health_scored') }}
)

select
    customer_id::text as customer_id,
    {{ as_of_date() }} as as_of_date,
    health_score::numeric as health_score,
    health_band::text as health_band,
    weakest_component::text as weakest_component,
    round(usage_depth_score, 1)::numeric as usage_depth_score,
    round(usage_trend_score, 1)::numeric as usage_trend_score,
    round(adoption_score, 1)::numeric as adoption_score,
    round(sentiment_score, 1)::numeric as sentiment_score,
    round(support_score, 1)::numeric as support_score,
    round(billing_score, 1)::numeric as billing_score,
    usage_depth_is_neutral,
    usage_trend_is_neutral,
    sentiment_is_neutral,
    licensed_seats::integer as licensed_seats,
    active_users_30d::bigint as active_users_30d,
    products_owned::bigint as products_owned,
    products_used_30d::bigint as products_used_30d,
    round(nps_180d, 1)::numeric as nps_180d,
    nps_responses_180d::bigint as nps_responses_180d,
    open_urgent_tickets::bigint as open_urgent_tickets,
    overdue_invoices::bigint as overdue_invoices
from scored
