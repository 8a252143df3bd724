{#- A SQL date literal from a value the pipeline passes in (a var, a queried date): parsed as
    an ISO date first, so a value that is not one fails the compile instead of reaching SQL. -#}
{% macro date_literal(value) -%}
    date '{{ modules.datetime.date.fromisoformat(value | string).isoformat() }}'
{%- endmacro %}

{#- The night being built, as a SQL date literal. -#}
{% macro as_of_date() -%}
    {{ date_literal(var("as_of_date")) }}
{%- endmacro %}
