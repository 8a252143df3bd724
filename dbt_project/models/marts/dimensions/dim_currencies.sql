-- One row per billing currency: the rate that converts it to USD, the reporting currency
-- of every money column (fx_rates seed).
select
    currency::text as currency,
    rate_to_usd::numeric as rate_to_usd
from {{ ref('fx_rates') }}
