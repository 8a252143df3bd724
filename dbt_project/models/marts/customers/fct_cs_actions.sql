-- One row per customer per open action tonight: what customer success should do about it,
-- by when and who owns it. Every signal has a play; the cs_plays seed sets each play's
-- priority (1 first) and days to act:
--   act_on_drop         a band drop confirmed this week (fct_health_alerts)
--   fix_before_renewal  a renewal within the window while below green or NPS < 0
--   fix_health          red
--   rescue              not red, and yellow with the score down by falling_trend_points in
--                       30 days, a detractor NPS or the at_risk lifecycle stage
--   prepare_renewal     a renewal within the window otherwise
--   expansion plays     the best unblocked opportunity (revenue before an annual switch),
--                       only for green customers without a risk play above
--   ask_for_referral    a referral candidate without a risk play
--   win_back            churned (its only play); nurture when nothing else applies
-- The owner is the customer's CSM, else the cs_default_owner queue. customer_360 shows
-- the first action by priority.
with customers as (
    select * from {{ ref('dim_customers') }}
),

health as (
    select * from {{ ref('dim_customer_health') }}
),

plays as (
    select * from {{ ref('cs_plays') }}
),

settings as (
    select max(value) filter (where setting = 'falling_trend_points') as falling_trend_points
    from {{ ref('growth_settings') }}
),

alerts_this_week as (
    select distinct on (customer_id)
        customer_id,
        alert_date,
        from_band,
        to_band,
        drivers
    from {{ ref('fct_health_alerts') }}
    where alert_date between {{ as_of_date() }} - 6 and {{ as_of_date() }}
    order by customer_id asc, alert_date desc
),

renewals as (
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
        customer_id asc, opportunity_type = 'annual_switch' asc, estimated_mrr_usd desc,
        opportunity_id asc
),

referrals as (
    select distinct customer_id from {{ ref('fct_referral_candidates') }}
),

active_customers as (
    select
        customers.customer_id,
        health.health_score,
        health.health_band,
        health.health_score_change_30d,
        health.nps_180d_score as nps_180d,
        health.weakest_component,
        case health.weakest_component
            when 'usage_depth' then health.usage_depth_score
            when 'usage_trend' then health.usage_trend_score
            when 'adoption' then health.adoption_score
            when 'sentiment' then health.sentiment_score
            when 'support' then health.support_score
            when 'billing' then health.billing_score
        end as weakest_score,
        coalesce(
            health.health_band = 'yellow'
            and health.health_score_change_30d <= -settings.falling_trend_points, false
        ) as is_falling,
        coalesce(health.nps_180d_score < 0, false) as is_detractor,
        customers.lifecycle_stage = 'at_risk' as is_at_risk,
        renewals.next_renewal_date
    from customers
    cross join settings
    left join health on customers.customer_id = health.customer_id
    left join renewals on customers.customer_id = renewals.customer_id
    where customers.lifecycle_stage <> 'churned'
),

risk_actions as (
    select
        alerts_this_week.customer_id,
        'act_on_drop' as play,
        alerts_this_week.alert_date as due_from,
        format(
            '%s → %s, confirmed on %s; moved by %s', alerts_this_week.from_band,
            alerts_this_week.to_band, alerts_this_week.alert_date,
            coalesce(nullif(alerts_this_week.drivers, ''), 'no 30-day history')
        ) as reason
    from alerts_this_week
    inner join active_customers on alerts_this_week.customer_id = active_customers.customer_id
    union all
    select
        customer_id,
        'fix_before_renewal' as play,
        {{ as_of_date() }} as due_from,
        format(
            'renews on %s with health %s (%s), NPS %s', next_renewal_date, health_band,
            health_score, coalesce(nps_180d::text, 'unknown')
        ) as reason
    from active_customers
    where next_renewal_date is not null and (health_band <> 'green' or is_detractor)
    union all
    select
        customer_id,
        'fix_health' as play,
        {{ as_of_date() }} as due_from,
        format('health is red (%s), weakest: %s (%s)', health_score, weakest_component, weakest_score)
            as reason
    from active_customers
    where health_band = 'red'
    union all
    select
        customer_id,
        'rescue' as play,
        {{ as_of_date() }} as due_from,
        format(
            '%s; weakest: %s (%s)',
            concat_ws(
                ', ',
                case when is_falling then format('score %s in 30 days', health_score_change_30d) end,
                case when is_detractor then format('NPS %s', nps_180d) end,
                case when is_at_risk then 'at risk' end
            ),
            weakest_component, weakest_score
        ) as reason
    from active_customers
    where health_band is distinct from 'red' and (is_falling or is_detractor or is_at_risk)
),

other_actions as (
    select
        customer_id,
        'prepare_renewal' as play,
        {{ as_of_date() }} as due_from,
        format('renews on %s', next_renewal_date) as reason
    from active_customers
    where next_renewal_date is not null and health_band = 'green' and not is_detractor
    union all
    select
        best_opportunity.customer_id,
        best_opportunity.opportunity_type as play,
        {{ as_of_date() }} as due_from,
        best_opportunity.reason
    from best_opportunity
    inner join active_customers on best_opportunity.customer_id = active_customers.customer_id
    where active_customers.health_band = 'green'
    union all
    select
        referrals.customer_id,
        'ask_for_referral' as play,
        {{ as_of_date() }} as due_from,
        'a promoter at a healthy, growing customer' as reason
    from referrals
    inner join active_customers on referrals.customer_id = active_customers.customer_id
),

triggered as (
    select * from risk_actions
    union all
    -- Renewals are prepared whatever the risk; growth plays wait until the risk is handled.
    select * from other_actions
    where
        play = 'prepare_renewal'
        or customer_id not in (select risk_actions.customer_id from risk_actions)
    union all
    select
        customer_id,
        'win_back' as play,
        {{ as_of_date() }} as due_from,
        'no active subscription' as reason
    from customers
    where lifecycle_stage = 'churned'
),

actions as (
    select * from triggered
    union all
    select
        customer_id,
        'nurture' as play,
        {{ as_of_date() }} as due_from,
        'no trigger tonight' as reason
    from customers
    where customer_id not in (select triggered.customer_id from triggered)
),

scheduled as (
    select
        actions.customer_id,
        actions.play,
        plays.priority,
        case
            when actions.play in ('fix_before_renewal', 'prepare_renewal')
                then least(actions.due_from + plays.due_in_days::integer, renewals.next_renewal_date)
            else actions.due_from + plays.due_in_days::integer
        end as due_date,
        actions.reason
    from actions
    -- A play missing from the seed keeps its row with no priority, which the NOT NULL
    -- constraint on priority refuses as the build writes it.
    left join plays on actions.play = plays.play
    left join renewals on actions.customer_id = renewals.customer_id
)

select
    (scheduled.customer_id || ':' || scheduled.play)::text as action_id,
    scheduled.customer_id::text as customer_id,
    scheduled.play::text as play,
    scheduled.priority::integer as priority,
    (row_number() over (
        partition by scheduled.customer_id
        order by scheduled.priority asc, scheduled.due_date asc, scheduled.play asc
    ))::integer as action_rank,
    scheduled.due_date::date as due_date,
    coalesce(customers.csm_owner, {{ text_literal(var('cs_default_owner')) }})::text as owner,
    scheduled.reason::text as reason
from scheduled
inner join customers on scheduled.customer_id = customers.customer_id
