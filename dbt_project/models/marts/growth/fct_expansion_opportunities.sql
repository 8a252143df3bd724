-- One row per active customer per opportunity:
--   cross_sell          a product not owned whose lift from an owned product is > 1
--   upsell_seats        ≥ upsell_usage_share of a seat product's seats active in 30 days
--   upsell_usage_limit  ≥ upsell_usage_share of a product's monthly usage limit used
--   annual_switch       monthly billing for ≥ annual_switch_min_months, health green
-- Guardrails are evaluated on every row and shown: an opportunity is blocked when health
-- is red, the customer's 180-day NPS is below 0 (detractor), it is onboarding, has an open
-- urgent ticket or an overdue invoice.
with owned as (
    select * from {{ ref('int_products_owned') }}
),

usage as (
    select * from {{ ref('int_usage_aggregated_to_customer_product') }}
),

products as (
    select * from {{ ref('stg_billing__products') }}
),

health as (
    select * from {{ ref('dim_customer_health') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
    where lifecycle_stage <> 'churned'
),

white_space as (
    select * from {{ ref('fct_white_space') }}
),

affinity as (
    select * from {{ ref('fct_product_affinity') }}
),

settings as (
    select
        max(value) filter (where setting = 'upsell_usage_share') as upsell_usage_share,
        max(value) filter (where setting = 'upsell_seat_step') as upsell_seat_step,
        max(value) filter (where setting = 'annual_switch_min_months') as annual_switch_min_months
    from {{ ref('growth_settings') }}
),

cross_sell as (
    select distinct on (white_space.customer_id, white_space.product_id)
        white_space.customer_id,
        'cross_sell' as opportunity_type,
        white_space.product_id,
        white_space.potential_mrr_usd as estimated_mrr,
        format(
            'owners of %s are %s× as likely to own %s', affinity.product_a,
            round(affinity.lift_ratio, 1), affinity.product_b
        ) as reason
    from white_space
    inner join owned on white_space.customer_id = owned.customer_id
    inner join affinity
        on owned.product_id = affinity.product_a and white_space.product_id = affinity.product_b
    where affinity.lift_ratio > 1
    order by
        white_space.customer_id asc, white_space.product_id asc,
        affinity.lift_ratio desc, affinity.product_a asc
),

owned_usage as (
    -- What each owned product costs and how much of it was used in 30 days.
    select
        owned.customer_id,
        owned.product_id,
        owned.pricing_unit,
        owned.quantity,
        owned.usage_limit,
        products.list_price_monthly,
        usage.active_users_30d,
        usage.usage_quantity_30d
    from owned
    inner join usage on owned.customer_id = usage.customer_id and owned.product_id = usage.product_id
    inner join products on owned.product_id = products.product_id
),

upsell_seats as (
    select
        owned_usage.customer_id,
        'upsell_seats' as opportunity_type,
        owned_usage.product_id,
        ceil(owned_usage.quantity * settings.upsell_seat_step) * owned_usage.list_price_monthly
            as estimated_mrr,
        format(
            '%s of %s seats active in the last 30 days',
            owned_usage.active_users_30d, owned_usage.quantity
        ) as reason
    from owned_usage
    cross join settings
    where
        owned_usage.pricing_unit = 'seat'
        and owned_usage.active_users_30d >= settings.upsell_usage_share * owned_usage.quantity
),

upsell_usage_limit as (
    select
        owned_usage.customer_id,
        'upsell_usage_limit' as opportunity_type,
        owned_usage.product_id,
        owned_usage.list_price_monthly as estimated_mrr,
        format(
            '%s of the %s monthly usage limit used',
            owned_usage.usage_quantity_30d, owned_usage.usage_limit
        ) as reason
    from owned_usage
    cross join settings
    where
        owned_usage.usage_limit is not null
        and owned_usage.usage_quantity_30d >= settings.upsell_usage_share * owned_usage.usage_limit
),

annual_switch as (
    select
        owned.customer_id,
        'annual_switch' as opportunity_type,
        null as product_id,
        sum(owned.mrr_usd) filter (where owned.has_monthly_billing) as estimated_mrr,
        'on monthly billing for 6+ months with green health: offer an annual plan' as reason
    from owned
    cross join settings
    inner join customers on owned.customer_id = customers.customer_id
    inner join health on owned.customer_id = health.customer_id
    where
        health.health_band = 'green'
        and customers.first_active_month
        <= ({{ as_of_date() }} - settings.annual_switch_min_months * interval '1 month')::date
    group by owned.customer_id
    having bool_or(owned.has_monthly_billing)
),

opportunities as (
    select * from cross_sell
    union all
    select * from upsell_seats
    union all
    select * from upsell_usage_limit
    union all
    select * from annual_switch
),

guardrails as (
    select
        customers.customer_id,
        array_remove(array[
            case when health.health_band = 'red' then 'health is red' end,
            case
                when health.nps_180d_score < 0
                    then format('NPS detractor (%s)', round(health.nps_180d_score))
            end,
            case when customers.lifecycle_stage = 'onboarding' then 'onboarding' end,
            case when health.open_urgent_tickets > 0 then 'open urgent ticket' end,
            case when health.overdue_invoices > 0 then 'overdue invoice' end
        ], null) as reasons
    from customers
    left join health on customers.customer_id = health.customer_id
)

select
    (
        opportunities.customer_id || ':' || opportunities.opportunity_type || ':'
        || coalesce(opportunities.product_id, 'all')
    )::text as opportunity_id,
    opportunities.customer_id::text as customer_id,
    opportunities.opportunity_type::text as opportunity_type,
    opportunities.product_id::text as product_id,
    round(opportunities.estimated_mrr, 2)::numeric(14, 2) as estimated_mrr_usd,
    opportunities.reason::text as reason,
    (cardinality(guardrails.reasons) > 0)::boolean as is_blocked,
    nullif(array_to_string(guardrails.reasons, '; '), '')::text as blocked_reasons
from opportunities
inner join guardrails on opportunities.customer_id = guardrails.customer_id
