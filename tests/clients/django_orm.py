"""The client-matrix scenario (README.md) through the Django 5.2 ORM, default settings
(django.db.backends.mysql over mysqlclient).

Usage: django_orm.py HOST PORT USER PASSWORD DATABASE TAG
"""

import os
import sys
from decimal import Decimal

host, port, user, password, database, tag = sys.argv[1:7]
tag = int(tag)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": database,
            "USER": user,
            "PASSWORD": password,
            "HOST": host,
            "PORT": port,
        }
    },
    INSTALLED_APPS=["django_matrix"],
    USE_TZ=False,
)
django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import Count, Max, Sum  # noqa: E402
from django_matrix.models import Order, ShopSetting  # noqa: E402

connection.ensure_connection()
print("connected")
print(f"mariadb: {connection.mysql_is_mariadb}")

o = Order.objects.get(pk=1037)
print(f"point: {o.order_id}|{o.user_id}|{o.status}|{o.amount}")
for row in (
    Order.objects.filter(user_id__lt=100)
    .values("status")
    .annotate(n=Count("order_id"), total=Sum("amount"))
    .order_by("status")
):
    print(f"scatter: {row['status']}|{row['n']}|{row['total']}")
print("param: " + ",".join(str(a) for a in Order.objects.filter(user_id=8).order_by("order_id").values_list("amount", flat=True)))

# create: the generated key comes back.
created = Order.objects.create(user_id=tag, status="new", amount=Decimal("2.50"))
print(f"generated key: {'yes' if created.pk and created.pk > 0 else 'no'}")
again = Order.objects.get(pk=created.pk)
print(f"found by key: {again.status}|{again.amount}")

# bulk_create: each object gets its own key, the one its row has.
batch = Order.objects.bulk_create(
    [Order(user_id=tag, status=f"bulk{n}", amount=Decimal(f"{n}.25")) for n in range(1, 6)]
)
ids = [b.pk for b in batch]
print(f"bulk ids: {'distinct and positive' if len(set(ids)) == 5 and all(i and i > 0 for i in ids) else ids}")
matches = all(Order.objects.get(pk=b.pk).status == b.status for b in batch)
print(f"each id finds its own row: {'yes' if matches else 'no'}")

# Nested atomic blocks: the inner one rolled back to its savepoint.
with transaction.atomic():
    Order.objects.create(user_id=tag, status="outer", amount=Decimal("1.00"))
    try:
        with transaction.atomic():
            Order.objects.create(user_id=tag, status="inner", amount=Decimal("1.00"))
            raise RuntimeError("roll the inner block back")
    except RuntimeError:
        pass
print("statuses: " + ",".join(Order.objects.filter(user_id=tag).order_by("status").values_list("status", flat=True).distinct()))

# order_by a field that is not selected.
print("by amount: " + ",".join(Order.objects.filter(user_id=tag).order_by("-amount", "status").values_list("status", flat=True)))
agg = Order.objects.filter(user_id=tag).aggregate(n=Count("order_id"), top=Max("amount"), total=Sum("amount"))
print(f"aggregate: {agg['n']}|{agg['top']}|{agg['total']}")
print(f"exists: {Order.objects.filter(user_id=tag, status='inner').exists()}")
updated = Order.objects.filter(user_id=tag, status__startswith="bulk").update(status="done")
print(f"updated: {updated}")
print(f"setting: {ShopSetting.objects.get(pk='shop_name').value}")

deleted, _ = Order.objects.filter(user_id=tag).delete()
print(f"deleted: {deleted}")
print("done")
