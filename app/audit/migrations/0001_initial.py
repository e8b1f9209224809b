"""AuditEvent moved here from the clinical app: the table (clinical_auditevent) and its rows stay
exactly as they are; only Django's record of which app owns the model changes."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("clinical", "0007_study_worklist_priority"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ("username", models.CharField(blank=True, help_text="kept if the account is deleted", max_length=150)),
                        ("action", models.CharField(db_index=True, max_length=20)),
                        ("object_type", models.CharField(blank=True, max_length=40)),
                        ("object_id", models.CharField(blank=True, max_length=64)),
                        ("summary", models.CharField(max_length=300)),
                        ("detail", models.JSONField(blank=True, default=dict)),
                        ("user", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={"ordering": ["-at"], "db_table": "clinical_auditevent"},
                ),
            ],
            database_operations=[],
        ),
    ]
