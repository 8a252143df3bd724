{#- Layer schemas (staging, intermediate, reference) keep their plain names; marts go to the
    target schema, which the pipeline sets to the per-run build schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
