{#- A generic test: no two rows share the same values in all of `columns` (the model's grain). -#}
{% test unique_combination(model, columns) %}
    select {{ columns | join(', ') }}
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
