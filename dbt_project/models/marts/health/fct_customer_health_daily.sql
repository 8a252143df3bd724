-- One row per customer and day with an active subscription, up to the night being built:
-- the health score, its band and what moved it, as core.int_customer_health_scored keeps
-- them. A view over the history's month chunks (health_history_chunks.sql): the night
-- writes the months it rescored, the view names tonight's chunk for every month, and the
-- publish swaps it in with the other marts (a failed night leaves yesterday's view and
-- its chunks whole).
-- depends_on: {{ ref('int_customer_health_scored') }}
{{ config(materialized='view') }}
{%- set columns = health_history_columns() %}

with chunks as (
    {%- for chunk_table in health_history_chunk_tables(ref('int_customer_health_scored')) %}
    select {{ columns.keys() | join(", ") }} from {{ chunk_table }}
    union all
    {%- endfor %}
    -- no rows: the columns' types, and an empty history before the first scoring (not a
    -- read of int_customer_health_scored, which a full refresh drops with its dependents)
    select {{ typed_nulls(columns) }}
    where false
)

select {{ columns.keys() | join(", ") }}
from chunks
where health_date <= {{ as_of_date() }}
