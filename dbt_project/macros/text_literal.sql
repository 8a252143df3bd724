{#- A var or setting as a SQL string literal: quotes doubled, so it stays one value. -#}
{% macro text_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}
