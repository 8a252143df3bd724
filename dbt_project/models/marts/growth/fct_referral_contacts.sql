-- One row per promoter (latest response within 180 days scored as a promoter) at a green
-- customer in the growth stage: whom to ask for a referral, with the respondent's role.
-- Per person, so it is published to the personal-data schema that only cs_reader reads
-- (meta personal_data), never to analytics; analytics has the per-customer counts
-- (fct_referral_candidates). Respondents are pseudonymous user ids; comments stay in raw.
with latest_responses as (
    select distinct on (customer_id, user_id) *
    from {{ ref('stg_nps__responses') }}
    where responded_date between {{ as_of_date() }} - 179 and {{ as_of_date() }}
    order by customer_id asc, user_id asc, responded_at desc
),

customers as (
    select * from {{ ref('dim_customers') }}
    where lifecycle_stage = 'growth'
),

health as (
    select * from {{ ref('dim_customer_health') }}
    where health_band = 'green'
)

select
    (latest_responses.customer_id || ':' || latest_responses.user_id)::text as referral_contact_id,
    latest_responses.customer_id::text as customer_id,
    latest_responses.user_id::text as user_id,
    latest_responses.respondent_role::text as respondent_role,
    latest_responses.nps_score::integer as nps_score,
    latest_responses.responded_date::date as responded_date
from latest_responses
inner join customers on latest_responses.customer_id = customers.customer_id
inner join health on latest_responses.customer_id = health.customer_id
where latest_responses.nps_category = 'promoter'
