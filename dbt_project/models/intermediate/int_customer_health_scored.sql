-- One row per customer active on the night being built: the weighted total of the health
-- components (weights from the seed), its band (thresholds from the seed) and the
-- component that pulls the score down most.
with components as (
    select * from {{ ref('int_customer_health_components') }}
),

weights as (
    select
        max(weight) filter (where component = 'usage_depth') as usage_depth,
        max(weight) filter (where component = 'usage_trend') as usage_trend,
        max(weight) filter (where component = 'adoption') as adoption,
        max(weight) filter (where component = 'sentiment') as sentiment,
        max(weight) filter (where component = 'support') as support,
        max(weight) filter (where component = 'billing') as billing
    from {{ ref('health_score_weights') }}
),

bands as (
    select * from {{ ref('health_bands') }}
),

scored as (
    select
        components.*,
        round(
            components.usage_depth_score * weights.usage_depth
            + components.usage_trend_score * weights.usage_trend
            + components.adoption_score * weights.adoption
            + components.sentiment_score * weights.sentiment
            + components.support_score * weights.support
            + components.billing_score * weights.billing,
            1
        ) as health_score
    from components
    cross join weights
),

banded as (
    select distinct on (scored.customer_id)
        scored.customer_id,
        bands.band as health_band
    from scored
    inner join bands on scored.health_score >= bands.min_score
    order by scored.customer_id asc, bands.min_score desc
),

weakest as (
    select distinct on (scored.customer_id)
        scored.customer_id,
        component_scores.component as weakest_component
    from scored
    cross join
        lateral (
            values
            ('usage_depth', scored.usage_depth_score),
            ('usage_trend', scored.usage_trend_score),
            ('adoption', scored.adoption_score),
            ('sentiment', scored.sentiment_score),
            ('support', scored.support_score),
            ('billing', scored.billing_score)
        ) as component_scores (component, score)
    order by scored.customer_id asc, component_scores.score asc, component_scores.component asc
)

select
    scored.*,
    banded.health_band,
    weakest.weakest_component
from scored
inner join banded on scored.customer_id = banded.customer_id
inner join weakest on scored.customer_id = weakest.customer_id
