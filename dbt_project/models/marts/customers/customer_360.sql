-- One row per customer: the five data points (spend, products used, usage depth, health
-- with NPS, white space), lifecycle stage, next renewal and the next best action, the
-- first of the customer's actions in fct_cs_actions.
with customers as (
    select * from {{ ref('dim_customers') }}
),

health as (
    select * from {{ ref('dim_customer_health') }}
),

white_space as (
    select
        customer_id,
        sum(potential_mrr_usd) as white_space_mrr
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

actions as (
    select
        customer_id,
        max(play) filter (where action_rank = 1) as next_best_action,
        max(reason) filter (where action_rank = 1) as next_best_action_reason,
        max(due_date) filter (where action_rank = 1) as next_best_action_due_date,
        max(owner) as action_owner,
        count(*) as open_actions
    from {{ ref('fct_cs_actions') }}
    group by customer_id
),

joined as (
    select
        customers.*,
        health.health_score,
        health.health_band,
        health.nps_180d_score,
        health.products_owned,
        health.products_used_30d,
        health.licensed_seats,
        health.active_users_30d,
        coalesce(white_space.white_space_mrr, 0) as white_space_mrr,
        next_renewal.next_renewal_date,
        actions.next_best_action,
        actions.next_best_action_reason,
        actions.next_best_action_due_date,
        actions.action_owner,
        actions.open_actions
    from customers
    left join health on customers.customer_id = health.customer_id
    left join white_space on customers.customer_id = white_space.customer_id
    left join next_renewal on customers.customer_id = next_renewal.customer_id
    left join actions on customers.customer_id = actions.customer_id
)

select
    customer_id::text as customer_id,
    customer_name::text as customer_name,
    account_id::text as account_id,
    industry::text as industry,
    region::text as region,
    size_segment::text as size_segment,
    lifecycle_stage::text as lifecycle_stage,
    behavioural_segment::text as behavioural_segment,
    mrr_usd::numeric(14, 2) as mrr_usd,
    arr_usd::numeric(14, 2) as arr_usd,
    coalesce(products_owned, 0)::bigint as products_owned,
    coalesce(products_used_30d, 0)::bigint as products_used_30d,
    round(coalesce(active_users_30d, 0)::numeric / nullif(licensed_seats, 0), 3)::numeric
        as usage_depth_ratio,
    health_score::numeric as health_score,
    health_band::text as health_band,
    nps_180d_score::numeric as nps_180d_score,
    white_space_mrr::numeric(14, 2) as white_space_mrr_usd,
    (mrr_usd + white_space_mrr)::numeric(14, 2) as full_adoption_mrr_usd,
    next_renewal_date::date as next_renewal_date,
    next_best_action::text as next_best_action,
    next_best_action_reason::text as next_best_action_reason,
    next_best_action_due_date::date as next_best_action_due_date,
    action_owner::text as action_owner,
    open_actions::bigint as open_actions
from joined
