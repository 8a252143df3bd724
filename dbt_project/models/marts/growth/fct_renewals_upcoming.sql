-- One row per annual subscription item renewing within the renewal window (growth_settings,
-- default 90 days) of the night being built: ARR at stake, health, NPS and what to do:
-- fix_before_renewal (health below green or detractor NPS), renew_and_expand (green with an
-- unblocked opportunity), renew otherwise.
with items as (
    select * from {{ ref('int_subscription_items_normalized') }}
    where
        billing_period = 'year'
        and start_date <= {{ as_of_date() }}
        and end_date is null
),

settings as (
    select value as window_days
    from {{ ref('growth_settings') }}
    where setting = 'renewal_window_days'
),

renewals as (
    select
        items.*,
        (
            items.start_date
            + (date_part('year', age({{ as_of_date() }} - 1, items.start_date)) + 1) * interval '1 year'
        )::date as renewal_date
    from items
),

health as (
    select * from {{ ref('dim_customer_health') }}
),

open_opportunities as (
    select distinct customer_id
    from {{ ref('fct_expansion_opportunities') }}
    where not is_blocked
)

select
    renewals.subscription_item_id::text as subscription_item_id,
    renewals.customer_id::text as customer_id,
    renewals.product_id::text as product_id,
    renewals.renewal_date::date as renewal_date,
    (renewals.renewal_date - {{ as_of_date() }})::integer as days_to_renewal,
    (renewals.mrr_usd * 12)::numeric(14, 2) as arr_at_stake_usd,
    health.health_band::text as health_band,
    round(health.nps_180d_score, 1)::numeric as nps_180d_score,
    (case
        when health.health_band <> 'green' or health.nps_180d_score < 0 then 'fix_before_renewal'
        when health.health_band = 'green' and open_opportunities.customer_id is not null
            then 'renew_and_expand'
        else 'renew'
    end)::text as recommended_action
from renewals
cross join settings
left join health on renewals.customer_id = health.customer_id
left join open_opportunities on renewals.customer_id = open_opportunities.customer_id
where renewals.renewal_date <= {{ as_of_date() }} + settings.window_days::integer
