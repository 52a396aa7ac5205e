"""Post-incident reviews: opened when an incident resolves, drafted from its timeline,
edited, published (with revisions), exported (Markdown, JSON, PDF; bulk as a zip), and the
metrics managers read across incidents. The models are part of the incidents app."""
