-- One row per ordered product pair (A → B) owned together by active customers:
--   support    = customers owning A and B ÷ active customers
--   confidence = customers owning A and B ÷ customers owning A
--   lift       = confidence ÷ (customers owning B ÷ active customers)
-- Pairs below the minimum support of the growth_settings seed are left out.
with owned as (
    select distinct
        customer_id,
        product_id
    from {{ ref('int_products_owned') }}
),

customer_count as (
    select count(distinct customer_id) as customers from owned
),

product_counts as (
    select
        product_id,
        count(*) as owners
    from owned
    group by product_id
),

pairs as (
    select
        a.product_id as product_a,
        b.product_id as product_b,
        count(*) as owners_of_both
    from owned as a
    inner join owned as b on a.customer_id = b.customer_id and a.product_id <> b.product_id
    group by a.product_id, b.product_id
),

settings as (
    select value as min_support
    from {{ ref('growth_settings') }}
    where setting = 'affinity_min_support'
),

measured as (
    select
        pairs.product_a,
        pairs.product_b,
        pairs.owners_of_both,
        owners_a.owners as owners_of_a,
        owners_b.owners as owners_of_b,
        pairs.owners_of_both::numeric / customer_count.customers as support,
        pairs.owners_of_both::numeric / owners_a.owners as confidence,
        (pairs.owners_of_both::numeric / owners_a.owners)
        / (owners_b.owners::numeric / customer_count.customers) as lift
    from pairs
    cross join customer_count
    inner join product_counts as owners_a on pairs.product_a = owners_a.product_id
    inner join product_counts as owners_b on pairs.product_b = owners_b.product_id
)

select
    (measured.product_a || '->' || measured.product_b)::text as product_pair_id,
    measured.product_a::text as product_a,
    measured.product_b::text as product_b,
    measured.owners_of_both::bigint as owners_of_both,
    measured.owners_of_a::bigint as owners_of_a,
    measured.owners_of_b::bigint as owners_of_b,
    round(measured.support, 4)::numeric as support_ratio,
    round(measured.confidence, 4)::numeric as confidence_ratio,
    round(measured.lift, 4)::numeric as lift_ratio
from measured
cross join settings
where measured.support >= settings.min_support
