{#- A SQL date from a value the pipeline passes in (a var): always one quoted literal, its
    quotes doubled, so no value can end the literal and add SQL; a value that is no date
    fails the build in PostgreSQL, naming the model. -#}
{% macro date_literal(value) -%}
    cast({{ text_literal(value) }} as date)
{%- endmacro %}

{#- The night being built, as a SQL date literal. -#}
{% macro as_of_date() -%}
    {{ date_literal(var("as_of_date")) }}
{%- endmacro %}
