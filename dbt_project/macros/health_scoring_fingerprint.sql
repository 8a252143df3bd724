{#- What a health score is computed from besides the measures: the weights, neutral values
    and bands seeds, as one md5. int_customer_health_scored keeps it on every row and
    rescores its whole history when it changes. -#}
{% macro health_scoring_fingerprint() -%}
    (
        select md5(string_agg(concat_ws(':', component, weight, neutral_score), ',' order by component))
        from {{ ref('health_score_weights') }}
    ) || (
        select md5(string_agg(concat_ws(':', band, min_score), ',' order by band))
        from {{ ref('health_bands') }}
    )
{%- endmacro %}
