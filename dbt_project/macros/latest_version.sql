{#- Raw billing and support tables keep every restatement of a key; staging wants the
    latest one: the row from the newest file, and the last line of that file. -#}
{% macro latest_version(relation, key) -%}
    select distinct on ({{ key }}) *
    from {{ relation }}
    order by {{ key }}, _logical_date desc, _line desc
{%- endmacro %}
