"""Documents generated from stored records: the validation report, the model card and the EU AI
Act Annex IV technical documentation pack of one model version, as HTML, Markdown or PDF.

Nothing in a document is typed by hand: ``records`` gathers what the store holds about the
version, ``evidence`` reads gate evidence into tables and curves, ``figures`` draws plots from
that evidence only, ``regulation`` maps the Annex IV points and the model-risk pillars to the
records that answer them, and ``render`` fills the Jinja templates under ``templates/``.

Example::

    paths = render_documents(ctx, parse_ref("credit-scoring@1"), Path("reports"))
"""
