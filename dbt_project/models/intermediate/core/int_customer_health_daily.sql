-- One row per customer and day with an active subscription item: the measures behind each
-- health component and the component scores 0–100. A component without data is NULL
-- here; int_customer_health_scored fills the seed's neutral value and raises a flag. Weights
-- and bands are applied there too, so changing the seeds rescores the whole history
-- without rebuilding this table. Incremental in `core`, rebuilding only tonight's window.
{{ config(
    materialized='incremental',
    schema='core',
    incremental_strategy='append',
    pre_hook="{{ delete_incremental_window('health_date') }}",
    indexes=[{'columns': ['health_date']}],
) }}
{%- set window_start = incremental_window_start('health_date') %}

with bounds as (
    {%- if window_start is none %}
        select min(usage_date) as first_day
        from {{ ref('int_usage_daily') }}
    {%- else %}
        select date '{{ window_start }}' as first_day
    {%- endif %}
),

health_days as (
    select days.day::date as health_date
    from bounds
    cross join
        lateral generate_series(
            bounds.first_day, {{ as_of_date() }}, interval '1 day'
        ) as days (day)
),

usage_daily as (
    select * from {{ ref('int_usage_daily') }}
    where usage_date between (select bounds.first_day from bounds) - 59 and {{ as_of_date() }}
),

items as (
    select * from {{ ref('int_subscription_items_normalized') }}
),

products as (
    select * from {{ ref('stg_billing__products') }}
),

responses as (
    select * from {{ ref('stg_nps__responses') }}
),

tickets as (
    select * from {{ ref('stg_support__tickets') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

ownership as (
    select
        health_days.health_date,
        items.customer_id,
        max(items.quantity) filter (where products.pricing_unit = 'seat') as licensed_seats,
        count(distinct items.product_id) as products_owned
    from health_days
    inner join items on {{ item_active_on('health_days.health_date') }}
    inner join products on items.product_id = products.product_id
    group by health_days.health_date, items.customer_id
),

usage_windows as (
    select
        health_days.health_date,
        usage_daily.customer_id,
        sum(usage_daily.events) filter (
            where usage_daily.usage_date > health_days.health_date - 30
        ) as events_30d,
        -- The trend compares whole weeks (28 days each) so the number of weekends in
        -- the window does not make the score wobble from day to day.
        sum(usage_daily.events) filter (
            where usage_daily.usage_date > health_days.health_date - 28
        ) as events_28d,
        sum(usage_daily.events) filter (
            where usage_daily.usage_date between health_days.health_date - 55 and health_days.health_date - 28
        ) as events_prior_28d,
        count(distinct usage_daily.product_id) filter (
            where usage_daily.usage_date > health_days.health_date - 30
        ) as products_used_30d
    from health_days
    inner join usage_daily
        on usage_daily.usage_date between health_days.health_date - 59 and health_days.health_date
    group by health_days.health_date, usage_daily.customer_id
),

-- Distinct 30-day active users without a 30-day self-join: each active day covers the 30
-- days starting on it; a user's active days fewer than 31 days apart form one run of
-- coverage, which adds 1 on its first day and removes it 30 days after its last.
-- Not materialized: each of the two reads below keeps only its own days.
user_unnested as not materialized (
    select
        usage_daily.customer_id,
        active_users.user_id,
        usage_daily.usage_date
    from usage_daily
    cross join lateral unnest(usage_daily.active_user_ids) as active_users (user_id)
    where usage_daily.usage_date >= (select bounds.first_day from bounds) - 29
),

-- Of the 29 days before the first health day only a user's latest active day can still
-- cover one, so the earlier ones are left out: a night sorts its window's user days, not a
-- month of them (the counts are the same).
user_days as (
    select distinct
        customer_id,
        user_id,
        usage_date
    from user_unnested
    where usage_date >= (select bounds.first_day from bounds)
    union all
    select
        customer_id,
        user_id,
        max(usage_date) as usage_date
    from user_unnested
    where usage_date < (select bounds.first_day from bounds)
    group by customer_id, user_id
),

user_day_gaps as (
    select
        customer_id,
        usage_date,
        usage_date - lag(usage_date) over user_days_in_order as days_since_previous,
        lead(usage_date) over user_days_in_order - usage_date as days_until_next
    from user_days
    window user_days_in_order as (partition by customer_id, user_id order by usage_date)
),

coverage_changes as (
    select
        customer_id,
        usage_date as change_date,
        1 as active_user_change
    from user_day_gaps
    where days_since_previous is null or days_since_previous > 30
    union all
    select
        customer_id,
        usage_date + 30 as change_date,
        -1 as active_user_change
    from user_day_gaps
    where days_until_next is null or days_until_next > 30
),

daily_coverage_changes as (
    select
        customer_id,
        change_date,
        sum(active_user_change) as active_user_change
    from coverage_changes
    group by customer_id, change_date
),

coverage_customers as (
    select distinct customer_id from daily_coverage_changes
),

coverage_timeline as (
    select
        customer_id,
        change_date as timeline_date,
        active_user_change,
        false as is_health_day
    from daily_coverage_changes
    union all
    select
        coverage_customers.customer_id,
        health_days.health_date,
        0 as active_user_change,
        true as is_health_day
    from coverage_customers
    cross join health_days
),

running_active_users as (
    select
        customer_id,
        timeline_date,
        is_health_day,
        sum(active_user_change) over (
            partition by customer_id order by timeline_date
        ) as active_users_30d
    from coverage_timeline
),

active_users as (
    select
        customer_id,
        timeline_date as health_date,
        active_users_30d
    from running_active_users
    where is_health_day
),

-- Respondents weigh equally: each user's latest response in the 180 days counts once.
latest_responses as (
    select distinct on (health_days.health_date, responses.customer_id, responses.user_id)
        health_days.health_date,
        responses.customer_id,
        responses.nps_category
    from health_days
    inner join responses
        on responses.responded_date between health_days.health_date - 179 and health_days.health_date
    order by
        health_days.health_date asc,
        responses.customer_id asc,
        responses.user_id asc,
        responses.responded_at desc,
        responses.response_id desc
),

nps as (
    select
        health_date,
        customer_id,
        count(*) as nps_respondents_180d,
        100.0 * (
            count(*) filter (where nps_category = 'promoter')
            - count(*) filter (where nps_category = 'detractor')
        ) / count(*) as nps_180d
    from latest_responses
    group by health_date, customer_id
),

support as (
    select
        health_days.health_date,
        tickets.customer_id,
        count(*) filter (
            where
            tickets.priority = 'urgent'
            and (tickets.closed_at is null or tickets.closed_at::date > health_days.health_date)
        ) as open_urgent_tickets,
        count(*) filter (
            where
            tickets.priority <> 'urgent'
            and (tickets.closed_at is null or tickets.closed_at::date > health_days.health_date)
        ) as open_other_tickets,
        avg(tickets.csat_score) filter (
            where tickets.closed_at::date between health_days.health_date - 89 and health_days.health_date
        ) as csat_90d
    from health_days
    inner join tickets
        on
            tickets.opened_at::date <= health_days.health_date
            and (
                tickets.closed_at is null
                or tickets.closed_at::date > health_days.health_date - 90
            )
    group by health_days.health_date, tickets.customer_id
),

billing as (
    select
        health_days.health_date,
        invoices.customer_id,
        count(*) as overdue_invoices
    from health_days
    inner join invoices
        on
            health_days.health_date > invoices.due_date
            and invoices.invoice_status <> 'void'
            and (invoices.paid_date is null or health_days.health_date < invoices.paid_date)
    group by health_days.health_date, invoices.customer_id
),

measures as (
    select
        ownership.customer_id,
        ownership.health_date,
        ownership.licensed_seats,
        ownership.products_owned,
        coalesce(active_users.active_users_30d, 0) as active_users_30d,
        coalesce(usage_windows.events_30d, 0) as events_30d,
        coalesce(usage_windows.events_28d, 0) as events_28d,
        coalesce(usage_windows.events_prior_28d, 0) as events_prior_28d,
        coalesce(usage_windows.products_used_30d, 0) as products_used_30d,
        nps.nps_180d,
        coalesce(nps.nps_respondents_180d, 0) as nps_respondents_180d,
        coalesce(support.open_urgent_tickets, 0) as open_urgent_tickets,
        coalesce(support.open_other_tickets, 0) as open_other_tickets,
        support.csat_90d,
        coalesce(billing.overdue_invoices, 0) as overdue_invoices
    from ownership
    left join usage_windows
        on
            ownership.customer_id = usage_windows.customer_id
            and ownership.health_date = usage_windows.health_date
    left join active_users
        on
            ownership.customer_id = active_users.customer_id
            and ownership.health_date = active_users.health_date
    left join nps
        on
            ownership.customer_id = nps.customer_id
            and ownership.health_date = nps.health_date
    left join support
        on
            ownership.customer_id = support.customer_id
            and ownership.health_date = support.health_date
    left join billing
        on
            ownership.customer_id = billing.customer_id
            and ownership.health_date = billing.health_date
)

-- Scores are kept to two decimals: precise enough for any weighting, stable to compare.
select
    measures.customer_id,
    measures.health_date,
    measures.licensed_seats,
    measures.products_owned,
    measures.active_users_30d,
    measures.events_30d,
    measures.events_28d,
    measures.events_prior_28d,
    measures.products_used_30d,
    round(measures.nps_180d, 1) as nps_180d,
    measures.nps_respondents_180d,
    measures.open_urgent_tickets,
    measures.open_other_tickets,
    round(measures.csat_90d, 2) as csat_90d,
    measures.overdue_invoices,
    round({{ clamp_score('100.0 * active_users_30d / nullif(licensed_seats, 0)') }}, 2)
        as usage_depth_score,
    round({{ clamp_score('70 + 100.0 * (events_28d::numeric / nullif(events_prior_28d, 0) - 1)') }}, 2)
        as usage_trend_score,
    round({{ clamp_score(
        '100.0 * products_used_30d / products_owned'
        ~ ' + case when products_owned > 1 and products_used_30d > 1 then 10 else 0 end'
    ) }}, 2) as adoption_score,
    round((measures.nps_180d + 100) / 2.0, 2) as sentiment_score,
    round({{ clamp_score(
        '100 - 30 * open_urgent_tickets - 10 * least(open_other_tickets, 3)'
        ~ ' + coalesce((csat_90d - 4) * 10, 0)'
    ) }}, 2) as support_score,
    round({{ clamp_score('100 - 50 * overdue_invoices') }}, 2) as billing_score
from measures
