import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mof.settings")
application = get_wsgi_application()

from mof.config import require_base_url, require_secret_key

require_secret_key()
require_base_url()

# Everything loaded so far (Django, the apps, the URL conf) lives as long as the process:
# moving it out of the garbage collector's generations spares every full collection a
# walk over it. Measured on the month schedule (10,000 items): 644 -> 496 ms per request.
import gc

gc.collect()
gc.freeze()
