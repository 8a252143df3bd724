{#- A SQL date from a value the pipeline passes in: always one quoted literal, its quotes
    doubled, so no value can end the literal and add SQL; a value that is no date fails the
    build in PostgreSQL, naming the model. -#}
{% macro date_literal(value) -%}
    cast({{ text_literal(value) }} as date)
{%- endmacro %}

{#- A value of the night being built: the var `name` where one is given (a unit test's
    overrides, dbt run by hand), else the environment variable DBT_<NAME>, which the pipeline
    sets (empty counts as unset), else none. Not a var from the pipeline: dbt parses the
    whole project again whenever the command line's vars change, which they would every
    night. The variable is read only while executing, so it stays out of what dbt keeps of
    a parse, and a night reuses the last night's parse where nothing else changed (the docs
    step does). -#}
{% macro night_setting(name) -%}
    {%- set value = var(name, none) -%}
    {%- if value is none and execute -%}
        {%- set value = env_var("DBT_" ~ (name | upper), "") or none -%}
    {%- endif -%}
    {{- return(value) -}}
{%- endmacro %}

{#- The night being built, as a SQL date literal. A run without one stops: building "today"
    instead would publish a night nobody asked for. -#}
{% macro as_of_date() -%}
    {%- set night = night_setting("as_of_date") -%}
    {%- if night is none and execute -%}
        {{ exceptions.raise_compiler_error(
            "no night to build: the pipeline sets DBT_AS_OF_DATE; by hand, set it or pass"
            ~ " --vars '{as_of_date: YYYY-MM-DD}'") }}
    {%- endif -%}
    {{ date_literal(night) }}
{%- endmacro %}
