"""Browser tests drive Playwright's sync API, which keeps an event loop running in the test
thread; Django refuses ORM calls from such a thread unless told it is safe. It is here: the
loop only talks to Chromium, and the ORM calls are ordinary synchronous test code."""

import os

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
