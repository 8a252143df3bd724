-- One row per customer: the five data points (spend, products used, usage depth, health
-- with NPS, white space), lifecycle stage, next renewal and one next best action with its
-- reason. Actions, first match wins: win_back (churned), fix_health (red), prepare_renewal
-- (renewal within the window), the largest unblocked opportunity that adds revenue (else an
-- annual switch), ask_for_referral (a promoter at a growth customer), nurture.
with customers as (
    select * from {{ ref('dim_customers') }}
),

health as (
    select * from {{ ref('dim_customer_health') }}
),

white_space as (
    select
        customer_id,
        sum(potential_mrr) as white_space_mrr
    from {{ ref('fct_white_space') }}
    group by customer_id
),

next_renewal as (
    select
        customer_id,
        min(renewal_date) as next_renewal_date
    from {{ ref('fct_renewals_upcoming') }}
    group by customer_id
),

best_opportunity as (
    select distinct on (customer_id)
        customer_id,
        opportunity_type,
        reason
    from {{ ref('fct_expansion_opportunities') }}
    where not is_blocked
    -- Plays that add revenue come before an annual switch, which secures existing MRR.
    order by
        customer_id asc, opportunity_type = 'annual_switch' asc, estimated_mrr desc,
        opportunity_id asc
),

referrals as (
    select distinct customer_id from {{ ref('fct_referral_candidates') }}
),

joined as (
    select
        customers.*,
        health.health_score,
        health.health_band,
        health.weakest_component,
        health.nps_180d,
        health.products_owned,
        health.products_used_30d,
        health.licensed_seats,
        health.active_users_30d,
        coalesce(white_space.white_space_mrr, 0) as white_space_mrr,
        next_renewal.next_renewal_date,
        best_opportunity.opportunity_type,
        best_opportunity.reason as opportunity_reason,
        referrals.customer_id is not null as has_referral_candidate
    from customers
    left join health on customers.customer_id = health.customer_id
    left join white_space on customers.customer_id = white_space.customer_id
    left join next_renewal on customers.customer_id = next_renewal.customer_id
    left join best_opportunity on customers.customer_id = best_opportunity.customer_id
    left join referrals on customers.customer_id = referrals.customer_id
)

select
    customer_id::text as customer_id,
    customer_name::text as customer_name,
    size_segment::text as size_segment,
    lifecycle_stage::text as lifecycle_stage,
    mrr::numeric(14, 2) as mrr,
    arr::numeric(14, 2) as arr,
    coalesce(products_owned, 0)::bigint as products_owned,
    coalesce(products_used_30d, 0)::bigint as products_used_30d,
    round(coalesce(active_users_30d, 0)::numeric / nullif(licensed_seats, 0), 3)::numeric
        as usage_depth,
    health_score::numeric as health_score,
    health_band::text as health_band,
    nps_180d::numeric as nps_180d,
    white_space_mrr::numeric(14, 2) as white_space_mrr,
    (mrr + white_space_mrr)::numeric(14, 2) as full_adoption_mrr,
    next_renewal_date::date as next_renewal_date,
    (case
        when lifecycle_stage = 'churned' then 'win_back'
        when health_band = 'red' then 'fix_health'
        when next_renewal_date is not null then 'prepare_renewal'
        when opportunity_type is not null then opportunity_type
        when has_referral_candidate then 'ask_for_referral'
        else 'nurture'
    end)::text as next_best_action,
    (case
        when lifecycle_stage = 'churned' then 'no active subscription'
        when health_band = 'red' then format('health is red, weakest: %s', weakest_component)
        when next_renewal_date is not null then format('renews on %s', next_renewal_date)
        when opportunity_type is not null then opportunity_reason
        when has_referral_candidate then 'a promoter at a healthy, growing customer'
        else 'no trigger tonight'
    end)::text as next_best_action_reason
from joined
