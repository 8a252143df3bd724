-- One row per band drop worth telling a person about. A drop (the band lower than the day
-- before) is confirmed once the score stayed below the band it left for confirm_days days
-- in a row, and is alerted on that day unless the customer was alerted less than
-- cooldown_days before (health_alert_settings seed): a score hovering at a band floor
-- would otherwise alert every few days and teach people to ignore alerts. Derived from
-- the daily history, so rerunning or backfilling a night reproduces the same rows; the
-- alert sender keeps its own ledger to notify each once.
-- Reads the scored history in core (the rows fct_customer_health_daily publishes), not the
-- published view: its indexes find the drops (is_band_drop) and serve the confirmation
-- windows' reads by customer and day, which a view over month tables cannot give one
-- index for. Not materialized: each read below keeps only the rows and columns it needs
-- instead of a copy of the history.
with health_daily as not materialized (
    select * from {{ ref('int_customer_health_scored') }}
    where health_date <= {{ as_of_date() }}
),

bands as (
    select * from {{ ref('health_bands') }}
),

alert_settings as (
    select
        max(value) filter (where setting = 'confirm_days')::integer as confirm_days,
        max(value) filter (where setting = 'cooldown_days')::integer as cooldown_days
    from {{ ref('health_alert_settings') }}
),

drops as (
    select
        health_daily.customer_id,
        health_daily.health_date as drop_date,
        health_daily.previous_health_band as from_band,
        bands.min_score as from_band_floor
    from health_daily
    inner join bands on health_daily.previous_health_band = bands.band
    where health_daily.is_band_drop
),

-- Every day of the confirmation window must have a score, all below the band left: read
-- for each drop as one range of the key index, so a drop costs its window, not its
-- customer's history.
confirmed_drops as (
    select
        drops.customer_id,
        drops.drop_date,
        drops.from_band,
        confirmation.alert_date
    from drops
    cross join alert_settings
    cross join
        lateral (
            select
                max(health_daily.health_date) as alert_date,
                count(*) as days_scored,
                bool_and(health_daily.health_score < drops.from_band_floor) as stayed_below
            from health_daily
            where
                health_daily.customer_id = drops.customer_id
                and health_daily.health_date
                between drops.drop_date and drops.drop_date + alert_settings.confirm_days - 1
        ) as confirmation
    where
        confirmation.days_scored = alert_settings.confirm_days
        and confirmation.stayed_below
),

numbered_drops as (
    select
        customer_id,
        drop_date,
        alert_date,
        row_number() over (partition by customer_id order by alert_date asc) as drop_number
    from confirmed_drops
),

-- Walk each customer's confirmed drops in date order, one step a drop: the first is
-- alerted, each later one only when the cool-down since the last alerted one has passed.
-- Each step joins on the next drop's number, so the walk costs the drops, not drops
-- times drops.
alerted as (
    with recursive drop_walk as (
        select
            customer_id,
            drop_number,
            drop_date,
            alert_date,
            alert_date as last_alert_date,
            true as is_alerted
        from numbered_drops
        where drop_number = 1
        union all
        select
            next_drop.customer_id,
            next_drop.drop_number,
            next_drop.drop_date,
            next_drop.alert_date,
            case
                when next_drop.alert_date >= drop_walk.last_alert_date + alert_settings.cooldown_days
                    then next_drop.alert_date
                else drop_walk.last_alert_date
            end as last_alert_date,
            next_drop.alert_date >= drop_walk.last_alert_date + alert_settings.cooldown_days
                as is_alerted
        from drop_walk
        cross join alert_settings
        inner join numbered_drops as next_drop
            on
                drop_walk.customer_id = next_drop.customer_id
                and drop_walk.drop_number + 1 = next_drop.drop_number
    )

    select
        customer_id,
        drop_date,
        alert_date
    from drop_walk
    where is_alerted
)

select
    (alerted.customer_id || ':' || alerted.drop_date)::text as alert_id,
    alerted.customer_id::text as customer_id,
    alerted.drop_date::date as drop_date,
    alerted.alert_date::date as alert_date,
    confirmed_drops.from_band::text as from_band,
    health_daily.health_band::text as to_band,
    health_daily.health_score::numeric as health_score,
    health_daily.health_score_change_30d::numeric as health_score_change_30d,
    health_daily.top_driver_1::text as top_driver_1,
    health_daily.top_driver_1_change::numeric as top_driver_1_change,
    health_daily.top_driver_2::text as top_driver_2,
    health_daily.top_driver_2_change::numeric as top_driver_2_change,
    concat_ws(
        ', ',
        health_daily.top_driver_1 || ' ' || health_daily.top_driver_1_change,
        health_daily.top_driver_2 || ' ' || health_daily.top_driver_2_change
    )::text as drivers
from alerted
inner join confirmed_drops
    on alerted.customer_id = confirmed_drops.customer_id and alerted.drop_date = confirmed_drops.drop_date
inner join health_daily
    on alerted.customer_id = health_daily.customer_id and alerted.alert_date = health_daily.health_date
