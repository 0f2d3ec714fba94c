"""A tiny OpenID Connect provider (django-oauth-toolkit with OIDC on), run as a separate process
by the single sign-on tests: `python -m tests.oidc_provider.serve` (see serve.py)."""
