-- One row per night × opportunity published that night (core history, nights in
-- ops.publish_log or the night being built) and what became of it within 90 days:
--   product opportunities (cross_sell, upsell_*): converted when the customer's MRR in that
--     product, on a day an item of it starts within the 90 days after the night, is above
--     its MRR on the night (int_subscription_items_normalized, items active that day);
--   annual_switch: converted when a yearly-billed item starts within the 90 days.
-- outcome: open while the 90 days have not all passed (night + 90 > the night being built),
-- whether or not it converted already (first_conversion_date shows an early one); then
-- converted or not_converted.
with history as (
    select * from {{ ref('int_expansion_opportunities_history') }}
    where as_of_date <= {{ as_of_date() }}
),

published_nights as (
    select * from {{ ref('stg_ops__published_nights') }}
),

items as (
    select * from {{ ref('int_subscription_items_normalized') }}
),

published as (
    select
        history.*,
        history.as_of_date + 90 as decision_date
    from history
    where
        history.as_of_date = {{ as_of_date() }}
        or history.as_of_date in (select published_nights.published_date from published_nights)
),

product_mrr_on_the_night as (
    select
        published.opportunity_night_id,
        sum(items.mrr_usd) as product_mrr
    from published
    inner join items
        on
            published.customer_id = items.customer_id
            and published.product_id = items.product_id
            and {{ item_active_on('published.as_of_date') }}
    group by published.opportunity_night_id
),

-- A product's MRR changes only when one of its items starts or ends: a gain shows on a
-- day an item starts.
product_mrr_on_item_starts as (
    select
        published.opportunity_night_id,
        started.start_date as change_date,
        sum(items.mrr_usd) as product_mrr
    from published
    inner join items as started
        on
            published.customer_id = started.customer_id
            and published.product_id = started.product_id
            and published.as_of_date < started.start_date
            and published.decision_date >= started.start_date
    inner join items
        on
            published.customer_id = items.customer_id
            and published.product_id = items.product_id
            and {{ item_active_on('started.start_date') }}
    group by published.opportunity_night_id, started.start_date
),

product_gains as (
    select
        product_mrr_on_item_starts.opportunity_night_id,
        min(product_mrr_on_item_starts.change_date) as first_conversion_date
    from product_mrr_on_item_starts
    left join product_mrr_on_the_night
        on product_mrr_on_item_starts.opportunity_night_id = product_mrr_on_the_night.opportunity_night_id
    where product_mrr_on_item_starts.product_mrr > coalesce(product_mrr_on_the_night.product_mrr, 0)
    group by product_mrr_on_item_starts.opportunity_night_id
),

annual_switches as (
    select
        published.opportunity_night_id,
        min(items.start_date) as first_conversion_date
    from published
    inner join items
        on
            published.customer_id = items.customer_id
            and items.billing_period = 'year'
            and published.as_of_date < items.start_date
            and published.decision_date >= items.start_date
    where published.opportunity_type = 'annual_switch'
    group by published.opportunity_night_id
),

outcomes as (
    select
        published.*,
        coalesce(product_mrr_on_the_night.product_mrr, 0) as product_mrr_on_the_night,
        coalesce(product_gains.first_conversion_date, annual_switches.first_conversion_date)
            as first_conversion_date
    from published
    left join product_mrr_on_the_night
        on published.opportunity_night_id = product_mrr_on_the_night.opportunity_night_id
    left join product_gains on published.opportunity_night_id = product_gains.opportunity_night_id
    left join annual_switches on published.opportunity_night_id = annual_switches.opportunity_night_id
)

select
    opportunity_night_id::text as opportunity_night_id,
    as_of_date::date as published_date,
    opportunity_id::text as opportunity_id,
    customer_id::text as customer_id,
    opportunity_type::text as opportunity_type,
    product_id::text as product_id,
    estimated_mrr::numeric(14, 2) as estimated_mrr_usd,
    is_blocked::boolean as is_blocked,
    decision_date::date as decision_date,
    ({{ as_of_date() }} - as_of_date)::integer as days_since_published,
    (case when product_id is not null then product_mrr_on_the_night end)::numeric(14, 2)
        as product_mrr_on_the_night_usd,
    first_conversion_date::date as first_conversion_date,
    (case
        when decision_date > {{ as_of_date() }} then 'open'
        when first_conversion_date is not null then 'converted'
        else 'not_converted'
    end)::text as outcome
from outcomes
