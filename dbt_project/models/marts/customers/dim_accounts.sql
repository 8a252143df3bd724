-- One row per account: the top of a parent_customer_id chain (dim_customers.account_id)
-- with every buying center that rolls up to it, itself included, since buying centers of
-- one account are sold to together. Account health is the MRR-weighted average of the
-- active buying centers' scores, so the score follows where the revenue is; when their MRR
-- sums to 0 there is nothing to weight by and it is their plain average. White space is
-- summed over the buying centers: a product one of them owns is still white space for a
-- sibling, which buys with its own seats and budget.
with customers as (
    select * from {{ ref('dim_customers') }}
),

health as (
    select * from {{ ref('dim_customer_health') }}
),

bands as (
    select * from {{ ref('health_bands') }}
),

-- Per customer white space and next renewal exactly as customer_360 shows them.
customer_figures as (
    select
        customer_id,
        white_space_mrr_usd,
        next_renewal_date
    from {{ ref('customer_360') }}
),

open_opportunities as (
    select
        customer_id,
        count(*) as open_opportunities,
        sum(estimated_mrr_usd) as open_opportunity_mrr
    from {{ ref('fct_expansion_opportunities') }}
    where not is_blocked
    group by customer_id
),

buying_centers as (
    -- Active = an active subscription item tonight, i.e. a row in dim_customer_health.
    select
        customers.account_id,
        customers.customer_id,
        customers.mrr_usd as mrr,
        health.health_score,
        health.health_band,
        health.customer_id is not null as is_active,
        coalesce(customer_figures.white_space_mrr_usd, 0) as white_space_mrr,
        coalesce(open_opportunities.open_opportunities, 0) as open_opportunities,
        coalesce(open_opportunities.open_opportunity_mrr, 0) as open_opportunity_mrr,
        customer_figures.next_renewal_date
    from customers
    left join health on customers.customer_id = health.customer_id
    left join customer_figures on customers.customer_id = customer_figures.customer_id
    left join open_opportunities on customers.customer_id = open_opportunities.customer_id
),

account_totals as (
    select
        account_id,
        count(*) as buying_centers,
        count(*) filter (where is_active) as active_buying_centers,
        sum(mrr) as mrr,
        sum(mrr) filter (where is_active) as active_mrr,
        sum(health_score * mrr) filter (where is_active) as mrr_weighted_points,
        avg(health_score) filter (where is_active) as plain_average_score,
        sum(white_space_mrr) as white_space_mrr,
        sum(open_opportunities) as open_opportunities,
        sum(open_opportunity_mrr) as open_opportunity_mrr,
        min(next_renewal_date) as next_renewal_date
    from buying_centers
    group by account_id
),

account_scores as (
    -- NULL when no buying center is active (the account churned).
    select
        *,
        active_mrr > 0 as health_is_mrr_weighted,
        round(
            case
                when active_mrr > 0 then mrr_weighted_points / active_mrr
                else plain_average_score
            end, 1
        ) as health_score
    from account_totals
),

banded_accounts as (
    select
        account_scores.*,
        (
            select bands.band from bands
            where bands.min_score <= account_scores.health_score
            order by bands.min_score desc limit 1
        ) as health_band
    from account_scores
),

worst_buying_center as (
    select distinct on (account_id)
        account_id,
        customer_id,
        health_score,
        health_band
    from buying_centers
    where is_active
    order by account_id asc, health_score asc, customer_id asc
)

select
    banded_accounts.account_id::text as account_id,
    top_customer.customer_name::text as account_name,
    banded_accounts.buying_centers::bigint as buying_centers,
    banded_accounts.active_buying_centers::bigint as active_buying_centers,
    banded_accounts.mrr::numeric(14, 2) as mrr_usd,
    (banded_accounts.mrr * 12)::numeric(14, 2) as arr_usd,
    banded_accounts.health_score::numeric as health_score,
    banded_accounts.health_band::text as health_band,
    banded_accounts.health_is_mrr_weighted::boolean as is_health_mrr_weighted,
    worst_buying_center.customer_id::text as worst_customer_id,
    worst_buying_center.health_score::numeric as worst_health_score,
    worst_buying_center.health_band::text as worst_health_band,
    banded_accounts.white_space_mrr::numeric(14, 2) as white_space_mrr_usd,
    banded_accounts.open_opportunities::bigint as open_opportunities,
    banded_accounts.open_opportunity_mrr::numeric(14, 2) as open_opportunity_mrr_usd,
    banded_accounts.next_renewal_date::date as next_renewal_date
from banded_accounts
left join customers as top_customer on banded_accounts.account_id = top_customer.customer_id
left join worst_buying_center on banded_accounts.account_id = worst_buying_center.account_id
