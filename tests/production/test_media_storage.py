"""Media on S3-compatible object storage (MEDIA_S3_BUCKET, django-storages) against a real local
S3-protocol server (moto's server mode): a signature and a photo saved by one web process are
served by another that shares nothing with it but the database and the bucket."""

import base64
import json
from pathlib import Path

import pytest

from .conftest import run_script
from .servers import MotoServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BUCKET = "dms-media-test"
JPEG = b"\xff\xd8\xff\xe0" + b"photo-bytes " * 200 + b"\xff\xd9"

WRITE = """
import base64, json, os
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from workorders.models import Approval, Photo, RepairOrder

args = json.loads(os.environ["DMS_TEST_ARGS"])
client = Client()
client.force_login(get_user_model().objects.get(pk=args["advisor"]))
response = client.post(
    f"/api/v1/repair-orders/{args['ro']}/authorize/",
    {
        "channel": "signature",
        "signature": "data:image/png;base64," + args["png"],
        "promised_at": args["promised_at"],
    },
    content_type="application/json",
)
assert response.status_code == 200, response.content
photo = Photo.objects.create(
    repair_order=RepairOrder.objects.get(pk=args["ro"]),
    panel="front_bumper",
    image=ContentFile(base64.b64decode(args["jpeg"]), name="bumper.jpg"),
)
approval = Approval.objects.filter(repair_order_id=args["ro"]).exclude(signature="").get()
result = {
    "storage": type(default_storage._wrapped).__name__,
    "photo": photo.pk,
    "photo_name": photo.image.name,
    "approval": approval.pk,
    "signature_name": approval.signature.name,
}
"""

READ = """
import base64, json, os
from django.contrib.auth import get_user_model
from django.test import Client

args = json.loads(os.environ["DMS_TEST_ARGS"])
client = Client()
client.force_login(get_user_model().objects.get(pk=args["advisor"]))
result = {}
for key, url in args["urls"].items():
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    result[key] = [response.status_code, base64.b64encode(body).decode()]
"""


@pytest.fixture
def moto(tmp_path):
    server = MotoServer(tmp_path).start()
    yield server
    server.stop()


def test_media_saved_by_one_web_process_is_served_by_another(transactional_db, tmp_path, moto):
    from datetime import timedelta

    import boto3
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from workorders.tests.factories import PNG_1PX, ro_in_state, staff_for

    if not settings.HAVE_POSTGRES:
        pytest.skip("needs Postgres")
    s3 = boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET)
    ro = ro_in_state("draft")
    advisor = staff_for(ro.site)["advisor"]
    db = connection.settings_dict
    common = {
        "DJANGO_SETTINGS_MODULE": "dms.settings.test",
        "DMS_TEST_RUN_ID": settings.RUN_ID,
        "DMS_TEST_DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "MEDIA_S3_BUCKET": BUCKET,
        "MEDIA_S3_ENDPOINT_URL": moto.url,
        "MEDIA_S3_REGION": "us-east-1",
        "MEDIA_S3_PREFIX": "media",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    args = {
        "ro": ro.pk,
        "advisor": advisor.pk,
        "png": base64.b64encode(PNG_1PX).decode(),
        "jpeg": base64.b64encode(JPEG).decode(),
        "promised_at": (timezone.now() + timedelta(hours=5)).isoformat(),
    }
    media_a, media_b = tmp_path / "media-a", tmp_path / "media-b"
    written = run_script(
        WRITE, {**common, "MEDIA_ROOT": str(media_a), "DMS_TEST_ARGS": json.dumps(args)}
    )
    assert written["storage"] == "S3Storage"

    # the files are objects in the bucket, not files on either process's disk
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert f"media/{written['photo_name']}" in keys
    assert f"media/{written['signature_name']}" in keys
    assert not any(Path(tmp_path).glob("media-*/**/*.*"))

    urls = {
        "photo": f"/ro/photo/{written['photo']}/",
        "signature": f"/ro/signature/{written['approval']}/",
        "media": f"/media/{written['photo_name']}",
    }
    served = run_script(
        READ,
        {**common, "MEDIA_ROOT": str(media_b), "DMS_TEST_ARGS": json.dumps({**args, "urls": urls})},
    )
    for key, expected in (("photo", JPEG), ("signature", PNG_1PX), ("media", JPEG)):
        status, body = served[key]
        assert status == 200, key
        assert base64.b64decode(body) == expected, key
