"""Self-contained HTML reports, readable offline as a CI artifact: a sweep, a comparison of
two run sets with the gate's verdicts, and benchmark histories with their change points.

matplotlib (Agg, no display) draws the plots as PNGs (`charts`); Jinja2 templates
(`templates/`) lay them out, and `html.write_report` embeds every PNG in the page as a
data: URI and writes it beside the page as a file too. `peoplenet-report` is the command.
"""
