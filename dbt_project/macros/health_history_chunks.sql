{#- The published daily health history is a view over month tables ("chunks") in `core`,
    so a night writes the months it rescored, not the whole history. A chunk is never
    changed once written: a rescored month gets a new chunk, and the registry points each
    month at its current one. Last night's published view, and every backup's, still names
    the chunks it was built on, so a failed night leaves them whole, and PostgreSQL refuses
    to drop a chunk a view still reads. The chunks carry the rules of the history's rows
    (one row per customer and day, a score within 0–100, a known band), checked as each row
    is written, and their month as a check constraint, so a read for some days scans only
    the months holding them. -#}

{#- The registry and the chunk-number sequence live beside the scored history. -#}
{% macro health_history_relation(scored, identifier) -%}
    {{ return(api.Relation.create(schema=scored.schema, identifier=identifier)) }}
{%- endmacro %}

{#- The history's published columns and their types (the view's contract checks them):
    what a chunk keeps of int_customer_health_scored. Chunks already written keep their
    columns: after a change here, `dbt run --full-refresh --select int_customer_health_scored`
    writes every month again. -#}
{% macro health_history_columns() -%}
    {{ return({
        "customer_id":             "text",
        "health_date":             "date",
        "health_score":            "numeric",
        "health_band":             "text",
        "previous_health_band":    "text",
        "is_band_drop":            "boolean",
        "health_score_change_7d":  "numeric",
        "health_score_change_30d": "numeric",
        "top_driver_1":            "text",
        "top_driver_1_change":     "numeric",
        "top_driver_2":            "text",
        "top_driver_2_change":     "numeric",
        "weakest_component":       "text",
        "usage_depth_score":       "numeric",
        "usage_trend_score":       "numeric",
        "adoption_score":          "numeric",
        "sentiment_score":         "numeric",
        "support_score":           "numeric",
        "billing_score":           "numeric",
        "is_usage_depth_neutral":  "boolean",
        "is_usage_trend_neutral":  "boolean",
        "is_sentiment_neutral":    "boolean",
        "licensed_seats":          "integer",
        "active_users_30d":        "bigint",
        "events_30d":              "bigint",
        "events_28d":              "bigint",
        "events_prior_28d":        "bigint",
        "products_owned":          "bigint",
        "products_used_30d":       "bigint",
        "nps_180d_score":          "numeric",
        "nps_respondents_180d":    "bigint",
        "open_urgent_tickets":     "bigint",
        "open_other_tickets":      "bigint",
        "csat_90d_score":          "numeric",
        "overdue_invoices":        "bigint"
    }) }}
{%- endmacro %}

{#- A select list of nulls cast to `columns`' types (a name → type mapping). -#}
{% macro typed_nulls(columns) -%}
    {%- for column, data_type in columns.items() -%}
        cast(null as {{ data_type }}) as {{ column }}{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- Pre-hook of int_customer_health_scored, in the transaction that rescores: the window's
    rows are deleted, and the months from its first day on lose their chunk (all of them on
    a full build). One hook, so both use the window as it was before the delete. -#}
{% macro delete_rescored_health_history(fingerprint) -%}
    {%- set registry = health_history_relation(this, "health_history_chunks") -%}
    {%- set window_start = incremental_window_start("health_date", fingerprint) -%}
    {{ delete_window("health_date", window_start) }};
    create table if not exists {{ registry }} (
        month_start date primary key,
        chunk_table text not null unique
    );
    create sequence if not exists {{ health_history_relation(this, "health_history_chunk_id") }};
    delete from {{ registry }}
    {%- if window_start is not none %}
    where month_start >= date_trunc('month', date '{{ window_start }}')
    {%- endif %}
{%- endmacro %}

{#- Post-hook of int_customer_health_scored, in the same transaction: a chunk for each
    month without one (those just rescored, and new months). The pre-hook forgets a run of
    months up to the newest, so those are the months after the newest one registered. The
    publish drops the chunks no registry row and no view names any more
    (publish/history_chunks.py). -#}
{% macro write_health_history_chunks(columns) -%}
    {%- set registry = health_history_relation(this, "health_history_chunks") -%}
    do $chunks$
    declare
        chunk_schema constant text := '{{ this.schema }}';
        month_start date;
        next_month date;
        chunk_table text;
    begin
        for month_start in
            select distinct date_trunc('month', health_date)::date
            from {{ this }}
            where health_date >= (
                select coalesce(max(registered.month_start) + interval '1 month', '-infinity')
                from {{ registry }} as registered
            )
            order by 1
        loop
            next_month := month_start + interval '1 month';
            chunk_table := format(
                'health_history_%s_%s',
                to_char(month_start, 'YYYY_MM'),
                nextval('{{ health_history_relation(this, "health_history_chunk_id") }}')
            );
            execute format(
                'create table %I.%I as select {{ columns.keys() | join(", ") }} from {{ this }}'
                ' where health_date >= %L and health_date < %L',
                chunk_schema, chunk_table, month_start, next_month
            );
            execute format(
                'alter table %I.%I add primary key (customer_id, health_date),'
                ' alter column health_score set not null,'
                ' alter column health_band set not null,'
                ' add constraint health_score_0_to_100 check (health_score between 0 and 100),'
                ' add constraint health_band_known check'
                ' (health_band in (''green'', ''yellow'', ''red'')),'
                ' add constraint within_month check (health_date >= %L and health_date < %L)',
                chunk_schema, chunk_table, month_start, next_month
            );
            -- Statistics now: the marts read the chunk within minutes, before autovacuum
            -- would analyze it, and plan the history's joins on them.
            execute format('analyze %I.%I', chunk_schema, chunk_table);
            insert into {{ registry }} (month_start, chunk_table)
            values (month_start, chunk_table);
        end loop;
    end
    $chunks$
{%- endmacro %}

{#- The current chunks of `scored`'s history as relations, oldest month first, for the
    published view; none before the first scoring (or while only parsing). -#}
{% macro health_history_chunk_tables(scored) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set registry = health_history_relation(scored, "health_history_chunks") -%}
    {#- Not adapter.get_relation: its cache predates the hook that created the registry. -#}
    {%- set found = run_query("select to_regclass('" ~ registry ~ "')").columns[0].values()[0] -%}
    {%- if found is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set chunk_tables = run_query(
        "select chunk_table from " ~ registry ~ " order by month_start").columns[0].values() -%}
    {%- set relations = [] -%}
    {%- for chunk_table in chunk_tables -%}
        {%- do relations.append(health_history_relation(scored, chunk_table)) -%}
    {%- endfor -%}
    {{ return(relations) }}
{%- endmacro %}
