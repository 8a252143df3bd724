-- One row per customer and day with an active subscription, up to the night being built:
-- the health score, its band and what moved it, as core.int_customer_health_scored keeps
-- them. Copied into the run's build schema so the publish swaps it in with the other marts
-- (a failed night leaves yesterday's published whole); the scoring itself is incremental.
select
    customer_id,
    health_date,
    health_score,
    health_band,
    previous_health_band,
    is_band_drop,
    health_score_change_7d,
    health_score_change_30d,
    top_driver_1,
    top_driver_1_change,
    top_driver_2,
    top_driver_2_change,
    weakest_component,
    usage_depth_score,
    usage_trend_score,
    adoption_score,
    sentiment_score,
    support_score,
    billing_score,
    is_usage_depth_neutral,
    is_usage_trend_neutral,
    is_sentiment_neutral,
    licensed_seats,
    active_users_30d,
    events_30d,
    events_28d,
    events_prior_28d,
    products_owned,
    products_used_30d,
    nps_180d_score,
    nps_respondents_180d,
    open_urgent_tickets,
    open_other_tickets,
    csat_90d_score,
    overdue_invoices
from {{ ref('int_customer_health_scored') }}
where health_date <= {{ as_of_date() }}
