-- One row per customer, product and day with usage: active users (and who they were),
-- events, summed quantity and distinct features. Incremental in the persistent `core`
-- schema: a night rebuilds only its window (see incremental_window_start). It reads the
-- raw events itself, filtered to the window's files before the latest-version dedupe,
-- because the staging view dedupes the whole history and would make every night cost
-- the history instead of the window. Events are read from files dated up to one day
-- before the window (ingest accepts events up to a day after their file's date).
{{ config(
    materialized='incremental',
    schema='core',
    incremental_strategy='append',
    pre_hook="{{ delete_incremental_window('usage_date') }}",
    indexes=[{'columns': ['usage_date']}],
    post_hook={"sql": "{{ ensure_index('int_usage_daily_customer_day', ['customer_id', 'usage_date']) }}", "transaction": false},
) }}
{%- set first_day = incremental_first_day('usage_date') %}

with events as (
    {{ latest_version(
        source('usage', 'events'),
        'event_id',
        since=first_day ~ " - 1",
    ) }}
),

events_in_window as (
    select
        customer_id,
        product_id,
        user_id,
        feature,
        quantity,
        occurred_at::date as usage_date
    from events
    where occurred_at::date between {{ first_day }} and {{ as_of_date() }}
)

select
    customer_id,
    product_id,
    usage_date,
    count(distinct user_id) as active_users,
    array_agg(distinct user_id order by user_id) as active_user_ids,
    count(*) as events,
    sum(quantity) as usage_quantity,
    count(distinct feature) as distinct_features
from events_in_window
group by customer_id, product_id, usage_date
