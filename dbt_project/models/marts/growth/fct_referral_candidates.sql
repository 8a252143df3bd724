-- One row per customer to ask for a referral: a green customer in the growth stage with
-- at least one promoter in the last 180 days, and how many promoters, in which roles. The
-- people themselves are in fct_referral_contacts, which only cs_reader can read.
with contacts as (
    select * from {{ ref('fct_referral_contacts') }}
),

health as (
    select * from {{ ref('dim_customer_health') }}
)

select
    contacts.customer_id::text as customer_id,
    count(*)::bigint as promoters_180d,
    string_agg(distinct contacts.respondent_role, ', ' order by contacts.respondent_role)::text
        as promoter_roles,
    max(contacts.responded_date)::date as latest_promoter_response_date,
    max(health.health_score)::numeric as health_score
from contacts
inner join health on contacts.customer_id = health.customer_id
group by contacts.customer_id
