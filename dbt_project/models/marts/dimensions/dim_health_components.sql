-- One row per health score component: its weight in the score and the neutral score it
-- takes without data (health_score_weights seed), published so BI can explain a score.
select
    component::text as component,
    weight::numeric as weight_ratio,
    neutral_score::numeric as neutral_score
from {{ ref('health_score_weights') }}
