-- One row per customer active on the night being built: tonight's row of
-- fct_customer_health_daily (score, band, 7/30-day change, top two drivers) plus how
-- fresh each source is, so a red score caused by a missing file is recognisable as such.
with tonight as (
    select * from {{ ref('fct_customer_health_daily') }}
    where health_date = {{ as_of_date() }}
),

usage_daily as not materialized (
    select * from {{ ref('int_usage_daily') }}
),

freshness as (
    select
        max(loaded_through) filter (where source = 'billing') as billing_loaded_through,
        max(loaded_through) filter (where source = 'usage') as usage_loaded_through,
        max(loaded_through) filter (where source = 'nps') as nps_loaded_through,
        max(loaded_through) filter (where source = 'support') as support_loaded_through
    from {{ ref('stg_ops__source_freshness') }}
),

-- Each of tonight's customers' last day with usage, read backwards from int_usage_daily's
-- (customer_id, usage_date) index: a few index pages a customer instead of a pass over the
-- whole usage history.
last_usage as (
    select
        tonight.customer_id,
        usage_days.last_usage_date
    from tonight
    cross join lateral (
        select max(usage_daily.usage_date) as last_usage_date
        from usage_daily
        where
            usage_daily.customer_id = tonight.customer_id
            and usage_daily.usage_date <= {{ as_of_date() }}
    ) as usage_days
)

select
    tonight.customer_id,
    tonight.health_date,
    tonight.health_score,
    tonight.health_band,
    tonight.previous_health_band,
    tonight.health_score_change_7d,
    tonight.health_score_change_30d,
    tonight.top_driver_1,
    tonight.top_driver_1_change,
    tonight.top_driver_2,
    tonight.top_driver_2_change,
    tonight.weakest_component,
    tonight.usage_depth_score,
    tonight.usage_trend_score,
    tonight.adoption_score,
    tonight.sentiment_score,
    tonight.support_score,
    tonight.billing_score,
    tonight.is_usage_depth_neutral,
    tonight.is_usage_trend_neutral,
    tonight.is_sentiment_neutral,
    tonight.licensed_seats,
    tonight.active_users_30d,
    tonight.products_owned,
    tonight.products_used_30d,
    tonight.events_30d,
    tonight.nps_180d_score,
    tonight.nps_respondents_180d,
    tonight.open_urgent_tickets,
    tonight.overdue_invoices,
    last_usage.last_usage_date,
    coalesce(freshness.billing_loaded_through >= {{ as_of_date() }}, false) as is_billing_fresh,
    coalesce(freshness.usage_loaded_through >= {{ as_of_date() }}, false) as is_usage_fresh,
    coalesce(freshness.nps_loaded_through >= {{ as_of_date() }}, false) as is_nps_fresh,
    coalesce(freshness.support_loaded_through >= {{ as_of_date() }}, false) as is_support_fresh
from tonight
cross join freshness
left join last_usage on tonight.customer_id = last_usage.customer_id
