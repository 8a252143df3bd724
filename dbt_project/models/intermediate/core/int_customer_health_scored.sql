-- One row per customer and day with an active subscription, up to the night being built:
-- the weighted health score, its band, the band the day before, the change over 7 and 30
-- days and the two components whose weighted points moved most over 30 days (the "why").
-- Neutral values, weights and bands (seeds) are applied to int_customer_health_daily's
-- measures. Incremental in `core`: a night scores only its window, reading the 30 days
-- before it for the comparisons, so it costs the night, not the history. Every row keeps
-- the fingerprint of the seeds it was scored with; when they change, the next build
-- rescores the whole history. A change to this SQL does not: deploy it with
-- `dbt run --full-refresh --select int_customer_health_scored`. The hooks keep its
-- months as chunks that fct_customer_health_daily publishes (health_history_chunks.sql).
{{ config(
    materialized='incremental',
    schema='core',
    incremental_strategy='append',
    pre_hook="{{ delete_rescored_health_history(health_scoring_fingerprint()) }}",
    post_hook=[
        "{{ write_health_history_chunks(health_history_columns()) }}",
        {"sql": "{{ ensure_index('int_customer_health_scored_band_drop', ['is_band_drop']) }}", "transaction": false},
    ],
    indexes=[
        {'columns': ['health_date']},
        {'columns': ['customer_id', 'health_date'], 'unique': True},
    ],
) }}
{%- set first_day = incremental_first_day('health_date', health_scoring_fingerprint()) %}

with health_daily as (
    select * from {{ ref('int_customer_health_daily') }}
    where health_date between {{ first_day }} - 30 and {{ as_of_date() }}
),

component_weights as (
    select * from {{ ref('health_score_weights') }}
),

bands as (
    select * from {{ ref('health_bands') }}
),

neutral as (
    select
        max(neutral_score) filter (where component = 'usage_depth') as usage_depth,
        max(neutral_score) filter (where component = 'usage_trend') as usage_trend,
        max(neutral_score) filter (where component = 'sentiment') as sentiment
    from component_weights
),

filled as (
    select
        health_daily.*,
        health_daily.usage_depth_score is null as usage_depth_is_neutral,
        health_daily.usage_trend_score is null as usage_trend_is_neutral,
        health_daily.sentiment_score is null as sentiment_is_neutral,
        coalesce(health_daily.usage_depth_score, neutral.usage_depth) as usage_depth_filled,
        coalesce(health_daily.usage_trend_score, neutral.usage_trend) as usage_trend_filled,
        coalesce(health_daily.sentiment_score, neutral.sentiment) as sentiment_filled
    from health_daily
    cross join neutral
),

component_points as (
    select
        filled.customer_id,
        filled.health_date,
        component_scores.component,
        component_scores.score,
        component_scores.score * component_weights.weight as points
    from filled
    cross join
        lateral (
            values
            ('usage_depth', filled.usage_depth_filled),
            ('usage_trend', filled.usage_trend_filled),
            ('adoption', filled.adoption_score),
            ('sentiment', filled.sentiment_filled),
            ('support', filled.support_score),
            ('billing', filled.billing_score)
        ) as component_scores (component, score)
    inner join component_weights on component_scores.component = component_weights.component
),

totals as (
    select
        customer_id,
        health_date,
        round(sum(points), 1) as health_score
    from component_points
    group by customer_id, health_date
),

banded as (
    select
        totals.*,
        band.health_band,
        band.band_floor
    from totals
    cross join
        lateral (
            select
                bands.band as health_band,
                bands.min_score as band_floor
            from bands
            where bands.min_score <= totals.health_score
            order by bands.min_score desc
            limit 1
        ) as band
),

-- The day before, a week and 30 days before, read by window frames rather than self-joins:
-- a night's window is small, and the planner's estimate for it chose nested loops over
-- the whole 30-day input (24 s at SF 1 for four days).
score_history as (
    select
        banded.*,
        lag(banded.health_date) over customer_days as previous_health_date,
        lag(banded.health_band) over customer_days as previous_health_band,
        lag(banded.band_floor) over customer_days as previous_band_floor,
        max(banded.health_score) over (
            customer_days range between interval '7 days' preceding and interval '7 days' preceding
        ) as week_ago_score,
        max(banded.health_score) over (
            customer_days range between interval '30 days' preceding and interval '30 days' preceding
        ) as month_ago_score
    from banded
    window customer_days as (partition by banded.customer_id order by banded.health_date)
),

weakest as (
    select distinct on (customer_id, health_date)
        customer_id,
        health_date,
        component as weakest_component
    from component_points
    order by customer_id asc, health_date asc, score asc, component asc
),

moves as (
    select
        current_points.customer_id,
        current_points.health_date,
        current_points.component,
        round(current_points.points - month_ago_points.points, 1) as points_change_30d,
        row_number() over (
            partition by current_points.customer_id, current_points.health_date
            order by abs(current_points.points - month_ago_points.points) desc, current_points.component
        ) as move_rank
    from component_points as current_points
    inner join component_points as month_ago_points
        on
            current_points.customer_id = month_ago_points.customer_id
            and current_points.component = month_ago_points.component
            and month_ago_points.health_date = current_points.health_date - 30
),

top_moves as (
    select
        customer_id,
        health_date,
        max(component) filter (where move_rank = 1) as top_driver_1,
        max(points_change_30d) filter (where move_rank = 1) as top_driver_1_change,
        max(component) filter (where move_rank = 2) as top_driver_2,
        max(points_change_30d) filter (where move_rank = 2) as top_driver_2_change
    from moves
    where move_rank <= 2
    group by customer_id, health_date
)

select
    filled.customer_id::text as customer_id,
    filled.health_date::date as health_date,
    score_history.health_score::numeric as health_score,
    score_history.health_band::text as health_band,
    case
        when score_history.previous_health_date = filled.health_date - 1
            then score_history.previous_health_band
    end::text as previous_health_band,
    coalesce(
        score_history.previous_health_date = filled.health_date - 1
        and score_history.previous_band_floor > score_history.band_floor,
        false
    ) as is_band_drop,
    (score_history.health_score - score_history.week_ago_score)::numeric as health_score_change_7d,
    (score_history.health_score - score_history.month_ago_score)::numeric as health_score_change_30d,
    top_moves.top_driver_1::text as top_driver_1,
    top_moves.top_driver_1_change::numeric as top_driver_1_change,
    top_moves.top_driver_2::text as top_driver_2,
    top_moves.top_driver_2_change::numeric as top_driver_2_change,
    weakest.weakest_component::text as weakest_component,
    round(filled.usage_depth_filled, 1)::numeric as usage_depth_score,
    round(filled.usage_trend_filled, 1)::numeric as usage_trend_score,
    round(filled.adoption_score, 1)::numeric as adoption_score,
    round(filled.sentiment_filled, 1)::numeric as sentiment_score,
    round(filled.support_score, 1)::numeric as support_score,
    round(filled.billing_score, 1)::numeric as billing_score,
    filled.usage_depth_is_neutral as is_usage_depth_neutral,
    filled.usage_trend_is_neutral as is_usage_trend_neutral,
    filled.sentiment_is_neutral as is_sentiment_neutral,
    filled.licensed_seats::integer as licensed_seats,
    filled.active_users_30d::bigint as active_users_30d,
    filled.events_30d::bigint as events_30d,
    filled.events_28d::bigint as events_28d,
    filled.events_prior_28d::bigint as events_prior_28d,
    filled.products_owned::bigint as products_owned,
    filled.products_used_30d::bigint as products_used_30d,
    round(filled.nps_180d, 1)::numeric as nps_180d_score,
    filled.nps_respondents_180d::bigint as nps_respondents_180d,
    filled.open_urgent_tickets::bigint as open_urgent_tickets,
    filled.open_other_tickets::bigint as open_other_tickets,
    round(filled.csat_90d, 2)::numeric as csat_90d_score,
    filled.overdue_invoices::bigint as overdue_invoices,
    {{ health_scoring_fingerprint() }} as scoring_fingerprint
from filled
inner join score_history
    on filled.customer_id = score_history.customer_id and filled.health_date = score_history.health_date
inner join weakest
    on filled.customer_id = weakest.customer_id and filled.health_date = weakest.health_date
left join top_moves
    on filled.customer_id = top_moves.customer_id and filled.health_date = top_moves.health_date
where filled.health_date >= {{ first_day }}
