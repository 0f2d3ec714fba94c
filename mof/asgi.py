import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mof.settings")
application = get_asgi_application()

from mof.config import require_base_url, require_secret_key

require_secret_key()
require_base_url()
