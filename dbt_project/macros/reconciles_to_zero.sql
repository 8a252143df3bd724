{#- A generic test: every value of the column is zero to the cent. -#}
{% test reconciles_to_zero(model, column_name) %}
    select *
    from {{ model }}
    where abs({{ column_name }}) >= 0.005
{% endtest %}
