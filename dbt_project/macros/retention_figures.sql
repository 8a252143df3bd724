{#- The published columns of a net revenue retention row from its summed MRR (starting,
    expansion, contraction, churn, ending, gained and lost booked) and customer counts:
    the cells and the whole-base total compute every figure the same way. -#}
{% macro retention_columns() -%}
    starting_customers::bigint as starting_customers,
    (starting_customers < {{ var('nrr_min_sample_customers') | int }})::boolean as is_small_sample,
    retained_customers::bigint as retained_customers,
    starting_mrr::numeric(14, 2) as starting_mrr_usd,
    expansion_mrr::numeric(14, 2) as expansion_mrr_usd,
    contraction_mrr::numeric(14, 2) as contraction_mrr_usd,
    churn_mrr::numeric(14, 2) as churn_mrr_usd,
    ending_mrr::numeric(14, 2) as ending_mrr_usd,
    round(ending_mrr / starting_mrr, 4)::numeric as net_revenue_retention_ratio,
    round((starting_mrr - contraction_mrr - churn_mrr) / starting_mrr, 4)::numeric
        as gross_revenue_retention_ratio,
    round(expansion_mrr / starting_mrr, 4)::numeric as expansion_ratio,
    round(gained_booked_mrr / nullif(lost_booked_mrr, 0), 2)::numeric as quick_ratio
{%- endmacro %}
