"""Unmanaged models over t_order and t_shop_setting (the tables exist; no migrations)."""

from django.db import models


class Order(models.Model):
    order_id = models.BigAutoField(primary_key=True)
    user_id = models.BigIntegerField()
    status = models.CharField(max_length=16, default="new")
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    class Meta:
        app_label = "django_matrix"
        db_table = "t_order"
        managed = False


class ShopSetting(models.Model):
    name = models.CharField(max_length=64, primary_key=True)
    value = models.CharField(max_length=255)

    class Meta:
        app_label = "django_matrix"
        db_table = "t_shop_setting"
        managed = False
