{#- A generic test: no two rows share the same values in all of `columns` (the model's grain).
    With `rebuilt_column` (a date in the grain) a night checks only the days every night
    rebuilds (late_data_window_start on; after skipped nights an incremental model rebuilds
    further back than that): its older days are as earlier nights tested them, and reading
    them again would make every night cost the whole history. Run
    with the var `full_history: true` or --full-refresh, the test covers every row
    (`customer-health validate --full` runs those of staging and intermediate so; the marts
    gate checks the marts' keys whole every night). -#}
{% test unique_combination(model, columns, rebuilt_column=none) %}
    {%- set scoped = rebuilt_column is not none
        and not var('full_history', false) and not flags.FULL_REFRESH %}
    select {{ columns | join(', ') }}
    from {{ model }}
    where {% if scoped %}{{ rebuilt_column }} >= {{ late_data_window_start() }}{% else %}true{% endif %}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
