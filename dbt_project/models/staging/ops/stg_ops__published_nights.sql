-- One row per night whose marts were published (at least once) up to the night being built;
-- a first run of that night is published, if at all, after its marts are built.
with publish_log as (
    select * from {{ source('ops', 'publish_log') }}
    where action = 'publish' and logical_date <= {{ as_of_date() }}
)

select distinct logical_date as published_date
from publish_log
