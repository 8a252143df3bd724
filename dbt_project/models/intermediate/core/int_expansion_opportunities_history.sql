-- One row per night per opportunity: the rows of fct_expansion_opportunities each night
-- built, kept in `core` so later nights can follow what became of them. A log, not a
-- derivation: a past night's opportunities depend on that night's health, usage and
-- ownership, so they are never recomputed. A night deletes only its own rows before
-- appending tonight's (a rerun or a backfill of that night replaces them; other nights
-- are untouched) and --full-refresh leaves the table alone (full_refresh=false).
--
-- It reads the mart in the run's build schema, after that mart is built and before the
-- marts are published; fct_opportunity_outcomes reads it back and counts only nights that
-- were published (or the night being built, published together with it).
{{ config(
    materialized='incremental',
    schema='core',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='fail',
    pre_hook="{{ delete_night('as_of_date') }}",
    indexes=[{'columns': ['as_of_date']}],
) }}

with opportunities as (
    select * from {{ ref('fct_expansion_opportunities') }}
)

select
    ({{ as_of_date() }}::text || ':' || opportunity_id)::text as opportunity_night_id,
    {{ as_of_date() }}::date as as_of_date,
    opportunity_id::text as opportunity_id,
    customer_id::text as customer_id,
    opportunity_type::text as opportunity_type,
    product_id::text as product_id,
    estimated_mrr_usd::numeric(14, 2) as estimated_mrr,
    reason::text as reason,
    is_blocked::boolean as is_blocked,
    blocked_reasons::text as blocked_reasons
from opportunities
