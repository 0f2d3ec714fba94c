"""Run the test provider: an RS256 key generated at start, a SQLite database migrated, one
confidential client for the portal, the users given, then Django's development server.

    python -m tests.oidc_provider.serve --dir /tmp/x --port 18280 \\
        --client-id portal --client-secret s3cret \\
        --redirect-uri http://localhost:8000/oidc/callback/ --post-logout-uri http://localhost:8000/login/ \\
        --user 'sam:password:Sam:Sso:sam@corp.example:Portal Support,Other group'
"""

import argparse
import os
import sys
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=18280)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--post-logout-uri", required=True)
    parser.add_argument("--user", action="append", default=[], help="username:password:given:family:email:group,group")
    args = parser.parse_args(argv)

    data = Path(args.dir)
    data.mkdir(parents=True, exist_ok=True)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (data / "rsa.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.environ["OIDC_PROVIDER_DIR"] = str(data)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0, interactive=False)
    for spec in args.user:
        username, password, given, family, email, groups = (spec.split(":") + [""] * 6)[:6]
        user = User.objects.create_user(username, email, password, first_name=given, last_name=family)
        for name in filter(None, groups.split(",")):
            user.groups.add(Group.objects.get_or_create(name=name)[0])
    Application.objects.create(
        name="MOF Portal",
        client_id=args.client_id,
        client_secret=args.client_secret,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=args.redirect_uri,
        post_logout_redirect_uris=args.post_logout_uri,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    print(f"provider ready on 127.0.0.1:{args.port}", flush=True)
    call_command("runserver", f"127.0.0.1:{args.port}", use_reloader=False, use_threading=True, skip_checks=True)


if __name__ == "__main__":
    sys.exit(main())
