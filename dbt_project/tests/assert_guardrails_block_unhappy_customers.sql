-- No opportunity may target a red, detractor or onboarding customer without being blocked.
select opportunities.opportunity_id
from {{ ref('fct_expansion_opportunities') }} as opportunities
inner join {{ ref('customer_360') }} as customers
    on opportunities.customer_id = customers.customer_id
where
    not opportunities.is_blocked
    and (
        customers.health_band = 'red'
        or customers.nps_180d_score < 0
        or customers.lifecycle_stage = 'onboarding'
    )
