# The JSON columns that hold a campaign's data ids compressed with lz4 on PostgreSQL (core.bulk.compress_with_lz4):
# storing a data-release plan spent most of its database time compressing them with the default pglz.

from django.db import migrations

from core.bulk import compress_with_lz4

COLUMNS = {"campaigns_campaign": ["plan"], "campaigns_group": ["data_ids"]}


def _lz4(apps, schema_editor):
    for table, columns in COLUMNS.items():
        compress_with_lz4(schema_editor, table, columns)


def _default(apps, schema_editor):
    for table, columns in COLUMNS.items():
        compress_with_lz4(schema_editor, table, columns, undo=True)


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0009_step_query_constraint'),
    ]

    operations = [migrations.RunPython(_lz4, _default)]
