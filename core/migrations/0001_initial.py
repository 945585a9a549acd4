"""Event moves from campaigns to core by state only: the table (campaigns_event) and its rows stay."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def rename_content_type(apps, schema_editor):
    """Keep the Event content type (and so its permissions) under its new app label."""
    content_type = apps.get_model("contenttypes", "ContentType")
    if not content_type.objects.filter(app_label="core", model="event").exists():
        content_type.objects.filter(app_label="campaigns", model="event").update(app_label="core")


def restore_content_type(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    if not content_type.objects.filter(app_label="campaigns", model="event").exists():
        content_type.objects.filter(app_label="core", model="event").update(app_label="campaigns")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        migrations.swappable_dependency(settings.MSPROC_EVENT_CAMPAIGN_MODEL),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Event',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('object_id', models.PositiveBigIntegerField()),
                        ('object_repr', models.CharField(max_length=200)),
                        ('verb', models.CharField(max_length=64)),
                        ('from_status', models.CharField(blank=True, max_length=16)),
                        ('to_status', models.CharField(blank=True, max_length=16)),
                        ('comment', models.TextField(blank=True)),
                        ('created', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('campaign', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='events', to=settings.MSPROC_EVENT_CAMPAIGN_MODEL)),
                        ('content_type', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, to='contenttypes.contenttype')),
                    ],
                    options={
                        'db_table': 'campaigns_event',
                        'ordering': ['-created', '-id'],
                        'indexes': [models.Index(fields=['content_type', 'object_id'], name='campaigns_e_content_a5fe83_idx'), models.Index(fields=['campaign', '-created'], name='campaigns_e_campaig_a5425a_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(rename_content_type, restore_content_type),
    ]
