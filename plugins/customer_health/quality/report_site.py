"""The quality report of one gate run: a single static HTML page that reads the same offline.

GX's Data Docs are not used for this: their pages load jQuery, Bootstrap, bootstrap-table,
Vega and Font Awesome from public CDNs (without them the index lists no validation at all) and
every page asks a GX bucket for its logo with the project's context id in the URL. No site
builder setting turns the logo off, and most of those libraries are in no package installed
here, so they could not be served locally either. This page is written from the checkpoint's
own results instead: one table of the validations the checkpoint ran, then every expectation
of each, with the failing rows' count and a few of their values. It holds no script, loads
nothing, and its Content-Security-Policy forbids loading anything, so opening it never makes a
request: the product talks to the warehouse and its alert targets only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from customer_health.quality.gates import ExpectationOutcome, GateResult

REPORT_NAME = "quality_report.html"

# Inline styles only: `default-src 'none'` blocks scripts, images, fonts and stylesheets.
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2328; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
td.number { text-align: right; }
.passed { color: #1a7f37; font-weight: 600; }
.failed { color: #cf222e; font-weight: 600; }
code { font-size: 0.9em; word-break: break-all; }
"""


def write_report(gate: GateResult, schema: str, run_id: str) -> None:
    """Write the page to ``gate.report``: what `customer-health summary` and a failed gate's
    message point a person to."""
    gate.report.parent.mkdir(parents=True, exist_ok=True)
    gate.report.write_text(render_report(gate, schema, run_id), encoding="utf-8")


def render_report(gate: GateResult, schema: str, run_id: str) -> str:
    """The whole page as a string: an overview of the validations, then one section each."""
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    sections = "\n".join(
        _validation_section(suite, _of_suite(gate, suite)) for suite in gate.suites
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Quality report: {escape(gate.checkpoint)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Quality report: checkpoint {escape(gate.checkpoint)}</h1>
<p>Schema <code>{escape(schema)}</code>, run <code>{escape(run_id)}</code>, written {written}.
Result: {_verdict(gate.success)}; {len(gate.outcomes) - len(gate.failures)} of
{len(gate.outcomes)} expectations passed.</p>
<h2>Validations</h2>
<table id="validations">
<thead><tr><th>suite</th><th>expectations</th><th>failed</th><th>result</th></tr></thead>
<tbody>
{"".join(_overview_row(suite, _of_suite(gate, suite)) for suite in gate.suites)}
</tbody>
</table>
{sections}
</body>
</html>
"""


def _of_suite(gate: GateResult, suite: str) -> list[ExpectationOutcome]:
    return [outcome for outcome in gate.outcomes if outcome.suite == suite]


def _verdict(success: bool) -> str:
    return '<span class="passed">passed</span>' if success else '<span class="failed">failed</span>'


def _overview_row(suite: str, outcomes: list[ExpectationOutcome]) -> str:
    failed = sum(not outcome.success for outcome in outcomes)
    return (
        f'<tr class="validation"><td><a href="#{escape(suite)}">{escape(suite)}</a></td>'
        f'<td class="number">{len(outcomes)}</td><td class="number">{failed}</td>'
        f"<td>{_verdict(failed == 0)}</td></tr>\n"
    )


def _validation_section(suite: str, outcomes: list[ExpectationOutcome]) -> str:
    rows = "".join(_expectation_row(outcome) for outcome in outcomes)
    return (
        f'<h2 id="{escape(suite)}">{escape(suite)}</h2>\n<table>\n<thead><tr><th>expectation</th>'
        "<th>column</th><th>parameters</th><th>result</th><th>unexpected rows</th>"
        "<th>sample or error</th>"
        f"</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>"
    )


def _expectation_row(outcome: ExpectationOutcome) -> str:
    count = "" if outcome.unexpected_count is None else f"{outcome.unexpected_count:,}"
    detail = outcome.error or ", ".join(str(value) for value in outcome.sample)
    parameters = ", ".join(f"{name}={value}" for name, value in outcome.parameters.items())
    return (
        f"<tr><td>{escape(outcome.expectation)}</td><td>{escape(outcome.column or '')}</td>"
        f"<td><code>{escape(parameters)}</code></td>"
        f'<td>{_verdict(outcome.success)}</td><td class="number">{count}</td>'
        f"<td><code>{escape(detail)}</code></td></tr>\n"
    )
