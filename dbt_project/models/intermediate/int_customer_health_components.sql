-- One row per customer active on the night being built, with each health component
-- scored 0–100. A component without data takes its neutral score from the weights seed
-- and raises its *_is_neutral flag, so no score is ever computed from NULLs.
with ownership as (
    select
        customer_id,
        max(quantity) filter (where pricing_unit = 'seat') as licensed_seats,
        count(*) as products_owned
    from {{ ref('int_products_owned') }}
    group by customer_id
),

usage as (
    select * from {{ ref('int_usage_aggregated_to_customer') }}
),

nps as (
    select
        customer_id,
        count(*) as responses_180d,
        100.0 * (
            count(*) filter (where nps_category = 'promoter')
            - count(*) filter (where nps_category = 'detractor')
        ) / count(*
        ) as nps_180d
    from {{ ref('stg_nps__responses') }}
    where responded_date between {{ as_of_date() }} - 179 and {{ as_of_date() }}
    group by customer_id
),

tickets as (
    select
        customer_id,
        count(*) filter (
            where priority = 'urgent' and (closed_at is null or closed_at::date > {{ as_of_date() }})
        ) as open_urgent_tickets,
        count(*) filter (
            where priority <> 'urgent' and (closed_at is null or closed_at::date > {{ as_of_date() }})
        ) as open_other_tickets,
        avg(csat_score) filter (
            where closed_at::date > {{ as_of_date() }} - 90
        ) as csat_90d
    from {{ ref('stg_support__tickets') }}
    where opened_at::date <= {{ as_of_date() }}
    group by customer_id
),

invoices as (
    select
        customer_id,
        count(*) as overdue_invoices
    from {{ ref('stg_billing__invoices') }}
    where
        due_date < {{ as_of_date() }}
        and invoice_status <> 'void'
        and (paid_date is null or paid_date > {{ as_of_date() }})
    group by customer_id
),

neutral as (
    select
        max(neutral_score) filter (where component = 'usage_depth') as usage_depth,
        max(neutral_score) filter (where component = 'usage_trend') as usage_trend,
        max(neutral_score) filter (where component = 'adoption') as adoption,
        max(neutral_score) filter (where component = 'sentiment') as sentiment
    from {{ ref('health_score_weights') }}
),

components as (
    select
        ownership.customer_id,
        ownership.licensed_seats,
        ownership.products_owned,
        coalesce(usage.active_users_30d, 0) as active_users_30d,
        coalesce(usage.events_30d, 0) as events_30d,
        coalesce(usage.events_prior_30d, 0) as events_prior_30d,
        coalesce(usage.products_used_30d, 0) as products_used_30d,
        nps.nps_180d,
        coalesce(nps.responses_180d, 0) as nps_responses_180d,
        coalesce(tickets.open_urgent_tickets, 0) as open_urgent_tickets,
        coalesce(invoices.overdue_invoices, 0) as overdue_invoices,

        ownership.licensed_seats is null as usage_depth_is_neutral,
        coalesce(
            {{ clamp_score(
                '100.0 * coalesce(usage.active_users_30d, 0)'
                ~ ' / nullif(ownership.licensed_seats, 0)'
            ) }},
            neutral.usage_depth
        ) as usage_depth_score,

        coalesce(usage.events_prior_30d, 0) = 0 as usage_trend_is_neutral,
        coalesce(
            {{ clamp_score(
                '70 + 100.0 * (usage.events_30d::numeric'
                ~ ' / nullif(usage.events_prior_30d, 0) - 1)'
            ) }},
            neutral.usage_trend
        ) as usage_trend_score,

        false as adoption_is_neutral,
        {{ clamp_score(
            '100.0 * coalesce(usage.products_used_30d, 0) / ownership.products_owned'
            ~ ' + case when ownership.products_owned > 1 and usage.products_used_30d > 1 then 10 else 0 end'
        ) }} as adoption_score,

        nps.nps_180d is null as sentiment_is_neutral,
        coalesce((nps.nps_180d + 100) / 2.0, neutral.sentiment) as sentiment_score,

        false as support_is_neutral,
        {{ clamp_score(
            '100 - 30 * coalesce(tickets.open_urgent_tickets, 0)'
            ~ ' - 10 * least(coalesce(tickets.open_other_tickets, 0), 3)'
            ~ ' + coalesce((tickets.csat_90d - 4) * 10, 0)'
        ) }} as support_score,

        false as billing_is_neutral,
        {{ clamp_score('100 - 50 * coalesce(invoices.overdue_invoices, 0)') }} as billing_score
    from ownership
    cross join neutral
    left join usage on ownership.customer_id = usage.customer_id
    left join nps on ownership.customer_id = nps.customer_id
    left join tickets on ownership.customer_id = tickets.customer_id
    left join invoices on ownership.customer_id = invoices.customer_id
)

select * from components
