# A movement's data ids compressed with lz4 on PostgreSQL, as campaigns 0010 does for plans and groups.

from django.db import migrations

from core.bulk import compress_with_lz4


def _lz4(apps, schema_editor):
    compress_with_lz4(schema_editor, "transfers_movement", ["data_ids"])


def _default(apps, schema_editor):
    compress_with_lz4(schema_editor, "transfers_movement", ["data_ids"], undo=True)


class Migration(migrations.Migration):

    dependencies = [
        ('transfers', '0003_movement_lease'),
    ]

    operations = [migrations.RunPython(_lz4, _default)]
