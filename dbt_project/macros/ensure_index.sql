{#- An index added to a model after its table was first built. dbt's `indexes` config
    creates indexes only with the table, so a warehouse built before the index would never
    get it; this statement creates it when it is missing. Run it as a post-hook outside the
    transaction: dbt's incremental materialization runs in-transaction post-hooks before it
    drops the table a full refresh replaced, whose index of the same name would make
    `if not exists` skip the new table. -#}
{% macro ensure_index(name, columns) -%}
    {%- set quoted = [] -%}
    {%- for column in columns %}{% do quoted.append(adapter.quote(column)) %}{% endfor -%}
    create index if not exists {{ adapter.quote(name) }} on {{ this }} ({{ quoted | join(', ') }})
{%- endmacro %}
