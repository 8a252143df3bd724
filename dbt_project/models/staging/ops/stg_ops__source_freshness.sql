-- One row per landing source: the newest date folder loaded up to the night being built.
-- Header-only files count (a quiet day is still a delivered day), failed files do not.
with ledger as (
    select * from {{ source('ops', 'load_ledger') }}
    where status = 'loaded' and logical_date <= {{ as_of_date() }}
)

select
    source,
    max(logical_date) as loaded_through
from ledger
group by source
